"""precision: auto, and the losses staying in float32 under bf16 autocast."""

import pytest
import torch

from solo_coss.core import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss
from solo_coss.core.precision import float32_loss
from solo_coss.hosts.standalone.precision import cpu_has_native_bf16, resolve_precision
from solo_coss.methods.simclr import multiview_nt_xent


def test_auto_resolves_from_the_cpu_flags(monkeypatch):
    assert cpu_has_native_bf16("flags\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    assert not cpu_has_native_bf16("flags\t: fpu sse avx2\n")
    monkeypatch.setattr("solo_coss.hosts.standalone.precision.cpu_has_native_bf16", lambda cpuinfo=None: True)
    assert resolve_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setattr("solo_coss.hosts.standalone.precision.cpu_has_native_bf16", lambda cpuinfo=None: False)
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision("16-mixed", "cpu") == "16-mixed" and resolve_precision(32, "cpu") == 32


def inputs():
    g = torch.Generator().manual_seed(0)
    # bf16-representable values, so both computations start from the same numbers
    return (torch.randn(6, 9, 32, generator=g).bfloat16().float(), torch.randn(6, 32, generator=g).bfloat16().float())


@pytest.mark.parametrize("loss", [
    local_global_byol_loss,
    lambda a, b: local_global_infonce_loss(a, b, 0.1),
    lambda a, b: local_global_dino_loss(a, b, torch.zeros(1, 32), 0.1, 0.04),
    lambda a, b: multiview_nt_xent([b, b.flip(0)], 0.1),
])
def test_losses_compute_in_float32_under_bf16_autocast(loss):
    a, b = inputs()
    reference = loss(a, b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(a.bfloat16(), b.bfloat16())
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(reference.item(), rel=1e-6)


def test_the_wrapper_is_what_keeps_float32():
    """Without float32_loss an einsum under autocast runs in bf16 and the result moves."""
    a, b = inputs()

    def raw(x, y):
        return torch.einsum("bnd,bd->bn", x, y).mean()

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert raw(a, b).dtype == torch.bfloat16
        assert float32_loss(raw)(a, b).dtype == torch.float32


def test_evaluation_forwards_in_the_runs_precision():
    """A bf16 run is evaluated under bf16 autocast with a channels_last backbone; a fp32 run in fp32."""
    from solo_coss.backbones import build_backbone
    from solo_coss.experiments.evaluation import forward_precision

    torch.manual_seed(0)
    backbone = build_backbone("rf29_resnet18", widths=[8, 16, 32, 64]).eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad(), forward_precision(backbone, {"precision": 32}):
        fp32 = backbone(x)
    assert fp32.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
    with torch.no_grad(), forward_precision(backbone, {"precision": "bf16-mixed"}):
        assert torch.is_autocast_enabled("cpu")
        bf16 = backbone(x)
    assert backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert bf16.dtype == torch.bfloat16
    assert torch.nn.functional.cosine_similarity(bf16.float(), fp32).min() > 0.99

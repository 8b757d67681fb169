"""precision: auto, and the losses staying in float32 under bf16 autocast."""

from pathlib import Path

import pytest
import torch

from solo_coss.core import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss
from solo_coss.core.precision import float32_loss
from solo_coss.hosts.standalone.precision import bf16_blocker, cpu_has_native_bf16, resolve_precision
from solo_coss.methods.simclr import multiview_nt_xent


def test_auto_resolves_from_the_cpu_flags(monkeypatch):
    amx = "flags\t: fpu sse avx512f avx512_bf16 amx_tile\n"
    assert cpu_has_native_bf16(amx, capability="AVX512", env={})
    assert not cpu_has_native_bf16("flags\t: fpu sse avx2\n", capability="AVX2", env={})
    monkeypatch.setattr("solo_coss.hosts.standalone.precision.bf16_blocker", lambda *a, **k: None)
    assert resolve_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setattr("solo_coss.hosts.standalone.precision.bf16_blocker", lambda *a, **k: "no bf16 flag")
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision("16-mixed", "cpu") == "16-mixed" and resolve_precision(32, "cpu") == 32


def test_an_emulated_avx2_cpu_has_no_native_bf16():
    """ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA capping a bf16 CPU below bf16 is what an AVX2-only CPU looks
    like to torch; the reason names the cap."""
    amx = "flags\t: avx2 avx512f avx512_bf16 amx_bf16\n"
    assert "ATEN_CPU_CAPABILITY" in bf16_blocker(amx, capability="AVX2", env={})
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in bf16_blocker(
        amx, capability="AVX512", env={"ONEDNN_MAX_CPU_ISA": "AVX2"}
    )
    assert bf16_blocker(amx, capability="AVX512", env={"ONEDNN_MAX_CPU_ISA": "avx512_core_amx"}) is None
    assert "avx512_bf16" in bf16_blocker("flags\t: avx2\n", capability="AVX2", env={})


@pytest.mark.parametrize("blocker, channels_last, expected", [
    (None, True, ["bf16-mixed", "channels_last"]),
    ("no bf16 flag", True, ["fp32", "channels_last", "no bf16 flag"]),
    ("no bf16 flag", False, ["fp32", "NCHW", "disable_channel_last: true"]),
])
def test_auto_says_what_it_chose_and_why(monkeypatch, caplog, blocker, channels_last, expected):
    monkeypatch.setattr("solo_coss.hosts.standalone.precision.bf16_blocker", lambda *a, **k: blocker)
    with caplog.at_level("INFO", logger="solo_coss.hosts.standalone.precision"):
        resolve_precision("auto", "cpu", channels_last=channels_last)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and all(word in lines[0] for word in expected), lines


def test_the_config_passes_its_layout_to_auto(monkeypatch, caplog):
    from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config

    monkeypatch.setattr("solo_coss.hosts.standalone.precision.bf16_blocker", lambda *a, **k: "no bf16 flag")
    folder = Path(__file__).resolve().parents[1] / "scripts" / "pretrain" / "fashion-mnist"
    with caplog.at_level("INFO", logger="solo_coss.hosts.standalone.precision"):
        cfg = resolve_pretrain_config(
            load_config(str(folder), "byol.yaml", ["+performance.disable_channel_last=true"])
        )
    assert cfg["precision"] == "32-true" and "NCHW" in caplog.records[-1].getMessage()


def inputs():
    g = torch.Generator().manual_seed(0)
    # bf16-representable values, so both computations start from the same numbers
    return (
        torch.randn(6, 9, 32, generator=g).bfloat16().float(),
        torch.randn(6, 32, generator=g).bfloat16().float(),
    )


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

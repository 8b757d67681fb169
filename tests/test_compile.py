"""performance.compile: validated at config time, applied to the training loss, refused by the solo-learn
host."""

from pathlib import Path

import pytest
import torch

from solo_coss.hosts.solo_learn.runner import refuse_standalone_only_keys
from solo_coss.hosts.standalone.config import compile_mode, load_config, resolve_pretrain_config
from solo_coss.hosts.standalone.module import PretrainModule

FMNIST_CONFIGS = str(Path(__file__).resolve().parents[1] / "scripts" / "pretrain" / "fashion-mnist")
TINY = [
    "backbone.kwargs.widths=[8,8,8,16]",
    "method_kwargs.proj_hidden_dim=32",
    "method_kwargs.pred_hidden_dim=32",
    "method_kwargs.proj_output_dim=16",
    "precision=32",
]


def config(*overrides):
    return resolve_pretrain_config(load_config(FMNIST_CONFIGS, "co_byol.yaml", [*TINY, *overrides]))


def test_compile_takes_a_bool_or_mode_and_refuses_others():
    assert config()["performance"]["compile"] is False
    assert compile_mode(False) is None and compile_mode(None) is None
    assert compile_mode(True) == "default" and compile_mode("max-autotune") == "max-autotune"
    with pytest.raises(ValueError, match=r"performance.compile='fast'.*reduce-overhead"):
        config("+performance.compile=fast")
    with pytest.raises(ValueError, match=r"performance.compile=1 is not valid; give true or false or one of "
                                         r"\['default', 'reduce-overhead'"):
        config("+performance.compile=1")


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(8, 3, 32, 32, generator=g) for _ in range(2)], torch.arange(8) % 10


def test_the_training_step_goes_through_torch_compile(monkeypatch):
    """The step calls torch.compile(method.training_loss, mode=...) once and uses what it returns."""
    calls = []

    def fake_compile(fn, mode):
        calls.append(mode)

        def compiled(*args):
            compiled.used += 1
            return fn(*args)
        compiled.used = 0
        fake_compile.compiled = compiled
        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    torch.manual_seed(0)
    module = PretrainModule(config("+performance.compile=max-autotune-no-cudagraphs"))
    torch.manual_seed(0)
    eager = PretrainModule(config())
    views, _ = batch()
    for _ in range(2):
        loss = module.training_loss(views, 0)["loss"]
    assert calls == ["max-autotune-no-cudagraphs"] and fake_compile.compiled.used == 2
    assert eager.compile_mode is None
    torch.testing.assert_close(loss, eager.training_loss(views, 0)["loss"])
    assert module.__getstate__()["_compiled_loss"] is None  # picklable


def test_linear_configs_refuse_compile():
    """Only pretraining compiles its step: the linear schema has no performance.compile to ignore."""
    from test_linear import BASE, PRETRAINED

    from solo_coss.hosts.standalone.linear import resolve_linear_config

    with pytest.raises(ValueError, match=r"unknown key\(s\) \['compile'\] in performance"):
        resolve_linear_config({**BASE, "performance": {"compile": True}}, PRETRAINED)


def test_the_solo_learn_host_refuses_compile():
    refuse_standalone_only_keys(["--config-path", FMNIST_CONFIGS, "--config-name", "co_byol.yaml"])
    with pytest.raises(ValueError, match="performance.compile=True is a standalone-host key"):
        refuse_standalone_only_keys([f"--config-path={FMNIST_CONFIGS}", "--config-name", "co_byol.yaml",
                                     "+performance.compile=true"])


# The ResNet family reads its map off its own stage loop; the wrapped families (ViT here; Swin, ConvNeXt,
# PoolFormer and WideResNet the same way) through forward hooks registered when the backbone is built.
BACKBONES = {"rf29_resnet18": [],
             "vit_micro": ["backbone.name=vit_micro", "~backbone.kwargs", "+backbone.kwargs.img_size=32",
                           "+backbone.kwargs.patch_size=4"]}


@pytest.mark.slow
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_compiled_step_matches_eager(backbone):
    """One step of a tiny CO-BYOL through inductor gives eager's losses and gradients up to float rounding
    (fp32, CPU; inductor fuses and reorders reductions, and the tiny BatchNorms amplify that to ~1e-3)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    runs = []
    for value in ("false", "true"):
        torch.manual_seed(0)
        module = PretrainModule(config(f"+performance.compile={value}", *BACKBONES[backbone]))
        out = module.training_loss(batch()[0], 0)
        out["loss"].backward()
        grads = torch.cat([p.grad.flatten() for p in module.method.parameters() if p.grad is not None])
        runs.append((out["loss"].item(), out["local_loss"].item(), grads))
    # inductor really compiled the loss, as one graph (a graph break would run parts of it eagerly)
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"], dict(counters)
    (loss_e, local_e, grad_e), (loss_c, local_c, grad_c) = runs
    assert loss_c == pytest.approx(loss_e, rel=1e-5) and local_c == pytest.approx(local_e, rel=1e-5)
    assert ((grad_c - grad_e).norm() / grad_e.norm()).item() < 1e-2

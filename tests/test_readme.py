"""The README's Python examples run as written."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_method_example_trains():
    block = next(b for b in python_blocks() if "build_method" in b)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    out, model = scope["out"], scope["model"]
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert out["local_loss"] > 0 and out["global_loss"] > 0
    # the local heads received gradient from the backward in the example
    local = dict(model.co_term.named_parameters())
    assert local["projector.net.0.weight"].grad.abs().sum() > 0 and local["predictor.net.0.weight"].grad.abs().sum() > 0
    assert all(p.grad is None for n, p in local.items() if n.startswith("momentum_projector"))


def test_the_backbone_example_runs():
    block = next(b for b in python_blocks() if "timm.create_model" in b)
    scope: dict = {"x": torch.rand(2, 3, 32, 32)}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["m"].receptive_field == 29

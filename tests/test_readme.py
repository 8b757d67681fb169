"""The README's Python examples run as written (the blocks marked run-by these tests)."""

import torch
from docs_blocks import run_by


def test_the_method_example_trains(request):
    (block,) = run_by(request)
    scope: dict = {}
    exec(compile(block.code, block.where, "exec"), scope)
    out, model = scope["out"], scope["model"]
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert out["local_loss"] > 0 and out["global_loss"] > 0
    torch.testing.assert_close(out["loss"].detach(), out["global_loss"] + 0.3 * out["local_loss"])
    # the local heads received gradient from the backward in the example
    local = dict(model.co_term.named_parameters())
    assert (
        local["projector.net.0.weight"].grad.abs().sum() > 0
        and local["predictor.net.0.weight"].grad.abs().sum() > 0
    )
    assert all(p.grad is None for n, p in local.items() if n.startswith("momentum_projector"))


def test_the_backbone_example_runs(request):
    (block,) = run_by(request)
    scope: dict = {}
    exec(compile(block.code, block.where, "exec"), scope)
    m, x = scope["m"], scope["x"]
    assert m.receptive_field == 29
    with torch.no_grad():
        local, pooled = m.forward_features(x), m(x)
    assert local.shape == (2, 512, 4, 4) and pooled.shape == (2, 512)
    torch.testing.assert_close(pooled, local.mean(dim=(2, 3)))  # the comment's "average pooled"

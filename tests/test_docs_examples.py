"""Python examples of docs/backbones.md and docs/data.md, run as the pages print them."""

from pathlib import Path

import pytest
import torch
from docs_blocks import ROOT, run_by


def run(block, cwd: Path | None = None, monkeypatch=None) -> dict:
    if cwd is not None:
        monkeypatch.chdir(cwd)
    scope: dict = {}
    exec(compile(block.code, block.where, "exec"), scope)
    return scope


def test_the_rf_resnet_example_runs(request):
    (block,) = run_by(request)
    scope = run(block)
    m, x = scope["m"], scope["x"]
    with torch.no_grad():
        stages, local, pooled = m.stage_features(x), m.forward_features(x), m(x)
    assert m.stage_channels == [64, 128, 256, 512] and [s.shape[1] for s in stages] == m.stage_channels
    assert local.shape == (8, 512, 8, 8) and pooled.shape == (8, 512) and m.receptive_field == 29
    torch.testing.assert_close(local, stages[-1])
    torch.testing.assert_close(pooled, local.mean(dim=(2, 3)))


def test_the_vit_example_runs(request):
    (block,) = run_by(request)
    scope = run(block)
    m, g, f = scope["m"], scope["g"], scope["f"]
    assert g.shape == (8, 192) and f.shape == (8, 192, 8, 8)
    assert m.stage_channels == [192] * 12 and m.receptive_field == "global"
    assert type(m.net).__name__ == "MoCoV3ViT"  # method="co_mocov3" gets MoCo v3's ViT, as in solo-learn
    # the class token after the final norm is the global representation, the patch tokens the local map
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        tokens = m.net.forward_features(x)
        g2, f2 = m.global_and_local(x)
    torch.testing.assert_close(g2, tokens[:, 0])
    torch.testing.assert_close(f2, tokens[:, m.net.num_prefix_tokens:].transpose(1, 2).reshape(2, 192, 8, 8))


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing"
)
def test_the_data_example_gives_views_and_labels(request, monkeypatch):
    (block,) = run_by(request)
    scope = run(block, ROOT, monkeypatch)
    views, labels = scope["views"], scope["labels"]
    assert [tuple(v.shape) for v in views] == [(256, 3, 32, 32)] * 2 and labels.shape == (256,)
    assert (
        labels.dtype == torch.int64
        and set(labels.tolist()) <= set(range(10))
        and len(set(labels.tolist())) > 5
    )
    assert not torch.equal(views[0], views[1])  # two random views of the same images
    images, eval_labels = next(iter(scope["val_loader"]))
    assert images.shape[1:] == (3, 32, 32) and eval_labels.shape == (images.shape[0],)

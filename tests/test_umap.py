"""UMAP plots: the embedding keeps clusters apart, and solo-coss-umap plots the features of a run's backbone
(here a solo-learn run) on the run's validation images. auto_umap during training: tests/test_wandb.py."""

from pathlib import Path

import pytest
import torch
from matplotlib.image import imread
from test_pretrained import solo_like_run

from solo_coss.analysis import umap_plot
from solo_coss.analysis.frozen_eval import knn_top1
from solo_coss.experiments import umap_run
from solo_coss.experiments.eval_images import eval_subset

pytest.importorskip("umap")
FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow  # umap-learn compiles with numba on its first call (~15 s of CPU)
def test_embedding_keeps_clusters_apart_and_is_reproducible():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 32, generator=g) * 5
    labels = torch.arange(240) % 3
    feats = centers[labels] + torch.randn(240, 32, generator=g)
    points = umap_plot.umap_2d(feats, seed=0)
    assert points.shape == (240, 2)
    flat = torch.as_tensor(points, dtype=torch.float32)
    assert knn_top1(flat, labels, flat, labels, k=5, distance="euclidean") > 98  # clusters stay apart in 2-D
    assert (umap_plot.umap_2d(feats, seed=0) == points).all()
    with pytest.raises(ValueError, match="n_neighbors=15"):
        umap_plot.umap_2d(feats[:10])


@pytest.mark.slow
@pytest.mark.skipif(not FMNIST.is_dir(), reason="dataset-fashion-mnist not installed")
def test_umap_cli_plots_the_run_backbone_features(tmp_path, monkeypatch, capsys):
    path, reference = solo_like_run(tmp_path / "run", dataset="fashion_mnist")
    seen = {}
    real = umap_plot.umap_2d

    def spy(feats, seed=0):
        seen["feats"] = feats
        return real(feats, seed=seed)

    monkeypatch.setattr(umap_plot, "umap_2d", spy)
    umap_run.main([str(path), "--num-images", "120", "--batch-size", "50", "--val-path", str(FMNIST)])
    png = tmp_path / "run" / "umap-val.png"
    assert f"UMAP written to {png}" in capsys.readouterr().out
    image = imread(png)
    assert image.shape[0] > 500 and image.shape[1] > 500 and image[..., :3].std() > 0.05  # a drawn figure
    # what was embedded: the solo-learn backbone's features of the first 120 validation images of the fixed
    # order
    cfg = {
        "data": {"dataset": "fashion_mnist", "val_path": str(FMNIST)},
        "augmentations": [{"crop_size": 32, "num_crops": 2}],
    }
    x = torch.stack([eval_subset(cfg, 120)[i][0] for i in range(120)])
    with torch.no_grad():
        torch.testing.assert_close(seen["feats"], reference(x), rtol=1e-4, atol=1e-5)


def test_umap_cli_errors_are_one_line(tmp_path):
    refused = r"solo-coss-umap: error: run='.*nowhere' is not valid; no checkpoint or run folder at .*nowhere"
    with pytest.raises(SystemExit, match=refused):
        umap_run.main([str(tmp_path / "nowhere")])

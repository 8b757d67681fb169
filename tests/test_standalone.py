"""The standalone host end to end on a sliver of Fashion-MNIST, and its evaluation helpers."""

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run

from solo_coss.analysis.frozen_eval import knn_top1, top1, train_linear_probe
from solo_coss.experiments.compare_plots import read_metrics
from solo_coss.hosts import cli
from solo_coss.hosts.pretrained import load_linear
from solo_coss.hosts.standalone.checkpoints import load_backbone

ROOT = Path(__file__).resolve().parents[1]
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_fmnist = pytest.mark.skipif(not Path(FMNIST).is_file(), reason="dataset-fashion-mnist not installed")
TINY = [*TINY_OVERRIDES, "log_every_n_steps=1"]


def clusters(n=200, d=16, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, d, generator=g) * 4
    labels = torch.arange(n) % k
    return centers[labels] + torch.randn(n, d, generator=g), labels


def test_linear_probe_and_knn_on_separable_data():
    xtr, ytr = clusters(seed=0)
    xva, yva = clusters(n=100, seed=0)
    xva = xva + 0.1 * torch.randn_like(xva)
    head = train_linear_probe(xtr, ytr, 4, epochs=20)
    assert top1(head, xva, yva) > 95
    assert knn_top1(xtr, ytr, xva, yva, k=5) > 95
    shuffled = ytr[torch.randperm(len(ytr), generator=torch.Generator().manual_seed(1))]
    assert knn_top1(xtr, shuffled, xva, yva, k=5) < 60  # labels carry the signal, not the code


def test_linear_probe_folds_standardisation():
    x, y = clusters()
    x = x * 100 + 7  # badly scaled features
    head = train_linear_probe(x, y, 4, epochs=10)
    assert top1(head, x, y) > 95


@needs_fmnist
def test_pretrain_checkpoint_resume_and_eval(tmp_path):
    args = ["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name", "co_byol.yaml",
            f"checkpoint.dir={tmp_path}", "max_epochs=1", *TINY]
    cli.pretrain(args)
    run = latest_run(tmp_path, "co_byol-fashion-mnist")
    ckpt = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    backbone, cfg = load_backbone(run / "last.ckpt")
    assert cfg["method"] == "co_byol"
    for name, value in backbone.state_dict().items():
        torch.testing.assert_close(value, ckpt["state_dict"][f"method.backbone.{name}"])
    metrics = read_metrics(run)
    assert metrics["train/local_loss_step"] and all(v > 0 for _, v in metrics["train/local_loss_step"])
    assert 0 <= metrics["val/online_knn_acc"][-1][1] <= 100
    steps_1 = ckpt["global_step"]

    # a longer budget is another run (max_epochs identifies it), started from this one's checkpoint
    cli.pretrain(args[:-len(TINY) - 1] + ["max_epochs=2", *TINY, f"+resume_from_checkpoint={run / 'last.ckpt'}"])
    first, run = run, latest_run(tmp_path, "co_byol-fashion-mnist")
    assert run != first and torch.load(first / "last.ckpt", weights_only=False)["global_step"] == steps_1
    assert torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 2 * steps_1

    cli.linear(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "linear.yaml",
                f"pretrained_feature_extractor={run / 'last.ckpt'}", "data.fraction=0.02", "data.val_fraction=0.05",
                "max_epochs=3", "data.num_workers=0"])
    backbone, head, _ = load_linear(run / "linear_head.pt")
    assert head.in_features == backbone.num_features and head.out_features == 10
    cli.knn(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "knn.yaml",
             f"pretrained_feature_extractor={run / 'last.ckpt'}", "data.fraction=0.02", "data.val_fraction=0.05",
             "data.num_workers=0", "knn.k=[5]"])
    knn = json.loads((run / "knn.json").read_text())
    assert 10 < knn["top1"]["k=5,T=0.07,cosine"] <= 100  # above chance (10%) even after two tiny epochs
    assert knn["checkpoint"]["checkpoint"] == str(run / "last.ckpt") and knn["checkpoint"]["global_step"] == 2 * steps_1


def test_cli_reports_bad_values_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.pretrain(["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                      "byol.yaml", "method=byool"])
    assert "method='byool' is not valid" in str(exc.value) and "\n" not in str(exc.value)


def test_load_backbone_names_missing_and_junk_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_backbone(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt"):
        load_backbone(tmp_path / "junk.ckpt")

"""The standalone host end to end on a sliver of Fashion-MNIST, and its evaluation helpers."""

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_RUN_ARGS, TINY_STEPS, TINY_VAL_IMAGES
from helpers import above_chance, latest_run

from solo_coss.analysis.frozen_eval import knn_top1, top1, train_linear_probe
from solo_coss.experiments.compare_plots import read_metrics
from solo_coss.hosts import cli
from solo_coss.hosts.pretrained import load_linear
from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.standalone.checkpoints import load_backbone

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_tiny_run_checkpoint_and_logs(trained_tiny_run):
    """The default suite's one end-to-end run (conftest): its checkpoint holds the backbone the evaluation
    tools load, and every step logged L = L_g + 0.3 L_l with a positive local term."""
    run = trained_tiny_run
    ckpt = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    backbone, cfg = load_backbone(run / "last.ckpt")
    assert cfg["method"] == "co_byol" and ckpt["global_step"] == TINY_STEPS
    for name, value in backbone.state_dict().items():
        torch.testing.assert_close(value, ckpt["state_dict"][f"method.backbone.{name}"])
    metrics = read_metrics(run)
    local, total, glob = (dict(metrics[f"train/{k}_step"]) for k in ("local_loss", "loss", "global_loss"))
    assert sorted(local) == list(range(TINY_STEPS)) and all(v > 0 for v in local.values())
    for step in local:
        assert total[step] == pytest.approx(glob[step] + 0.3 * local[step], rel=1e-5)
    # the online kNN on the validation images, 10 classes (the online classifier, 7 steps old, is not yet)
    assert metrics["val/online_knn_acc"][-1][1] > above_chance(10, TINY_VAL_IMAGES)
    assert len(metrics["val/online_linear_acc"]) == 1


def test_knn_on_the_tiny_run(tiny_run):
    cli.knn(
        [
            "--config-path",
            str(ROOT / "scripts/linear/fashion-mnist"),
            "--config-name",
            "knn.yaml",
            f"pretrained_feature_extractor={tiny_run / 'last.ckpt'}",
            "data.fraction=0.02",
            "data.val_fraction=0.05",
            "data.num_workers=0",
            "knn.k=[5]",
        ]
    )
    knn = json.loads((tiny_run / "knn.json").read_text())
    assert knn["top1"]["k=5,T=0.07,cosine"] > above_chance(10, 500)  # 500 validation images
    assert knn["checkpoint"]["checkpoint"] == str(tiny_run / "last.ckpt")
    assert knn["checkpoint"]["global_step"] == TINY_STEPS


@pytest.mark.slow
def test_training_longer_from_a_checkpoint_then_the_linear_probe(tiny_run):
    """A longer budget is another run (max_epochs identifies it), started from the tiny run's checkpoint."""
    out = tiny_run.parents[1]
    cli.pretrain([*TINY_RUN_ARGS[:-2], f"checkpoint.dir={out}", "max_epochs=2", "log_every_n_steps=1",
                  f"+resume_from_checkpoint={tiny_run / 'last.ckpt'}"])
    run = latest_run(out, "co_byol-fashion-mnist")
    assert (
        run != tiny_run
        and torch.load(tiny_run / "last.ckpt", weights_only=False)["global_step"] == TINY_STEPS
    )
    assert (
        torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 2 * TINY_STEPS
    )

    cli.linear(
        [
            "--config-path",
            str(ROOT / "scripts/linear/fashion-mnist"),
            "--config-name",
            "linear.yaml",
            f"pretrained_feature_extractor={run / 'last.ckpt'}",
            "data.fraction=0.02",
            "data.val_fraction=0.05",
            "max_epochs=3",
            "data.num_workers=0",
        ]
    )
    backbone, head, _ = load_linear(run / "linear_head.pt")
    assert head.in_features == backbone.num_features and head.out_features == 10
    assert safe_load(run / "linear_head.pt")["metrics"]["val_top1"] > above_chance(10, 500)


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

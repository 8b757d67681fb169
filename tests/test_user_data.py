"""Data a user brings, end to end through the CLI (pretrain, linear, knn): a labelled ImageFolder, a flat
folder of unlabelled images with and without a labelled val_path, the same through DALI; every folder
mixes PNG / JPEG files in modes L, RGB, RGBA and P of 20-90 px."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import above_chance, latest_run
from PIL import Image

from solo_coss.experiments.compare_plots import read_metrics
from solo_coss.hosts import cli
from solo_coss.hosts.pretrained import load_linear
from solo_coss.hosts.safe_load import safe_load

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name", "co_byol.yaml"]
EVAL = ["--config-path", str(ROOT / "scripts/linear/fashion-mnist")]
TINY = [
    "data.dataset=custom",
    "data.fraction=-1",
    "data.val_fraction=-1",
    "data.num_workers=0",
    "optimizer.batch_size=8",
    "backbone.kwargs.widths=[8,16,32,64]",
    "method_kwargs.proj_hidden_dim=32",
    "method_kwargs.pred_hidden_dim=32",
    "+enable_progress_bar=false",
    "max_epochs=1",
    "log_every_n_steps=1",
]
# (mode, format): JPEG cannot hold alpha or a palette
KINDS = [("L", "png"), ("L", "jpg"), ("RGB", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("P", "png")]
COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]  # 3 classes; also three grey levels in mode L
CLASSES = len(COLOURS)
VAL_IMAGES = 3 * 6
# The colour classes are easy: frozen features put every validation image next to its class (kNN: 100%), a
# margin no guess reaches on 18 images (3 standard errors above chance: 66.7%). The linear probe of
# solo-learn's recipe (random crops, 5 epochs of 36 images) reaches 55.6% here, which 18 images cannot tell
# from chance by such a margin: it is checked above chance only.
CHANCE = above_chance(CLASSES, VAL_IMAGES, z=3)


def scored_on_the_validation_images(accuracy: float) -> bool:
    """An accuracy over the 18 validation images is a multiple of 100 / 18."""
    return abs(accuracy * VAL_IMAGES / 100 - round(accuracy * VAL_IMAGES / 100)) < 1e-4


def write_images(folder: Path, count: int, colour: tuple, rng: np.random.Generator, offset: int = 0,
                 prefix: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        mode, fmt = KINDS[(i + offset) % len(KINDS)]
        h, w = rng.integers(20, 91, size=2)
        rgb = np.clip(np.array(colour) + rng.integers(-30, 30, (h, w, 3)), 0, 255).astype(np.uint8)
        img = Image.fromarray(rgb)
        if mode == "RGBA":
            img.putalpha(Image.fromarray(rng.integers(200, 256, (h, w)).astype(np.uint8)))
        elif mode in ("L", "P"):
            img = img.convert(mode)
        img.save(folder / f"{prefix}{i}.{fmt}")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """labelled/{train,val}/<class>/ (12 + 6 images per class) and flat/ (36 images, no class folders)."""
    root = tmp_path_factory.mktemp("user_data")
    rng = np.random.default_rng(0)
    for c, colour in enumerate(COLOURS):
        write_images(root / "labelled" / "train" / f"class{c}", 12, colour, rng)
        write_images(root / "labelled" / "val" / f"class{c}", 6, colour, rng, offset=c)
        write_images(root / "flat", 12, colour, rng, offset=c, prefix=f"c{c}_")
    return {"train": root / "labelled" / "train", "val": root / "labelled" / "val", "flat": root / "flat"}


def pretrain(out: Path, *overrides: str) -> Path:
    cli.pretrain([*PRETRAIN, f"checkpoint.dir={out}", *TINY, *overrides])
    return latest_run(out, "co_byol-fashion-mnist")


def linear_and_knn(run: Path, *overrides: str) -> tuple[float, float]:
    ckpt = f"pretrained_feature_extractor={run / 'last.ckpt'}"
    cli.linear(
        [*EVAL, "--config-name", "linear.yaml", ckpt, "max_epochs=5", "data.num_workers=0", *overrides]
    )
    cli.knn([*EVAL, "--config-name", "knn.yaml", ckpt, "knn.k=[3]", "data.num_workers=0", *overrides])
    _, head, _ = load_linear(run / "linear_head.pt")
    assert head.out_features == CLASSES
    return safe_load(run / "linear_head.pt")["metrics"]["val_top1"], \
        json.loads((run / "knn.json").read_text())["top1"]["k=3,T=0.07,cosine"]


@pytest.mark.slow
def test_labelled_folder_of_mixed_images(tmp_path, folders):
    run = pretrain(tmp_path, f"data.train_path={folders['train']}", f"data.val_path={folders['val']}")
    assert json.loads((run / "config.json").read_text())["data"]["num_classes"] == CLASSES
    assert tuple(safe_load(run / "last.ckpt")["state_dict"]["classifier.weight"].shape)[0] == CLASSES
    metrics = read_metrics(run)
    online = [metrics["val/online_linear_acc"], metrics["val/online_knn_acc"]]
    assert [len(series) for series in online] == [1, 1]  # one validation epoch
    assert all(scored_on_the_validation_images(series[0][1]) for series in online)
    linear, knn = linear_and_knn(run)
    assert knn > CHANCE and linear > 100 / CLASSES


@pytest.mark.slow
def test_unlabelled_folder_without_val_path_skips_the_probes(tmp_path, folders, caplog):
    with caplog.at_level(logging.INFO):
        run = pretrain(
            tmp_path, f"data.train_path={folders['flat']}", "data.val_path=null", "+data.no_labels=true"
        )
    assert [r.getMessage() for r in caplog.records if "no_labels" in r.getMessage()] == [
        "data.no_labels without data.val_path: no labelled images, so the online linear probe and kNN are "
        "skipped"
    ]
    state = safe_load(run / "last.ckpt")["state_dict"]
    assert "classifier.weight" not in state and any(k.startswith("method.backbone.") for k in state)
    assert not [k for k in read_metrics(run) if k.startswith("val/")]
    with pytest.raises(SystemExit, match=r"unlabelled images \(data.no_labels\).*\+data.train_path=DIR"):
        cli.linear(
            [*EVAL, "--config-name", "linear.yaml", f"pretrained_feature_extractor={run / 'last.ckpt'}"]
        )
    linear, knn = linear_and_knn(
        run, f"+data.train_path={folders['train']}", f"+data.val_path={folders['val']}"
    )
    assert knn > CHANCE and linear > 100 / CLASSES


@pytest.mark.slow
def test_unlabelled_folder_with_labelled_val_path_probes_on_it(tmp_path, folders):
    run = pretrain(tmp_path, f"data.train_path={folders['flat']}", f"data.val_path={folders['val']}",
                   "+data.no_labels=true", "max_epochs=2")
    assert "classifier.weight" not in safe_load(run / "last.ckpt")["state_dict"]
    metrics = read_metrics(run)
    # fitted on half of the 18 labelled validation images, scored on the other half, both ways
    assert [len(metrics["val/online_linear_acc"]), len(metrics["val/online_knn_acc"])] == [2, 2]
    assert all(v > CHANCE for _, v in metrics["val/online_knn_acc"] + metrics["val/online_linear_acc"])


@pytest.mark.slow
def test_dali_on_a_labelled_folder_of_mixed_images(tmp_path, folders):
    pytest.importorskip("nvidia.dali", reason="NVIDIA DALI not installed (pip install 'solo-coss[dali]')")
    run = pretrain(tmp_path, "data.format=dali", f"data.train_path={folders['train']}",
                   f"data.val_path={folders['val']}")
    assert json.loads((run / "config.json").read_text())["data"]["num_classes"] == CLASSES
    assert scored_on_the_validation_images(read_metrics(run)["val/online_linear_acc"][-1][1])
    linear, knn = linear_and_knn(run)
    assert knn > CHANCE and linear > 100 / CLASSES


def test_two_fold_scores_follow_the_labels():
    from solo_coss.hosts.standalone.val_probe import two_fold_scores

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % CLASSES
    feats = torch.randn(CLASSES, 16, generator=g)[labels] * 4 + torch.randn(60, 16, generator=g)
    linear, knn = two_fold_scores(feats, labels, CLASSES, k=5)
    assert linear > 95 and knn > 95
    shuffled = labels[torch.randperm(60, generator=g)]
    assert max(two_fold_scores(feats, shuffled, CLASSES, k=5)) < 70  # the scores come from the labels

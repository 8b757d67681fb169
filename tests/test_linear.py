"""solo-coss-linear on the standalone host follows solo-learn's linear schema: lr scaling, optimizer and
schedule keys, losses; and it learns (a trivially separable custom dataset reaches ~100%)."""

from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run
from PIL import Image

from solo_coss.hosts import cli
from solo_coss.hosts.standalone.linear import LinearModule, resolve_linear_config

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = {
    "name": "run",
    "method": "co_byol",
    "backbone": {"name": "rf29_resnet18", "kwargs": {}},
    "data": {
        "dataset": "fashion_mnist",
        "train_path": None,
        "val_path": None,
        "format": "image_folder",
        "num_large_crops": 2,
        "num_small_crops": 0,
    },
}
BASE = {"pretrained_feature_extractor": "x.ckpt", "optimizer": {"name": "sgd", "batch_size": 64, "lr": 0.3,
                                                                 "weight_decay": 0},
        "scheduler": {"name": "step", "lr_decay_steps": [6, 8]}, "max_epochs": 10}


def resolve(**changes):
    cfg = {**BASE, **changes}
    return resolve_linear_config(cfg, PRETRAINED)


def test_lr_scaled_like_solo_learn_and_defaults_filled():
    cfg = resolve(devices=[0, 1], num_nodes=2)
    assert cfg["optimizer"]["lr"] == pytest.approx(0.3 * 64 * 2 * 2 / 256)
    assert cfg["optimizer"]["kwargs"] == {"momentum": 0.9}
    assert cfg["scheduler"]["warmup_start_lr"] == 3e-5 and cfg["finetune"] is False
    assert cfg["backbone"]["name"] == "rf29_resnet18" and cfg["pretrain_method"] == "co_byol"
    assert cfg["data"]["augmentations"]["crop_size"] == 32


@pytest.mark.parametrize("changes,match", [
    ({"backbone": {"name": "resnet50"}}, "pretrained run used 'rf29_resnet18'"),
    ({"scheduler": {"name": "reduce"}}, "not supported"),
    ({"optimizer": {**BASE["optimizer"], "layer_decay": 0.65}}, "layer_decay"),
    ({"auto_augment": True}, "auto_augment"),
    ({"optimizer": {**BASE["optimizer"], "name": "lamb"}}, r"choose from \['sgd', 'lars', 'adam', 'adamw'\]"),
    ({"bogus": 1}, r"unknown key\(s\) \['bogus'\]"),
    ({"data": {"augmentations": {"crop_size": 64}}}, "custom"),
])
def test_keys_it_cannot_honour_are_errors(changes, match):
    with pytest.raises(ValueError, match=match):
        resolve(**changes)


def test_losses_follow_label_smoothing_and_mixup():
    from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

    from solo_coss.backbones import build_backbone

    def backbone():
        return build_backbone("rf29_resnet18", widths=[8, 16, 32, 64])

    smooth = LinearModule(backbone(), resolve(label_smoothing=0.1), 10)
    assert isinstance(smooth.loss_fn, LabelSmoothingCrossEntropy) and smooth.mixup is None
    mixed = LinearModule(backbone(), resolve(mixup=0.8, cutmix=1.0), 10)
    assert isinstance(mixed.loss_fn, SoftTargetCrossEntropy) and mixed.mixup is not None
    frozen = LinearModule(backbone(), resolve(), 10)
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    assert all(
        p.requires_grad for p in LinearModule(backbone(), resolve(finetune=True), 10).backbone.parameters()
    )


def colour_folder(root: Path, n: int = 24) -> None:
    """Two classes a linear classifier separates at once: reddish and bluish noisy images."""
    g = torch.Generator().manual_seed(0)
    for label, channel in (("red", 0), ("blue", 2)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            pixels = torch.rand(40, 40, 3, generator=g) * 0.4
            pixels[..., channel] += 0.6
            Image.fromarray((pixels * 255).to(torch.uint8).numpy()).save(root / label / f"{i}.png")


@pytest.mark.slow  # solo-coss-linear end to end
def test_linear_learns_a_separable_custom_dataset(tmp_path):
    colour_folder(tmp_path / "data")
    data = [
        f"data.train_path={tmp_path / 'data'}",
        f"data.val_path={tmp_path / 'data'}",
        "data.dataset=custom",
        "data.fraction=null",
        "data.val_fraction=null",
        "data.image_size=null",
    ]
    cli.pretrain(
        [
            "--config-path",
            str(ROOT / "scripts/pretrain/fashion-mnist"),
            "--config-name",
            "byol.yaml",
            f"checkpoint.dir={tmp_path}",
            *TINY_OVERRIDES,
            *data,
            "max_epochs=1",
            "optimizer.batch_size=16",
            "knn_eval.enabled=false",
        ]
    )
    run = latest_run(tmp_path, "byol-fashion-mnist")
    metrics = cli.invoke(
        "linear",
        [
            "--config-path",
            str(ROOT / "scripts/linear/fashion-mnist"),
            "--config-name",
            "linear.yaml",
            f"pretrained_feature_extractor={run}",
            "data.num_workers=0",
            "optimizer.batch_size=16",
            "optimizer.lr=4.8",
            "max_epochs=4",
            "scheduler.lr_decay_steps=[3]",
            "+data.augmentations.crop_size=32",
            f"checkpoint.dir={tmp_path / 'linear'}",
            "+enable_progress_bar=false",
        ],
    )
    assert metrics["val_acc1"] >= 90, metrics
    head = torch.load(run / "linear_head.pt", weights_only=False)
    assert head["num_classes"] == 2 and head["metrics"]["val_top1"] == metrics["val_acc1"]

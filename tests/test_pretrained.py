"""Evaluation tools read a run of either host: a solo-learn checkpoint (state under ``backbone.``, config in
``args.json`` beside it) gives the backbone solo-learn trained, with the same outputs."""

import json
from pathlib import Path

import pytest
import torch
import torchvision
from helpers import above_chance
from torch import nn

from solo_coss.hosts.pretrained import checkpoint_of, load_pretrained

ROOT = Path(__file__).resolve().parents[1]


def solo_like_run(folder: Path, dataset: str = "cifar10") -> tuple[Path, nn.Module]:
    """What solo-learn's main_pretrain leaves for a BYOL ResNet-18 on CIFAR: its torchvision ResNet with the
    CIFAR stem (3x3, stride 1, padding 2, no max-pool), under ``backbone.``, plus heads and args.json."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    net.fc = nn.Identity()
    if dataset.startswith("cifar"):
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=2, bias=False)
        net.maxpool = nn.Identity()
    for m in net.modules():  # non-trivial BatchNorm statistics, so eval-mode outputs test them too
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {f"backbone.{k}": v for k, v in net.state_dict().items()}
    state["projector.0.weight"] = torch.randn(8, 512)
    folder.mkdir(parents=True)
    path = folder / "byol-cifar10-abc123-ep=3.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "global_step": 12}, path)
    torch.save({"state_dict": state, "epoch": 1}, folder / "byol-cifar10-abc123-ep=1.ckpt")
    args = {"name": "byol-cifar10", "method": "byol", "backbone": {"name": "resnet18", "kwargs": {}},
            "data": {"dataset": dataset, "train_path": "./datasets", "val_path": "./datasets",
                     "format": "image_folder", "num_workers": 4, "num_classes": 10, "num_large_crops": 2,
                     "num_small_crops": 0, "fraction": -1, "no_labels": False},
            "augmentations": [{"crop_size": 32, "num_crops": 2}]}
    (folder / "args.json").write_text(json.dumps(args))
    return path, net.eval()


def test_solo_learn_checkpoint_gives_solo_learns_backbone(tmp_path):
    path, reference = solo_like_run(tmp_path / "run")
    backbone, cfg = load_pretrained(path)
    assert cfg["method"] == "byol" and backbone.stem[0].padding == (2, 2)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), reference(x), rtol=1e-5, atol=1e-6)


def test_run_folder_of_either_host(tmp_path):
    path, _ = solo_like_run(tmp_path / "run")
    assert checkpoint_of(tmp_path / "run") == path  # the highest epoch, not the first in name order
    (tmp_path / "standalone").mkdir()
    (tmp_path / "standalone" / "last.ckpt").write_bytes(b"")
    assert checkpoint_of(tmp_path / "standalone") == tmp_path / "standalone" / "last.ckpt"
    with pytest.raises(FileNotFoundError, match=r"no last.ckpt .* no \*-ep=N.ckpt"):
        checkpoint_of(tmp_path)


def test_missing_args_json_is_named(tmp_path):
    path, _ = solo_like_run(tmp_path / "run")
    (tmp_path / "run" / "args.json").unlink()
    with pytest.raises(FileNotFoundError, match="args.json"):
        load_pretrained(path)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing"
)
def test_knn_cli_on_a_solo_checkpoint_path_with_equals_sign(tmp_path):
    """solo-coss-knn pretrained_feature_extractor=.../name-ep=3.ckpt, unquoted, on a solo-learn run."""
    from solo_coss.hosts import cli

    path, _ = solo_like_run(tmp_path / "run", dataset="fashion_mnist")
    args = json.loads((tmp_path / "run" / "args.json").read_text())
    args["data"].update(train_path=None, val_path=None, fraction=0.005, val_fraction=0.01, num_workers=0)
    (tmp_path / "run" / "args.json").write_text(json.dumps(args))
    cli.knn(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "knn.yaml",
             f"pretrained_feature_extractor={path}", "data.fraction=0.005", "data.val_fraction=0.01",
             "data.num_workers=0", "knn.k=[5]"])
    results = json.loads((tmp_path / "run" / "knn.json").read_text())["top1"]
    # 100 validation images (val_fraction 0.01), 10 classes: a random ResNet-18's features beat guessing
    assert list(results) == ["k=5,T=0.07,cosine"] and results["k=5,T=0.07,cosine"] > above_chance(10, 100)


def test_a_solo_learn_backbone_of_another_architecture_is_named(tmp_path):
    """args.json says CIFAR (3x3 stem) but the weights are of the ImageNet stem (7x7): the mismatch is named,
    and a checkpoint missing backbone entries is refused by count."""
    path, _ = solo_like_run(tmp_path / "run")
    args = json.loads((tmp_path / "run" / "args.json").read_text())
    (tmp_path / "run" / "args.json").write_text(
        json.dumps({**args, "data": {**args["data"], "dataset": "imagenet"}})
    )
    with pytest.raises(
        ValueError,
        match=r"entry 0 does not pair: stem\.0\.weight \(64, 3, 7, 7\) here, conv1\.weight \(64, 3, 3, 3\)",
    ):
        load_pretrained(path)
    (tmp_path / "run" / "args.json").write_text(json.dumps(args))
    ckpt = torch.load(path, weights_only=True)
    del ckpt["state_dict"]["backbone.layer4.1.bn2.bias"]
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"\(backbone resnet18\): 120 state entries here but 119"):
        load_pretrained(path)


def test_state_pairing_names_the_first_pair_of_another_attribute_or_shape():
    from solo_coss.hosts.solo_learn.convert import pair_in_order

    ours = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2), "c": torch.zeros(1, 1, 4)}
    assert pair_in_order(
        ours, {"x.weight": torch.zeros(2, 3), "x.bias": torch.zeros(2), "y.c": torch.zeros(1, 4)}, "m"
    ) == {"a.weight": "x.weight", "a.bias": "x.bias", "c": "y.c"}
    with pytest.raises(
        ValueError, match=r"m: entry 1 does not pair: a\.bias \(2,\) here, x\.running_mean \(2,\)"
    ):
        pair_in_order(
            ours,
            {"x.weight": torch.zeros(2, 3), "x.running_mean": torch.zeros(2), "y.c": torch.zeros(4)},
            "m",
        )
    with pytest.raises(
        ValueError, match=r"entry 0 does not pair: a\.weight \(2, 3\) here, x\.weight \(3, 2\)"
    ):
        pair_in_order(
            ours, {"x.weight": torch.zeros(3, 2), "x.bias": torch.zeros(2), "y.c": torch.zeros(4)}, "m"
        )
    with pytest.raises(ValueError, match=r"entry 2 does not pair: c \(1, 1, 4\) here, y\.c \(1, 4\)"):
        pair_in_order(
            ours,
            {"x.weight": torch.zeros(2, 3), "x.bias": torch.zeros(2), "y.c": torch.zeros(1, 4)},
            "m",
            same_shape=True,
        )

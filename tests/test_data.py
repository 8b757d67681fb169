"""Data layer: Fashion-MNIST from the Debian files, robust ImageFolder, transforms, loaders."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import plain_pipeline
from PIL import Image

from solo_coss.data import (
    DATASETS,
    FASHION_MNIST_DIR,
    FashionMNIST,
    build_dataset,
    build_eval_dataloaders,
    build_eval_transform,
    build_pretrain_dataloader,
    build_pretrain_transform,
    dataset_stats,
)
from solo_coss.data.datasets import labelled_num_classes
from solo_coss.data.fashion_mnist import read_idx
from solo_coss.data.image_folder import CorruptImageError, load_rgb
from solo_coss.data.loaders import corrupt_count
from solo_coss.data.spec import check_data_cfg, resolve_data
from solo_coss.data.subsets import take_fraction

HAVE_FMNIST = Path(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").is_file()
needs_fmnist = pytest.mark.skipif(
    not HAVE_FMNIST,
    reason=f"Fashion-MNIST not installed in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)",
)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)




def full_pipeline(crop_size: int, num_crops: int) -> dict:
    return plain_pipeline(crop_size, num_crops, rrc={"enabled": True}, color_jitter={"prob": 0.8},
                          grayscale={"prob": 0.2}, gaussian_blur={"prob": 0.5}, solarization={"prob": 0.2},
                          equalization={"prob": 0.2}, horizontal_flip={"prob": 0.5})


# ---------------------------------------------------------------- Fashion-MNIST

@needs_fmnist
def test_fashion_mnist_sizes_classes_and_pixels():
    train, test = FashionMNIST(train=True), FashionMNIST(train=False, image_size=28)
    assert (len(train), len(test)) == (60000, 10000)
    assert sorted(set(train.targets)) == list(range(10)) and sorted(set(test.targets)) == list(range(10))
    assert np.bincount(train.targets).tolist() == [6000] * 10
    img, label = train[0]
    assert img.mode == "RGB" and img.size == (32, 32) and isinstance(label, int)
    # at native size the three channels are exactly the raw idx pixels
    raw = read_idx(Path(FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    img28, _ = test[5]
    arr = np.asarray(img28)
    assert arr.shape == (28, 28, 3)
    for c in range(3):
        np.testing.assert_array_equal(arr[..., c], raw[5])
    assert labelled_num_classes("fashion-mnist", None, train=True) == 10


@needs_fmnist
def test_fashion_mnist_through_build_dataset_and_transform():
    ds = build_dataset(
        "fashion-mnist",
        None,
        train=False,
        transform=build_eval_transform(48, MEAN, STD, False),
        image_size=48,
    )
    x, _ = ds[0]
    assert x.shape == (3, 48, 48) and x.dtype == torch.float32


def test_fashion_mnist_missing_dir_names_package_or_the_wrong_path(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    # a folder the user named: a wrong path, not a missing package
    with pytest.raises(FileNotFoundError) as err:
        FashionMNIST(root=missing)
    msg = str(err.value)
    assert f"Fashion-MNIST folder {missing} does not exist: the folder was named by data.train_path" in msg
    assert "fix the path" in msg and "apt-get" not in msg and "\n" not in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"empty/train-images-idx3-ubyte.gz not found: .*fix the path"
    ):
        FashionMNIST(root=tmp_path / "empty")
    # the package's folder
    monkeypatch.setattr("solo_coss.data.fashion_mnist.FASHION_MNIST_DIR", str(missing))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        FashionMNIST(root=missing)


def test_read_idx_roundtrip(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in data.shape)
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(header + data.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), data)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(tmp_path / "bad")


# ---------------------------------------------------------------- ImageFolder

def make_odd_folder(root: Path) -> None:
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.new("L", (20, 20), 77).save(root / "a" / "gray.png")
    rgba = Image.new("RGBA", (20, 20), (10, 20, 30, 0))  # fully transparent -> white background
    rgba.save(root / "a" / "rgba.png")
    Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)).save(root / "b" / "white16.png")
    Image.fromarray(np.full((20, 20), 32896, dtype=np.uint16)).save(root / "b" / "mid16.png")  # 128 * 257
    Image.new("RGB", (2, 3), (200, 100, 0)).save(root / "b" / "tiny.jpg", quality=100)


def test_image_folder_converts_odd_modes_to_rgb(tmp_path):
    make_odd_folder(tmp_path)
    ds = build_dataset("custom", tmp_path, train=True, transform=None)
    assert ds.classes == ["a", "b"] and len(ds) == 5
    by_name = {Path(p).name: i for i, (p, _) in enumerate(ds.samples)}
    expected = {"gray.png": (77, 77, 77), "rgba.png": (255, 255, 255), "white16.png": (255, 255, 255),
                "mid16.png": (128, 128, 128)}
    for name, rgb in expected.items():
        img, label = ds[by_name[name]]
        assert img.mode == "RGB"
        assert tuple(np.asarray(img)[5, 5]) == rgb, name
    tiny, label = ds[by_name["tiny.jpg"]]
    assert tiny.size == (2, 3) and label == 1
    assert abs(int(np.asarray(tiny)[0, 0, 0]) - 200) <= 4


def test_tiny_images_go_through_every_transform(tmp_path):
    make_odd_folder(tmp_path)
    transform = build_pretrain_transform([full_pipeline(32, 2), plain_pipeline(16, 1)], MEAN, STD)
    ds = build_dataset("custom", tmp_path, train=True, transform=transform)
    for i in range(len(ds)):
        views, _ = ds[i]
        assert [tuple(v.shape) for v in views] == [(3, 32, 32), (3, 32, 32), (3, 16, 16)]


def test_corrupt_file_named_or_skipped_and_counted(tmp_path):
    make_odd_folder(tmp_path)
    bad = tmp_path / "a" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(CorruptImageError, match="broken.jpg"):
        load_rgb(bad)
    strict = build_dataset("custom", tmp_path, train=True, transform=None)
    bad_index = [Path(p).name for p, _ in strict.samples].index("broken.jpg")
    with pytest.raises(CorruptImageError) as err:
        strict[bad_index]
    assert str(bad) in str(err.value)

    lenient = build_dataset("custom", tmp_path, train=True, transform=None, skip_corrupt=True)
    items = [lenient[i] for i in range(len(lenient))]
    assert lenient.num_corrupt == 1 and lenient.corrupt_files == {str(bad)}
    assert all(img.mode == "RGB" for img, _ in items)
    # the corrupt sample is replaced by the next one in the list
    assert np.array_equal(np.asarray(items[bad_index][0]), np.asarray(items[bad_index + 1][0]))


def test_skip_corrupt_counts_across_workers(tmp_path):
    make_odd_folder(tmp_path)
    (tmp_path / "b" / "zz_broken.png").write_bytes(b"\x89PNG garbage")
    cfg = {"dataset": "custom", "train_path": str(tmp_path), "skip_corrupt": True, "num_workers": 2}
    train, _ = build_eval_dataloaders(cfg, batch_size=2, crop_size=8)
    labels = torch.cat([y for _, y in train])
    assert len(labels) == 6
    assert train.dataset.num_corrupt == 1 and corrupt_count(train) == 1
    assert sum(1 for _ in train) == 3 and corrupt_count(train) == 2  # counted again in the next epoch


def test_no_labels_folder(tmp_path):
    for i in range(3):
        Image.new("RGB", (10, 10), (i, i, i)).save(tmp_path / f"{i}.png")
    ds = build_dataset("custom", tmp_path, True, None, no_labels=True)
    assert len(ds) == 3 and {ds[i][1] for i in range(3)} == {-1}


# ---------------------------------------------------------------- transforms

def test_views_count_size_and_normalisation():
    img = Image.new("RGB", (40, 30), (51, 102, 204))
    views = build_pretrain_transform([plain_pipeline(24, 2), plain_pipeline(12, 3)], MEAN, STD)(img)
    assert [tuple(v.shape) for v in views] == [(3, 24, 24)] * 2 + [(3, 12, 12)] * 3
    expected = (torch.tensor([51, 102, 204]) / 255 - 0.5) / 0.25
    for v in views:
        assert v.dtype == torch.float32
        torch.testing.assert_close(v.mean(dim=(1, 2)), expected, atol=1e-3, rtol=0)


def test_each_op_does_what_it_says():
    img = Image.new("RGB", (16, 16), (200, 30, 100))
    solarized = build_pretrain_transform([plain_pipeline(16, solarization={"prob": 1.0})], MEAN, STD)(img)[0]
    torch.testing.assert_close(solarized[:, 0, 0], (torch.tensor([55, 30, 100]) / 255 - 0.5) / 0.25,
                               atol=1e-4, rtol=0)
    gray = build_pretrain_transform([plain_pipeline(16, grayscale={"prob": 1.0})], MEAN, STD)(img)[0]
    assert torch.allclose(gray[0], gray[1]) and torch.allclose(gray[1], gray[2])
    ramp = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 10, (16, 1))[..., None].repeat(3, 2))
    flipped = build_pretrain_transform([plain_pipeline(16, horizontal_flip={"prob": 1.0})], MEAN, STD)(ramp)[
        0
    ]
    assert flipped[0, 0, 0] > flipped[0, 0, -1]


def test_random_views_differ_and_follow_schema_from_yaml():
    aug = [full_pipeline(32, 1), full_pipeline(32, 1)]
    torch.manual_seed(0)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    v1, v2 = build_pretrain_transform(aug, MEAN, STD)(img)
    assert v1.shape == v2.shape == (3, 32, 32) and not torch.allclose(v1, v2)


def test_eval_transform_gives_the_crop_size():
    img = Image.new("RGB", (300, 200))
    assert build_eval_transform(224, MEAN, STD, train=False)(img).shape == (3, 224, 224)
    assert build_eval_transform(32, MEAN, STD, train=True)(img).shape == (3, 32, 32)


@pytest.mark.parametrize("bad, match", [
    ({"crop_size": 32, "cutout": {"prob": 1}}, "valid keys: .*color_jitter"),
    ({"crop_size": 32, "rrc": {"enabled": True, "min_scale": 0.2}}, "valid keys: .*crop_min_scale"),
    ({"crop_size": 32, "grayscale": {"prob": 1.5}}, "grayscale.prob"),
    ({"num_crops": 2}, "crop_size"),
])
def test_bad_augmentations_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        build_pretrain_transform([bad], MEAN, STD)


# ---------------------------------------------------------------- registry / config errors

def test_dataset_registry_and_missing_folders_are_named(tmp_path):
    assert set(DATASETS) == {
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "stl10",
        "imagenet100",
        "imagenet",
        "custom",
    }
    with pytest.raises(ValueError, match="data.dataset=.* is not valid; choose from .*cifar10.*custom"):
        build_dataset("mnist", None, True, None)
    with pytest.raises(ValueError, match=rf"data.train_path='{tmp_path / 'c10'}' is not valid; no such "):
        build_dataset("cifar10", tmp_path / "c10", True, None)
    (tmp_path / "c10").mkdir()
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'c10'}.*download"):
        build_dataset("cifar10", tmp_path / "c10", True, None)
    with pytest.raises(ValueError, match="data.val_path=.*no_such.* is not valid; no such folder .*imagenet"):
        build_dataset("imagenet100", tmp_path / "no_such", False, None)
    (tmp_path / "a.txt").write_text("not a folder")
    with pytest.raises(ValueError, match=r"data.train_path=.*a.txt' is not valid; it is a file: give the "):
        build_dataset("custom", tmp_path / "a.txt", True, None)
    assert (
        labelled_num_classes("cifar100", None, True) == 100
        and labelled_num_classes("imagenet", None, False) == 1000
    )
    assert dataset_stats("imagenet100")[0] == (0.485, 0.456, 0.406)
    assert dataset_stats("fashion-mnist") == dataset_stats("fashion_mnist")


def test_data_cfg_validation():
    with pytest.raises(ValueError, match="valid keys: .*train_path"):
        check_data_cfg({"dataset": "custom", "trainpath": "/x"})
    with pytest.raises(ValueError, match="h5"):
        check_data_cfg({"dataset": "custom", "format": "h5"})
    with pytest.raises(ValueError, match="image_folder.*dali"):
        check_data_cfg({"dataset": "custom", "format": "lmdb"})
    with pytest.raises(ValueError, match="dali.*imagenet100"):
        check_data_cfg({"dataset": "cifar10", "format": "dali"})
    with pytest.raises(ValueError, match="fraction"):
        check_data_cfg({"dataset": "custom", "fraction": 1.5})
    cfg = check_data_cfg({"dataset": "custom", "format": "dali"})
    assert cfg["dali_device"] == ("gpu" if torch.cuda.is_available() else "cpu")


def make_class_folder(root: Path, classes=("red", "green", "blue"), per_class=4, size=(24, 20)) -> None:
    colors = {"red": (220, 10, 10), "green": (10, 220, 10), "blue": (10, 10, 220)}
    for split in ("train", "val"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", size, colors[c]).save(root / split / c / f"{i}.jpg", quality=95)


def test_a_data_block_resolves_once_into_what_every_loader_reads(tmp_path):
    make_class_folder(tmp_path, classes=("red", "green"))
    (tmp_path / "val" / "blue").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "blue" / "0.jpg")
    spec = resolve_data({"dataset": "Custom", "train_path": tmp_path, "num_workers": 0})
    assert (spec.dataset, spec.format, spec.augment_on, spec.train_path) == (
        "custom",
        "image_folder",
        "sample",
        str(tmp_path),
    )
    assert spec.split_path(False) == str(tmp_path) and spec.native_size == 224 and not spec.has_val
    assert (spec.num_classes, spec.val_num_classes) == (2, 3)  # train/ and val/ sub-folders counted apart
    assert resolve_data(spec) is spec
    assert [len(spec.build(train, None)) for train in (True, False)] == [8, 9]
    fmnist = resolve_data({"dataset": "fashion-mnist", "image_size": 28})
    assert (fmnist.num_classes, fmnist.native_size, fmnist.has_val, fmnist.augment_on) == (
        10,
        28,
        True,
        "batch",
    )
    assert fmnist.mean == dataset_stats("fashion_mnist")[0]
    unlabelled = resolve_data({"dataset": "custom", "train_path": tmp_path / "train", "no_labels": True})
    assert unlabelled.unlabelled and unlabelled.num_classes == 0
    assert set(unlabelled.build(True, None, pretraining=True).targets) == {-1}
    assert unlabelled.build(True, None).classes == ["green", "red"]  # an evaluation reads the labels
    named = resolve_data({"dataset": "cifar10", "num_classes": 3})
    assert named.num_classes == 10  # a named set's count is fixed, as in solo-learn


def test_image_folder_views_keep_their_class_colour(tmp_path):
    make_class_folder(tmp_path)
    cfg = {
        "dataset": "custom",
        "train_path": str(tmp_path),
        "val_path": str(tmp_path / "val"),
        "num_workers": 0,
    }
    loader = build_pretrain_dataloader(cfg, [plain_pipeline(16, 2), plain_pipeline(8, 1)], batch_size=4)
    batches = list(loader)
    assert len(batches) == 3
    views, labels = batches[0]
    assert [tuple(v.shape) for v in views] == [(4, 3, 16, 16)] * 2 + [(4, 3, 8, 8)]
    # every view keeps its class colour: the dominant channel identifies the label
    classes = sorted(["red", "green", "blue"])
    channel_of = {"red": 0, "green": 1, "blue": 2}
    for views, labels in batches:
        for v in views:
            dominant = v.mean(dim=(2, 3)).argmax(dim=1)
            assert dominant.tolist() == [channel_of[classes[y]] for y in labels.tolist()]
    train, val = build_eval_dataloaders(cfg, batch_size=5, crop_size=16)
    xs, ys = zip(*val)
    assert torch.cat(ys).tolist() == [0] * 4 + [1] * 4 + [2] * 4 and xs[0].shape == (5, 3, 16, 16)


@needs_fmnist
def test_fraction_is_stratified():
    ds = take_fraction(FashionMNIST(train=True), 0.01)
    labels = [ds.dataset.targets[i] for i in ds.indices]
    assert len(ds) == 600 and np.bincount(labels).tolist() == [60] * 10
    loader = build_pretrain_dataloader({"dataset": "fashion_mnist", "fraction": 0.01, "num_workers": 0},
                                       [full_pipeline(32, 2)], batch_size=64)
    views, labels = next(iter(loader))
    assert len(loader) == 600 // 64 and len(views) == 2 and views[0].shape == (64, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.max() < 10


def test_imagenet_layout_uses_split_subfolders(tmp_path):
    make_class_folder(tmp_path, per_class=2)
    (tmp_path / "val" / "red" / "extra.jpg").write_bytes((tmp_path / "val" / "red" / "0.jpg").read_bytes())
    train = build_dataset("imagenet100", tmp_path, train=True, transform=None)
    val = build_dataset("imagenet100", tmp_path, train=False, transform=None)
    assert train.classes == val.classes == ["blue", "green", "red"]
    assert (len(train), len(val)) == (6, 7)
    assert Path(train.root) == tmp_path / "train" and Path(val.root) == tmp_path / "val"
    # a folder without train/ or val/ is the ImageFolder itself
    assert len(build_dataset("custom", tmp_path / "val", train=True, transform=None)) == 7

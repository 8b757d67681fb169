"""DALI pipelines (CPU-only here) on a generated JPEG ImageFolder: shapes, values, labels, views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("nvidia.dali", reason="NVIDIA DALI not installed (pip install 'solo-coss[dali]')")

from helpers import plain_pipeline  # noqa: E402

from solo_coss.data import build_eval_dataloaders, build_pretrain_dataloader  # noqa: E402
from solo_coss.data.datasets import dataset_stats  # noqa: E402
from solo_coss.data.image_folder import CorruptImageError  # noqa: E402
from solo_coss.data.transforms import build_pretrain_transform  # noqa: E402

CLASSES = {"blue": (10, 10, 220), "green": (10, 220, 10), "red": (220, 10, 10)}  # sorted: label = index
CHANNEL = {"blue": 2, "green": 1, "red": 0}
MEAN, STD = dataset_stats("custom")




def all_ops(crop_size: int, num_crops: int) -> dict:
    return plain_pipeline(crop_size, num_crops, rrc={"enabled": True}, color_jitter={"prob": 0.8},
                    grayscale={"prob": 0.2}, gaussian_blur={"prob": 0.5}, solarization={"prob": 0.5},
                    equalization={"prob": 0.5}, horizontal_flip={"prob": 0.5})


@pytest.fixture(scope="module")
def jpeg_root(tmp_path_factory) -> Path:
    """train/ and val/ with 3 colour classes x 5 JPEGs of varied sizes (one smaller than the crop)."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name, color in CLASSES.items():
            (root / split / name).mkdir(parents=True)
            for i in range(5):
                h, w = (12, 10) if i == 0 else (int(rng.integers(30, 60)), int(rng.integers(30, 60)))
                noise = rng.integers(-8, 8, (h, w, 3))
                img = np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / split / name / f"{i}.jpg", quality=95)
    return root


def cfg_for(root: Path, **extra) -> dict:
    return {"dataset": "custom", "train_path": str(root / "train"), "val_path": str(root / "val"),
            "format": "dali", "dali_device": "cpu", "num_workers": 1, **extra}


def test_pretrain_views_shapes_values_labels(jpeg_root):
    aug = [all_ops(32, 2), all_ops(16, 1)]
    loader = build_pretrain_dataloader(cfg_for(jpeg_root), aug, batch_size=4, drop_last=False)
    assert len(loader) == 4
    lo = ((0 - torch.tensor(MEAN)) / torch.tensor(STD)).min().item()
    hi = ((1 - torch.tensor(MEAN)) / torch.tensor(STD)).max().item()
    seen = []
    for views, labels in loader:
        assert [tuple(v.shape[1:]) for v in views] == [(3, 32, 32)] * 2 + [(3, 16, 16)]
        assert all(v.dtype == torch.float32 and v.shape[0] == len(labels) for v in views)
        assert all(lo - 1e-4 <= v.min() and v.max() <= hi + 1e-4 for v in views)
        assert labels.dtype == torch.int64
        seen.extend(labels.tolist())
    assert sorted(seen) == [0] * 5 + [1] * 5 + [2] * 5  # one epoch = every image once
    # a second epoch works (auto reset)
    assert sum(len(y) for _, y in loader) == 15


def test_labels_match_folder_classes(jpeg_root):
    loader = build_pretrain_dataloader(
        cfg_for(jpeg_root), [plain_pipeline(24, 2)], batch_size=5, drop_last=False
    )
    names = sorted(CLASSES)
    for views, labels in loader:
        for v in views:
            # undo the normalisation: the class colour's dominant channel must match the label
            rgb = v.mean(dim=(2, 3)) * torch.tensor(STD) + torch.tensor(MEAN)
            assert rgb.argmax(dim=1).tolist() == [CHANNEL[names[y]] for y in labels.tolist()]


def test_matches_torchvision_without_random_ops(tmp_path):
    """Resize-free case (image == crop size): DALI and PIL decode + normalise to the same tensor."""
    rng = np.random.default_rng(1)
    (tmp_path / "only").mkdir()
    img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "only" / "x.jpg", quality=90)
    aug = [plain_pipeline(32, 1), plain_pipeline(32, 1, solarization={"prob": 1.0})]
    views, _ = next(iter(build_pretrain_dataloader(cfg_for(tmp_path, train_path=str(tmp_path)), aug, 1,
                                                   drop_last=False)))
    reference = build_pretrain_transform(aug, MEAN, STD)(
        Image.open(tmp_path / "only" / "x.jpg").convert("RGB")
    )
    one_level = 1 / 255 / min(STD)
    for dali_view, ref in zip(views, reference):
        diff = (dali_view[0] - ref).abs()
        assert diff.mean() < one_level and diff.max() < 4 * one_level
    assert not torch.allclose(views[0], views[1])  # solarization changed something


def test_eval_loaders_keep_every_image_and_val_in_folder_order(jpeg_root):
    train, val = build_eval_dataloaders(cfg_for(jpeg_root), batch_size=4, crop_size=20, train_augment=True)
    assert len(train) == len(val) == 4
    xs, ys = zip(*val)
    assert torch.cat(ys).tolist() == [0] * 5 + [1] * 5 + [2] * 5  # unshuffled ImageFolder order
    assert xs[0].shape == (4, 3, 20, 20) and xs[-1].shape == (3, 3, 20, 20)
    assert sorted(torch.cat([y for _, y in train]).tolist()) == [0] * 5 + [1] * 5 + [2] * 5


def test_fraction_keeps_each_class_and_bad_options_raise(jpeg_root):
    loader = build_pretrain_dataloader(
        cfg_for(jpeg_root, fraction=0.4), [plain_pipeline(16)], 2, drop_last=False
    )
    labels = torch.cat([y for _, y in loader]).tolist()
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="skip_corrupt"):
        build_pretrain_dataloader(cfg_for(jpeg_root, skip_corrupt=True), [plain_pipeline(16)], 2)
    with pytest.raises(ValueError, match="dali.*imagenet100"):
        build_pretrain_dataloader({"dataset": "fashion_mnist", "format": "dali"}, [plain_pipeline(16)], 2)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            build_pretrain_dataloader(cfg_for(jpeg_root, dali_device="gpu"), [plain_pipeline(16)], 2)


def test_no_labels_folder_gives_minus_one(tmp_path):
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(tmp_path / f"{i}.jpg")
    loader = build_pretrain_dataloader(cfg_for(tmp_path, train_path=str(tmp_path), no_labels=True),
                                       [plain_pipeline(8)], 3, drop_last=False)
    (views, labels), = list(loader)
    assert labels.tolist() == [-1, -1, -1] and views[0].shape == (3, 3, 8, 8)


def test_gray_and_16bit_pngs_match_torchvision(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (16, 16), 77).save(tmp_path / "a" / "gray.png")
    Image.fromarray(np.full((16, 16), 32896, dtype=np.uint16)).save(tmp_path / "a" / "mid16.png")
    cfg = {**cfg_for(tmp_path, train_path=str(tmp_path)), "val_path": None}
    (dali_x, _), = list(build_eval_dataloaders(cfg, 2, crop_size=16)[1])
    (torch_x, _), = list(build_eval_dataloaders({**cfg, "format": "image_folder", "num_workers": 0}, 2,
                                                crop_size=16)[1])
    torch.testing.assert_close(dali_x, torch_x, atol=1e-5, rtol=0)
    rgb = dali_x.mean(dim=(2, 3)) * torch.tensor(STD) + torch.tensor(MEAN)
    torch.testing.assert_close(rgb * 255, torch.tensor([[77.0] * 3, [128.0] * 3]), atol=1e-3, rtol=0)


def test_zero_width_jitter_keeps_the_colour(tmp_path):
    """A jitter range of width 0 (the Fashion-MNIST configs' saturation and hue) is a constant for DALI."""
    Image.new("RGB", (20, 20), (120, 60, 30)).save(tmp_path / "x.jpg")
    aug = [
        plain_pipeline(
            16, color_jitter={"prob": 1.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}
        )
    ]
    (views, _), = list(build_pretrain_dataloader(cfg_for(tmp_path, train_path=str(tmp_path), no_labels=True),
                                                 aug, 1, drop_last=False))
    rgb = views[0].mean(dim=(2, 3)) * torch.tensor(STD) + torch.tensor(MEAN)
    torch.testing.assert_close(rgb * 255, torch.tensor([[120.0, 60.0, 30.0]]), atol=1.5, rtol=0)


@pytest.mark.parametrize(
    "mode,fmt", [("L", "png"), ("L", "jpg"), ("RGB", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("P", "png")]
)
def test_every_image_mode_decodes_as_torchvision_does(tmp_path, mode, fmt):
    """Same tensors as the PIL path (no resize: the image is the crop size). RGBA is opaque here: DALI
    drops alpha where PIL composites it on white."""
    rng = np.random.default_rng(2)
    img = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    img = img.convert(mode) if mode != "RGBA" else img.convert("RGBA")
    (tmp_path / "a").mkdir()
    img.save(tmp_path / "a" / f"x.{fmt}")
    cfg = {**cfg_for(tmp_path, train_path=str(tmp_path)), "val_path": None}
    (dali_x, _), = list(build_eval_dataloaders(cfg, 1, crop_size=32)[1])
    (torch_x, _), = list(build_eval_dataloaders({**cfg, "format": "image_folder", "num_workers": 0}, 1,
                                                crop_size=32)[1])
    level = 1 / 255 / min(STD)
    diff = (dali_x - torch_x).abs()
    # PNG: the same pixels; JPEG: libjpeg-turbo in both, IDCT rounding aside
    assert diff.max() < (1e-5 if fmt == "png" else 4 * level) and diff.mean() < (
        1e-5 if fmt == "png" else level
    )


def test_undecodable_files_are_named(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    for i in range(40):
        Image.new("RGB", (24, 24), (i * 5, 0, 0)).save(good / f"{i}.png")
    junk, truncated = tmp_path / "junk", tmp_path / "truncated"
    for folder in (junk, truncated):
        folder.mkdir()
        for p in good.iterdir():
            (folder / p.name).write_bytes(p.read_bytes())
    (junk / "page.jpg").write_text("<html>404 not found</html>")
    png = (good / "1.png").read_bytes()
    (truncated / "cut.png").write_bytes(png[: len(png) // 2])
    # DALI 2.4 would crash the process on these in a batch of 32 or more: they are caught before it reads them
    for folder, name, why in ((junk, "page.jpg", "no JPEG, PNG"), (truncated, "cut.png", "truncated")):
        with pytest.raises(CorruptImageError, match=rf"1 of 41 image files .*{name}: .*{why}"):
            build_pretrain_dataloader(cfg_for(folder, train_path=str(folder), no_labels=True),
                                      [plain_pipeline(16)], 64)

    cut_jpeg = tmp_path / "cut_jpeg"
    cut_jpeg.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(
        cut_jpeg / "a.jpg"
    )
    data = (cut_jpeg / "a.jpg").read_bytes()
    (cut_jpeg / "a.jpg").write_bytes(data[: len(data) // 2])  # passes the cheap checks, fails decoding
    loader = build_pretrain_dataloader(cfg_for(cut_jpeg, train_path=str(cut_jpeg), no_labels=True),
                                       [plain_pipeline(16)], 1, drop_last=False)
    with pytest.raises(CorruptImageError, match=r"DALI stopped on an undecodable image: .*a\.jpg"):
        list(loader)

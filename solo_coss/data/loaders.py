"""DataLoaders from the `data:` block (solo-learn's schema plus a few keys of ours)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from solo_coss.data.datasets import build_dataset, canonical_name, dataset_stats
from solo_coss.data.transforms import build_eval_transform, build_pretrain_transform

DATA_KEYS = {
    "dataset": "name: fashion_mnist, cifar10, cifar100, stl10, imagenet100, imagenet, custom",
    "train_path": "root of the training split (None: Fashion-MNIST's Debian folder)",
    "val_path": "root of the validation split",
    "format": "image_folder (torchvision decoding) or dali",
    "num_workers": "DataLoader workers",
    "fraction": "use this fraction of the training set (1.0 = all)",
    "val_fraction": "use this fraction of the validation set for online/offline evaluation",
    "image_size": "Fashion-MNIST: side length the 28 px images are resized to",
    "skip_corrupt": "drop unreadable images of an ImageFolder instead of failing",
    "download": "let torchvision download CIFAR / STL-10 (needs internet)",
    "dali_device": "gpu or cpu (DALI only; default gpu when CUDA is available)",
    "no_labels": "the training folder has no class folders (solo-learn key; only false is supported)",
    "num_large_crops": "derived from augmentations (solo-learn key, ignored)",
    "num_small_crops": "derived from augmentations (solo-learn key, ignored)",
}
FORMATS = ("image_folder", "dali")


def check_data_cfg(data_cfg: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data_cfg) - set(DATA_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in data; valid keys: {list(DATA_KEYS)}")
    fmt = data_cfg.get("format", "image_folder") or "image_folder"
    if fmt not in FORMATS:
        raise ValueError(f"data.format={fmt!r} is not supported; choose from {list(FORMATS)}")
    if data_cfg.get("no_labels"):
        raise ValueError("data.no_labels=true is not supported: give an ImageFolder with class folders")
    return {**data_cfg, "dataset": canonical_name(data_cfg.get("dataset", "fashion_mnist")), "format": fmt}


def take_fraction(dataset: Dataset, fraction: float | None, seed: int = 0) -> Dataset:
    """A fixed random subset holding ``fraction`` of the samples (the whole set for None or 1)."""
    if fraction is None or fraction >= 1:
        return dataset
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n = max(1, int(len(dataset) * fraction))
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return Subset(dataset, idx.sort().values.tolist())


def _loader(dataset, batch_size, num_workers, shuffle, drop_last):
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=drop_last, pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0)


def build_pretrain_dataloader(data_cfg: dict[str, Any], augmentations: list[dict], batch_size: int) -> DataLoader:
    """Batches of (list of view tensors (B, 3, S, S), labels (B,))."""
    cfg = check_data_cfg(data_cfg)
    if cfg["format"] == "dali":
        from solo_coss.data.dali import build_dali_pretrain_loader

        return build_dali_pretrain_loader(cfg, augmentations, batch_size)
    mean, std = dataset_stats(cfg["dataset"])
    dataset = build_dataset(cfg["dataset"], cfg.get("train_path"), True,
                            build_pretrain_transform(augmentations, mean, std),
                            image_size=cfg.get("image_size", 32), download=cfg.get("download", False),
                            skip_corrupt=cfg.get("skip_corrupt", False))
    dataset = take_fraction(dataset, cfg.get("fraction"))
    return _loader(dataset, batch_size, cfg.get("num_workers", 2), shuffle=True, drop_last=True)


def build_eval_dataloaders(data_cfg: dict[str, Any], batch_size: int, crop_size: int,
                           train_augment: bool = False) -> tuple[DataLoader, DataLoader]:
    """(train, val) loaders of (images (B, 3, S, S), labels) for kNN and linear evaluation."""
    cfg = check_data_cfg(data_cfg)
    mean, std = dataset_stats(cfg["dataset"])
    common = dict(image_size=cfg.get("image_size", 32), download=cfg.get("download", False),
                  skip_corrupt=cfg.get("skip_corrupt", False))
    train = build_dataset(cfg["dataset"], cfg.get("train_path"), True,
                          build_eval_transform(crop_size, mean, std, train=train_augment), **common)
    val = build_dataset(cfg["dataset"], cfg.get("val_path") or cfg.get("train_path"), False,
                        build_eval_transform(crop_size, mean, std), **common)
    train = take_fraction(train, cfg.get("fraction"))
    val = take_fraction(val, cfg.get("val_fraction"))
    workers = cfg.get("num_workers", 2)
    return (_loader(train, batch_size, workers, shuffle=train_augment, drop_last=False),
            _loader(val, batch_size, workers, shuffle=False, drop_last=False))

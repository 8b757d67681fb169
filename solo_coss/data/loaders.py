"""DataLoaders from the `data:` block (solo-learn's schema plus a few keys of ours).

`data.format` picks the decoding path: "image_folder" (PIL + torchvision transforms in DataLoader
workers, any dataset) or "dali" (NVIDIA DALI, ImageFolder/JPEG datasets only). Both yield the same
batches: pretraining (list of view tensors (B, 3, S, S), labels (B,)); evaluation (images, labels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from solo_coss.core import check_keys
from solo_coss.data.batched_loader import build_batched_pretrain_loader
from solo_coss.data.datasets import (
    IMAGE_FOLDER_DATASETS,
    NATIVE_SIZE,
    build_dataset,
    canonical_name,
    dataset_stats,
)
from solo_coss.data.subsets import take_fraction
from solo_coss.data.transforms import build_eval_transform, build_pretrain_transform

DATA_KEYS = {
    "dataset": "name: fashion_mnist, cifar10, cifar100, stl10, imagenet100, imagenet, custom",
    "train_path": "root of the training split (None: Fashion-MNIST's Debian folder)",
    "val_path": "root of the validation split",
    "format": "image_folder (torchvision decoding) or dali",
    "augment_on": "batch (whole batch at once in the training process; default for fashion_mnist) or sample "
                  "(torchvision per image in DataLoader workers; default otherwise)",
    "num_workers": "DataLoader workers (DALI: CPU threads)",
    "fraction": "use this fraction of the training set, stratified by class (-1 or 1.0 = all)",
    "val_fraction": "use this fraction of the validation set",
    "image_size": "Fashion-MNIST: side length the 28 px images are resized to (default 32)",
    "skip_corrupt": "replace unreadable images of an ImageFolder by the next good one, counting them",
    "download": "let torchvision download CIFAR / STL-10 (needs internet)",
    "dali_device": "gpu or cpu (DALI only; default gpu when CUDA is available)",
    "no_labels": "pretraining folder without class folders: every image, label -1",
    "num_classes": "derived by solo-learn (ignored)",
    "num_large_crops": "derived from augmentations (solo-learn key, ignored)",
    "num_small_crops": "derived from augmentations (solo-learn key, ignored)",
}
FORMATS = ("image_folder", "dali")
AUGMENT_ON = ("batch", "sample")
IN_MEMORY_DATASETS = ("fashion_mnist",)  # the datasets augment_on='batch' can read
DALI_DEVICES = ("gpu", "cpu")


def check_data_cfg(data_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the data block and fill defaults; ValueError naming bad keys/values and the valid ones."""
    cfg = {str(k): v for k, v in dict(data_cfg).items()}
    check_keys("data", cfg, DATA_KEYS)
    fmt = cfg.get("format") or "image_folder"
    if fmt == "h5":
        raise ValueError("data.format='h5' (solo-learn's HDF5 datasets) is not supported by solo-coss; "
                         f"use one of {list(FORMATS)} on an ImageFolder")
    if fmt not in FORMATS:
        raise ValueError(f"data.format={fmt!r} is not supported; choose from {list(FORMATS)}")
    cfg["format"] = fmt
    cfg["dataset"] = canonical_name(cfg.get("dataset") or "fashion_mnist")
    if fmt == "dali":
        if cfg["dataset"] not in IMAGE_FOLDER_DATASETS:
            raise ValueError(f"data.format='dali' reads ImageFolder/JPEG data; dataset {cfg['dataset']!r} "
                             f"must be one of {list(IMAGE_FOLDER_DATASETS)} (use format='image_folder')")
        device = cfg.get("dali_device") or ("gpu" if torch.cuda.is_available() else "cpu")
        if device not in DALI_DEVICES:
            raise ValueError(f"data.dali_device={device!r}; choose from {list(DALI_DEVICES)}")
        if device == "gpu" and not torch.cuda.is_available():
            raise ValueError("data.dali_device='gpu' but CUDA is not available; use 'cpu'")
        cfg["dali_device"] = device
    cfg["augment_on"] = _augment_on(cfg)
    for key in ("fraction", "val_fraction"):
        value = cfg.get(key)
        if value is not None and value != -1 and not 0 < float(value) <= 1:
            raise ValueError(f"data.{key} must be in (0, 1] (or -1 for all), got {value}")
    return cfg


def _augment_on(cfg: dict[str, Any]) -> str:
    in_memory = cfg["dataset"] in IN_MEMORY_DATASETS and cfg["format"] == "image_folder"
    value = cfg.get("augment_on") or ("batch" if in_memory else "sample")
    if value not in AUGMENT_ON:
        raise ValueError(f"data.augment_on={value!r} is not valid; choose from {list(AUGMENT_ON)}")
    if value == "batch" and not in_memory:
        raise ValueError(f"data.augment_on='batch' needs a dataset held in memory ({list(IN_MEMORY_DATASETS)}) "
                         f"with format='image_folder'; got dataset={cfg['dataset']!r}, format={cfg['format']!r}: "
                         "use augment_on='sample'")
    return value


def corrupt_count(loader_or_dataset: Any) -> int:
    """Images skipped as undecodable so far (data.skip_corrupt=true), summed over DataLoader workers."""
    dataset = getattr(loader_or_dataset, "dataset", loader_or_dataset)
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return int(getattr(dataset, "num_corrupt", 0))


def _workers(cfg: dict[str, Any], num_workers: int | None) -> int:
    return int(num_workers if num_workers is not None else cfg.get("num_workers", 2))


def _loader(dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool, drop_last: bool,
            seed: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=drop_last, pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0,
                      generator=torch.Generator().manual_seed(seed))


def batches_per_rank(loader, world_size: int) -> int:
    """Batches one of ``world_size`` ranks draws from ``loader`` in an epoch. The batched and DALI loaders,
    and a DataLoader whose sampler is a DistributedSampler, shard by rank themselves (their len is the rank's
    once torch.distributed runs); another DataLoader is sharded by Lightning's DistributedSampler:
    ceil(N / world_size) samples per rank."""
    if not isinstance(loader, DataLoader) or world_size == 1 or isinstance(loader.sampler, DistributedSampler):
        return len(loader)
    samples = math.ceil(len(loader.dataset) / world_size)
    return samples // loader.batch_size if loader.drop_last else math.ceil(samples / loader.batch_size)


def build_pretrain_dataloader(data_cfg: Mapping[str, Any], augmentations: Sequence[Mapping], batch_size: int,
                              num_workers: int | None = None, seed: int = 0, shuffle: bool = True,
                              drop_last: bool = True):
    """The pretraining loader of the ``data`` block.

    Args:
        data_cfg: the config's ``data`` block (checked here: ``check_data_cfg``).
        augmentations: the config's pipelines (solo-learn's schema), one view per crop of each.
        batch_size: images per batch (per rank).
        num_workers, seed, shuffle, drop_last: as a DataLoader's; ``seed`` fixes the order and the views.

    Returns:
        Batches of (list of view tensors (B, 3, S_v, S_v), labels (B,)), views in pipeline order:
        format=image_folder -> torch DataLoader (augment_on=sample) or a BatchedViewLoader (augment_on=batch);
        format=dali -> a DALI iterator with the same batches. ``batches_per_rank`` gives its epoch length.
    """
    cfg = check_data_cfg(data_cfg)
    workers = _workers(cfg, num_workers)
    if cfg["format"] == "dali":
        from solo_coss.data.dali import build_dali_pretrain_loader

        return build_dali_pretrain_loader(cfg, augmentations, batch_size, num_threads=max(1, workers),
                                          seed=seed, shuffle=shuffle, drop_last=drop_last)
    mean, std = dataset_stats(cfg["dataset"])
    if cfg["augment_on"] == "batch":
        dataset = build_dataset(cfg["dataset"], cfg.get("train_path"), True, None, image_size=cfg.get("image_size") or 32)
        return build_batched_pretrain_loader(take_fraction(dataset, cfg.get("fraction"), seed), augmentations, mean,
                                             std, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last,
                                             num_workers=workers)
    dataset = build_dataset(cfg["dataset"], cfg.get("train_path"), True,
                            build_pretrain_transform(augmentations, mean, std),
                            image_size=cfg.get("image_size") or 32, download=bool(cfg.get("download")),
                            skip_corrupt=bool(cfg.get("skip_corrupt")), no_labels=bool(cfg.get("no_labels")),
                            stl10_unlabeled=True)
    dataset = take_fraction(dataset, cfg.get("fraction"), seed)
    return _loader(dataset, batch_size, workers, shuffle=shuffle, drop_last=drop_last, seed=seed)


def build_eval_dataloaders(data_cfg: Mapping[str, Any], batch_size: int, crop_size: int | None = None,
                           train_augment: bool = False, num_workers: int | None = None,
                           seed: int = 0, transforms: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """(train, val) loaders of (images (B, 3, S, S), labels (B,)) for kNN and linear evaluation.

    crop_size defaults to the dataset's native size (32 for Fashion-MNIST/CIFAR, 96 STL-10, 224
    ImageNet). train_augment: random-resized crop + flip on the training split (linear training); the
    validation split is always resized + center-cropped. val_path defaults to train_path (the
    ImageFolder `val/` subfolder is then used when it exists). ``transforms``: (train, val) transforms to
    use instead (torchvision path only).
    """
    train_transform, val_transform = transforms or (None, None)
    return (_eval_loader(data_cfg, batch_size, crop_size, True, train_augment, num_workers, seed, train_transform),
            build_val_dataloader(data_cfg, batch_size, crop_size, num_workers, seed, val_transform))


def build_val_dataloader(data_cfg: Mapping[str, Any], batch_size: int, crop_size: int | None = None,
                         num_workers: int | None = None, seed: int = 0, transform: Any = None) -> Any:
    """The validation loader of build_eval_dataloaders alone (the training split is not read)."""
    return _eval_loader(data_cfg, batch_size, crop_size, False, False, num_workers, seed, transform)


def _eval_loader(data_cfg: Mapping[str, Any], batch_size: int, crop_size: int | None, train: bool,
                 augment: bool, num_workers: int | None, seed: int, transform: Any = None) -> Any:
    cfg = check_data_cfg(data_cfg)
    crop_size = crop_size or (cfg.get("image_size") if cfg["dataset"] == "fashion_mnist" else None) \
        or NATIVE_SIZE[cfg["dataset"]]
    workers = _workers(cfg, num_workers)
    path = cfg.get("train_path") if train else cfg.get("val_path") or cfg.get("train_path")
    if cfg["format"] == "dali":
        from solo_coss.data.dali import build_dali_eval_loader

        return build_dali_eval_loader(cfg, path, batch_size, train=train, augment=augment, crop_size=crop_size,
                                      num_threads=max(1, workers), seed=seed)
    mean, std = dataset_stats(cfg["dataset"])
    transform = transform or build_eval_transform(crop_size, mean, std, train=augment)
    dataset = build_dataset(cfg["dataset"], path, train, transform, image_size=cfg.get("image_size") or 32,
                            download=bool(cfg.get("download")), skip_corrupt=bool(cfg.get("skip_corrupt")))
    dataset = take_fraction(dataset, cfg.get("fraction" if train else "val_fraction"), seed)
    return _loader(dataset, batch_size, workers, shuffle=augment, drop_last=False, seed=seed)

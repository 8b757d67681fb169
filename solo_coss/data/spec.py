"""The ``data:`` block resolved once: checked keys, canonical name, split folders, format, statistics, class
count and labelled-ness, in one value (``DataSpec``) that the loaders, probes and evaluations read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from solo_coss.core import check_fields, check_keys
from solo_coss.core.keys import check_choice, is_kind, refuse
from solo_coss.data.datasets import (
    IMAGE_FOLDER_DATASETS,
    NATIVE_SIZE,
    NUM_CLASSES,
    build_dataset,
    canonical_name,
    dataset_stats,
    labelled_num_classes,
)

# the values of the data block, as check_annotated reads them (the others are checked where they are used)
DATA_TYPES = {"train_path": str | PathLike | None, "val_path": str | PathLike | None,
              "num_workers": int | None, "image_size": int | None, "skip_corrupt": bool | None,
              "download": bool | None, "no_labels": bool | None, "num_classes": int | None,
              "dataset": str | None, "format": str | None, "augment_on": str | None}
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
    check_fields("data", cfg, None, hints=DATA_TYPES)
    fmt = cfg.get("format") or "image_folder"
    if fmt == "h5":
        refuse("data.format", fmt, f"solo-learn's HDF5 datasets are not supported by solo-coss; give one of "
               f"{list(FORMATS)} on an ImageFolder")
    check_choice("data.format", fmt, FORMATS)
    cfg["format"] = fmt
    cfg["dataset"] = canonical_name(cfg.get("dataset") or "fashion_mnist")
    if fmt == "dali":
        if cfg["dataset"] not in IMAGE_FOLDER_DATASETS:
            refuse("data.dataset", cfg["dataset"], f"data.format='dali' reads ImageFolder/JPEG data of "
                   f"{list(IMAGE_FOLDER_DATASETS)}; or give data.format='image_folder'")
        device = cfg.get("dali_device") or ("gpu" if torch.cuda.is_available() else "cpu")
        check_choice("data.dali_device", device, DALI_DEVICES)
        if device == "gpu" and not torch.cuda.is_available():
            raise ValueError("data.dali_device='gpu' but CUDA is not available; use 'cpu'")
        cfg["dali_device"] = device
    cfg["augment_on"] = _augment_on(cfg)
    for key in ("train_path", "val_path"):
        if cfg.get(key) is not None and Path(str(cfg[key])).is_file():
            refuse(f"data.{key}", cfg[key], "it is a file: give the folder holding the split (ImageFolder "
                   "<class>/<image> files, a torchvision layout, or Fashion-MNIST's idx files)")
    for key in ("fraction", "val_fraction"):
        value = cfg.get(key)
        if value is not None and value != -1 and not (is_kind(value, float) and 0 < value <= 1):
            refuse(f"data.{key}", value, "give a fraction in (0, 1], or -1 for all")
    return cfg


def _augment_on(cfg: dict[str, Any]) -> str:
    in_memory = cfg["dataset"] in IN_MEMORY_DATASETS and cfg["format"] == "image_folder"
    value = cfg.get("augment_on") or ("batch" if in_memory else "sample")
    check_choice("data.augment_on", value, AUGMENT_ON)
    if value == "batch" and not in_memory:
        raise ValueError(
            f"data.augment_on='batch' needs a dataset held in memory ({list(IN_MEMORY_DATASETS)}) "
            f"with format='image_folder'; got dataset={cfg['dataset']!r}, format={cfg['format']!r}: "
            "use augment_on='sample'"
        )
    return value


@dataclass(frozen=True)
class DataSpec:
    """One resolved ``data`` block. Build it with ``resolve_data``; the class counts of a ``custom`` folder
    are read from disk the first time they are asked for, and only then."""

    dataset: str                  # canonical name (``canonical_name``)
    format: str                   # image_folder or dali
    augment_on: str               # batch or sample
    train_path: str | None
    val_path: str | None          # None: the training root (its val/ sub-folder when there is one)
    num_workers: int
    fraction: float | None
    val_fraction: float | None
    image_size: int | None        # Fashion-MNIST's resize
    skip_corrupt: bool
    download: bool
    no_labels: bool               # training images without class folders (ImageFolder datasets only)
    dali_device: str | None
    given_num_classes: int | None = field(default=None, repr=False)  # the block's own num_classes, if any

    @property
    def mean(self) -> tuple[float, ...]:
        return dataset_stats(self.dataset)[0]

    @property
    def std(self) -> tuple[float, ...]:
        return dataset_stats(self.dataset)[1]

    @property
    def native_size(self) -> int:
        """The eval transforms' default crop: the dataset's resolution (Fashion-MNIST: its resize)."""
        return (self.image_size or 32) if self.dataset == "fashion_mnist" else NATIVE_SIZE[self.dataset]

    @property
    def unlabelled(self) -> bool:
        """Training images without labels (data.no_labels on an ImageFolder dataset)."""
        return self.no_labels and self.dataset in IMAGE_FOLDER_DATASETS

    @property
    def has_val(self) -> bool:
        """A validation split exists: data.val_path, or Fashion-MNIST's built-in test split."""
        return self.val_path is not None or self.dataset == "fashion_mnist"

    def split_path(self, train: bool) -> str | None:
        return self.train_path if train else self.val_path or self.train_path

    @cached_property
    def num_classes(self) -> int:
        """Classes of the labelled training images: the named sets' fixed count, else the block's num_classes,
        else the class folders of the training root; 0 for unlabelled training images."""
        if self.unlabelled:
            return 0
        if self.given_num_classes and self.dataset not in NUM_CLASSES:
            return int(self.given_num_classes)
        return labelled_num_classes(self.dataset, self.train_path, train=True, key="data.train_path")

    @cached_property
    def val_num_classes(self) -> int:
        """Classes of the validation split (what a probe fitted on it predicts)."""
        return labelled_num_classes(self.dataset, self.split_path(False), train=False,
                                    key=self.split_key(False))

    def build(self, train: bool, transform: Callable | None, pretraining: bool = False) -> Dataset:
        """One split as a Dataset of (transform(PIL image), label) (``build_dataset``). ``pretraining``: the
        training images as pretraining reads them (label -1 with data.no_labels; STL-10's unlabelled part
        too); otherwise the labelled split an evaluation reads."""
        return build_dataset(self.dataset, self.split_path(train), train, transform,
                             image_size=self.image_size or 32, download=self.download,
                             skip_corrupt=self.skip_corrupt, no_labels=pretraining and self.no_labels,
                             stl10_unlabeled=pretraining, key=self.split_key(train))

    def split_key(self, train: bool) -> str:
        """The key that names the folder of a split (the validation split falls back to data.train_path)."""
        return "data.val_path" if not train and self.val_path else "data.train_path"

    def fraction_of(self, train: bool) -> float | None:
        return self.fraction if train else self.val_fraction


def resolve_data(data: Mapping[str, Any] | DataSpec) -> DataSpec:
    """The ``data`` block checked (``check_data_cfg``) and resolved; a DataSpec is returned as it is.

    Args:
        data: a config's ``data`` block (solo-learn's keys plus ours, ``DATA_KEYS``).

    Returns:
        The DataSpec every loader and probe of the run reads.
    """
    if isinstance(data, DataSpec):
        return data
    cfg = check_data_cfg(data)
    return DataSpec(dataset=cfg["dataset"], format=cfg["format"], augment_on=cfg["augment_on"],
                    train_path=_path(cfg.get("train_path")), val_path=_path(cfg.get("val_path")),
                    num_workers=int(cfg["num_workers"] if cfg.get("num_workers") is not None else 2),
                    fraction=cfg.get("fraction"), val_fraction=cfg.get("val_fraction"),
                    image_size=cfg.get("image_size"), skip_corrupt=bool(cfg.get("skip_corrupt")),
                    download=bool(cfg.get("download")), no_labels=bool(cfg.get("no_labels")),
                    dali_device=cfg.get("dali_device"), given_num_classes=cfg.get("num_classes"))


def _path(value: Any) -> str | None:
    return None if value is None else str(value)

"""Dataset registry: Fashion-MNIST, torchvision sets, ImageFolder layouts (ImageNet, ImageNet-100, custom)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch.utils.data import Dataset, Subset

from solo_coss.core.keys import check_choice, refuse
from solo_coss.data.fashion_mnist import FASHION_MNIST_DIR, FashionMNIST
from solo_coss.data.image_folder import RobustImageFolder, UnlabeledImageFolder

DATASETS: tuple[str, ...] = (
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "stl10",
    "imagenet100",
    "imagenet",
    "custom",
)
ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist"}
IMAGE_FOLDER_DATASETS = ("imagenet100", "imagenet", "custom")

_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_STATS = {
    "fashion_mnist": ((0.2860,) * 3, (0.3530,) * 3),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ((0.4914, 0.4823, 0.4466), (0.247, 0.243, 0.261)),
    "imagenet100": _IMAGENET_STATS,
    "imagenet": _IMAGENET_STATS,
    "custom": _IMAGENET_STATS,
}
# The one class-count table (config resolution and the loaders both read it).
NUM_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "stl10": 10,
                "imagenet100": 100, "imagenet": 1000}
# Native resolution of each set: the default crop size of the eval transforms.
NATIVE_SIZE = {"fashion_mnist": 32, "cifar10": 32, "cifar100": 32, "stl10": 96,
               "imagenet100": 224, "imagenet": 224, "custom": 224}


def canonical_name(name: str) -> str:
    """Lower-cased dataset name with aliases resolved; ValueError listing the valid names otherwise."""
    key = str(name).lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        check_choice("data.dataset", name, [*DATASETS, *ALIASES])
    return key


def _require_dir(path: str | Path | None, name: str, key: str = "data.train_path") -> Path:
    if path is None:
        refuse(key, path, f"dataset {name!r} needs the folder of its images")
    if not Path(path).is_dir():
        refuse(key, str(path), f"no such folder (dataset {name!r})" if not Path(path).exists()
               else "it is a file: give the folder holding the split")
    return Path(path)


def _torchvision_set(name: str, path: str | Path | None, train: bool, transform: Callable | None,
                     download: bool, stl10_unlabeled: bool, key: str) -> Dataset:
    from torchvision import datasets as tvd

    if path is None or not download:
        _require_dir(path, name, key)
    try:
        if name == "stl10":
            split = ("train+unlabeled" if stl10_unlabeled else "train") if train else "test"
            return tvd.STL10(str(path), split=split, transform=transform, download=download)
        cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
        return cls(str(path), train=train, transform=transform, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted..."
        raise FileNotFoundError(
            f"dataset {name!r} not found under {path} (torchvision layout expected, e.g. "
            f"{path}/cifar-10-batches-py); set data.download=true to fetch it ({err})"
        ) from err


def _image_folder_root(path: str | Path | None, name: str, train: bool, key: str) -> Path:
    """`path/train` (or `path/val`) when that folder exists, else `path` itself."""
    root = _require_dir(path, name, key)
    split_dir = root / ("train" if train else "val")
    return split_dir if split_dir.is_dir() else root


def build_dataset(name: str, path: str | Path | None, train: bool, transform: Callable | None,
                  image_size: int | None = None, download: bool = False, skip_corrupt: bool = False,
                  no_labels: bool = False, stl10_unlabeled: bool = False, key: str | None = None) -> Dataset:
    """Build one split of a dataset; items are (transform(PIL RGB image), int label).

    fashion_mnist: path None -> the Debian package folder; `image_size` (default 32) is the resize.
    cifar10/cifar100/stl10: torchvision layout under path; `download=True` lets torchvision fetch it.
    imagenet100/imagenet/custom: ImageFolder under `path/train` or `path/val` when present, else `path`;
    `no_labels=True` reads every image under path with label -1. `skip_corrupt` replaces undecodable
    images by the next good one and counts them (`dataset.num_corrupt`). `key`: the config key that named
    `path`, for errors (default: data.train_path / data.val_path by `train`).
    """
    key = key or ("data.train_path" if train else "data.val_path")
    name = canonical_name(name)
    if name == "fashion_mnist":
        if path is not None and not Path(path).is_dir():
            refuse(key, str(path), "no such folder: fix the path, or remove it to read the installed "
                   f"Fashion-MNIST in {FASHION_MNIST_DIR}")
        root = path if path is not None else FASHION_MNIST_DIR
        return FashionMNIST(root, train=train, transform=transform, image_size=image_size or 32)
    if name in ("cifar10", "cifar100", "stl10"):
        return _torchvision_set(name, path, train, transform, download, stl10_unlabeled, key)
    root = _image_folder_root(path, name, train, key)
    if no_labels:
        return UnlabeledImageFolder(root, transform=transform, skip_corrupt=skip_corrupt)
    return RobustImageFolder(root, transform=transform, skip_corrupt=skip_corrupt)


def _unwrap(dataset: Dataset) -> Dataset:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def class_names(dataset: Dataset | None) -> list[str] | None:
    """The class names of a labelled dataset (torchvision sets, ImageFolder, Fashion-MNIST), else None."""
    return getattr(_unwrap(dataset), "classes", None) if dataset is not None else None


def labelled_num_classes(name: str, path: str | Path | None, train: bool, key: str | None = None) -> int:
    """Number of classes: fixed for the named sets; for `custom`, the class folders of the split's
    ImageFolder root (`path/train` or `path/val` when present, else `path`)."""
    from torchvision.datasets.folder import find_classes

    name = canonical_name(name)
    if name in NUM_CLASSES:
        return NUM_CLASSES[name]
    root = _image_folder_root(path, name, train, key or ("data.train_path" if train else "data.val_path"))
    try:
        return len(find_classes(str(root))[0])
    except FileNotFoundError as err:
        raise FileNotFoundError(f"dataset {name!r}: no class folders in {root} (a labelled folder holds "
                                "<class>/<image> files; for a flat folder of images set "
                                "data.no_labels=true)") from err


def dataset_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per RGB channel used for normalisation (ImageNet's for imagenet*/custom)."""
    return _STATS[canonical_name(name)]

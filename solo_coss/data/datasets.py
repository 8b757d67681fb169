"""Dataset registry: Fashion-MNIST, torchvision sets, ImageFolder layouts (ImageNet, ImageNet-100, custom)."""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.data import Dataset

DATASETS: tuple[str, ...] = ("fashion_mnist", "cifar10", "cifar100", "stl10", "imagenet100", "imagenet", "custom")


def build_dataset(name: str, path: str | None, train: bool, transform: Callable | None,
                  image_size: int | None = None, download: bool = False,
                  skip_corrupt: bool = False) -> Dataset:
    raise NotImplementedError


def dataset_num_classes(name: str, dataset: Dataset) -> int:
    raise NotImplementedError


def dataset_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    raise NotImplementedError

"""Fashion-MNIST read straight from Debian's `dataset-fashion-mnist` package (no download)."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=4)
def load_fashion_mnist(root: str = FASHION_MNIST_DIR, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of the train (60k) or test (10k) split."""
    paths = [Path(root) / name for name in _FILES[train]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found ({missing[0]}): install it with "
            f"'apt-get install dataset-fashion-mnist' or set data.train_path to a folder holding the idx .gz files"
        )
    images, labels = (_read_idx(p) for p in paths)
    return images, labels.astype(np.int64)


class FashionMNIST(Dataset):
    """Fashion-MNIST as 3-channel PIL images of ``image_size`` px (bilinear resize from 28 px)."""

    classes = CLASSES

    def __init__(self, root: str | None = None, train: bool = True, transform=None, image_size: int = 32):
        self.images, self.targets = load_fashion_mnist(str(root or FASHION_MNIST_DIR), train)
        self.transform = transform
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.images[index], mode="L")
        if self.image_size != img.width:
            img = img.resize((self.image_size, self.image_size), Image.BILINEAR)
        img = img.convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.targets[index])

"""Fashion-MNIST read straight from the Debian package's gzipped idx files (no download).

`apt-get install dataset-fashion-mnist` puts the four idx files under /usr/share/datasets/fashion-mnist.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch.utils.data
from PIL import Image

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_INSTALL_HINT = ("install it with `apt-get install dataset-fashion-mnist` or set data.train_path to a folder "
                 "holding the idx files")


def _hint(root: str | Path) -> str:
    """How to fix a missing folder or file: install the package, or fix the path the user named."""
    if Path(root) == Path(FASHION_MNIST_DIR):
        return _INSTALL_HINT
    return (
        f"the folder was named by data.train_path / data.val_path; fix the path, or remove it to read the "
        f"installed copy in {FASHION_MNIST_DIR}"
    )


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Fashion-MNIST file {root / (stem + '.gz')} not found: {_hint(root)}")


def read_idx(path: str | Path) -> np.ndarray:
    """Decode one (optionally gzipped) idx file into an array of the shape stored in its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {data.size} values")
    return data.reshape(dims)


@lru_cache(maxsize=4)
def load_fashion_mnist(root: str = FASHION_MNIST_DIR, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of the train (60k) or test (10k) split.

    Cached per process: decoding the gzipped files takes about a second.
    """
    if not Path(root).is_dir():
        raise FileNotFoundError(f"Fashion-MNIST folder {root} does not exist: {_hint(root)}")
    images_stem, labels_stem = _FILES[train]
    images = read_idx(_find(Path(root), images_stem))
    labels = read_idx(_find(Path(root), labels_stem)).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"Fashion-MNIST in {root}: {len(images)} images but {len(labels)} labels")
    return images, labels


class FashionMNIST(torch.utils.data.Dataset):
    """Fashion-MNIST as (PIL RGB image of image_size x image_size, int label) pairs.

    The 28x28 grayscale images are resized (bilinear) to `image_size` and replicated to 3 channels, so
    every backbone and augmentation written for RGB photos applies unchanged. 60000 train / 10000 test.
    """

    classes = CLASSES

    def __init__(self, root: str | Path | None = None, train: bool = True,
                 transform: Callable | None = None, image_size: int = 32) -> None:
        if int(image_size) < 1:
            raise ValueError(f"image_size must be a positive int, got {image_size}")
        self.root = str(root if root is not None else FASHION_MNIST_DIR)
        self.train = train
        self.transform = transform
        self.image_size = int(image_size)
        self.images, labels = load_fashion_mnist(self.root, train)
        self.targets: list[int] = labels.tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.images[index])
        if self.image_size != img.width:
            img = img.resize((self.image_size, self.image_size), Image.BILINEAR)
        img = img.convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]

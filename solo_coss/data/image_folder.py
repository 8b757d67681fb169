"""ImageFolder reading that survives odd files: any PIL mode -> RGB, corrupt files named or skipped."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

log = logging.getLogger(__name__)


class CorruptImageError(OSError):
    """An image file that PIL cannot decode."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; 16-bit/float grayscale is rescaled, alpha composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            arr = arr / 257.0
        elif img.mode == "F" and arr.max(initial=0.0) <= 1.0:
            arr = arr * 255.0
        elif img.mode == "I" and arr.max(initial=0) > 255:  # 16-bit PNGs open as "I" in some Pillows
            arr = arr / 257.0
        return Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as 8-bit RGB; raise CorruptImageError naming the file if it cannot be decoded."""
    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            img.load()
            return _to_rgb(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise CorruptImageError(f"cannot decode image file {path}: {err}") from err


class _SkipCorruptMixin:
    """`__getitem__` that replaces an undecodable sample by the next good one when skip_corrupt is set.

    `num_corrupt` counts skipped reads over all DataLoader workers (a shared counter); `corrupt_files`
    lists the ones this process met. A file that is read once per epoch is counted once per epoch.
    """

    def _init_skip(self, skip_corrupt: bool) -> None:
        self.skip_corrupt = skip_corrupt
        self._corrupt_counter = multiprocessing.Value("i", 0)
        self.corrupt_files: set[str] = set()

    @property
    def num_corrupt(self) -> int:
        return self._corrupt_counter.value

    def _get_with_skip(self, index: int, getter: Callable[[int], tuple]) -> tuple:
        n = len(self)
        for offset in range(n):
            i = (index + offset) % n
            try:
                return getter(i)
            except CorruptImageError as err:
                if not self.skip_corrupt:
                    raise CorruptImageError(f"{err}; delete or replace it, or set data.skip_corrupt=true to "
                                            "skip undecodable images (they are counted and logged)") from err
                with self._corrupt_counter.get_lock():
                    self._corrupt_counter.value += 1
                self.corrupt_files.add(str(self._path_of(i)))
                log.warning("skipping %s", err)
        raise CorruptImageError(f"every image under {getattr(self, 'root', '?')} is corrupt")


class RobustImageFolder(_SkipCorruptMixin, ImageFolder):
    """torchvision ImageFolder (root/<class>/<image>) whose loader converts every image to RGB."""

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 skip_corrupt: bool = False) -> None:
        super().__init__(str(root), transform=transform, loader=load_rgb)
        self._init_skip(skip_corrupt)

    def _path_of(self, index: int) -> str:
        return self.samples[index][0]

    def __getitem__(self, index: int):
        return self._get_with_skip(index, super().__getitem__)


class UnlabeledImageFolder(_SkipCorruptMixin, Dataset):
    """Every image file under root (recursively) with label -1, for `no_labels: true` pretraining."""

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 skip_corrupt: bool = False) -> None:
        self.root = str(root)
        self.transform = transform
        self.files = sorted(str(p) for p in Path(root).rglob("*")
                            if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not self.files:
            raise FileNotFoundError(f"no image files ({', '.join(IMG_EXTENSIONS)}) found under {root}")
        self.targets = [-1] * len(self.files)
        self._init_skip(skip_corrupt)

    def _path_of(self, index: int) -> str:
        return self.files[index]

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int):
        img = load_rgb(self.files[index])
        return (self.transform(img) if self.transform is not None else img), -1

    def __getitem__(self, index: int):
        return self._get_with_skip(index, self._load)

"""Images/s of the DALI CPU pipeline vs the torchvision DataLoader on one generated JPEG folder.

Both loaders read the same ImageFolder with the same two-view augmentation list (solo-learn's
ImageNet BYOL "asymmetric" pipelines); the first epoch of each is a warm-up and is not timed.

    python benchmarks/data_throughput.py --num-images 512 --size 256 --crop 224 --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from solo_coss.data import build_pretrain_dataloader

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "retina",
    "hubble_deep_field",
    "immunohistochemistry",
    "camera",
)


def byol_augmentations(crop: int) -> list[dict]:
    def view(blur: float, solarize: float) -> dict:
        return {
            "rrc": {"enabled": True, "crop_min_scale": 0.08, "crop_max_scale": 1.0},
            "color_jitter": {"prob": 0.8, "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1},
            "grayscale": {"prob": 0.2},
            "gaussian_blur": {"prob": blur},
            "solarization": {"prob": solarize},
            "equalization": {"prob": 0.0},
            "horizontal_flip": {"prob": 0.5},
            "crop_size": crop,
            "num_crops": 1,
        }
    return [view(1.0, 0.0), view(0.1, 0.2)]


def load_photos() -> list[np.ndarray]:
    import skimage.data

    photos = []
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        photos.append(np.asarray(img[..., :3], dtype=np.uint8))
    return photos


def make_jpeg_folder(root: Path, num_images: int, size: int, num_classes: int = 4, seed: int = 0) -> None:
    """num_images JPEGs (size x size): random crops of scikit-image photos, one photo per class folder."""
    rng = np.random.default_rng(seed)
    photos = load_photos()
    for i in range(num_images):
        label = i % num_classes
        photo = photos[(label + num_classes * int(rng.integers(0, 2))) % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(photo[y:y + side, x:x + side]).resize((size, size), Image.BILINEAR)
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{i:05d}.jpg", quality=90)


def images_per_second(loader, name: str, epochs: int) -> float:
    """Steady-state images/s (each image yielding all its views) over `epochs` epochs after a warm-up epoch.

    The clock starts at the first timed batch and that batch is not counted, so neither loader profits
    from batches it prefetched before the timing began (DALI keeps running ahead across the epoch reset).
    """
    for _ in tqdm(loader, desc=f"{name} warm-up", leave=False):
        pass
    count, start = 0, None
    for epoch in range(epochs):
        for views, labels in tqdm(loader, desc=f"{name} timed {epoch + 1}/{epochs}", leave=False):
            assert views[0].dtype == torch.float32
            if start is None:
                start = time.perf_counter()
            else:
                count += len(labels)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=512)
    parser.add_argument("--size", type=int, default=256, help="side of the generated JPEGs")
    parser.add_argument("--crop", type=int, default=224, help="crop_size of both views")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers / DALI CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_jpeg_folder(root, args.num_images, args.size)
        aug = byol_augmentations(args.crop)
        data = {"dataset": "custom", "train_path": str(root), "num_workers": args.workers}
        torchvision_loader = build_pretrain_dataloader(
            {**data, "format": "image_folder"}, aug, args.batch_size
        )
        dali_loader = build_pretrain_dataloader({**data, "format": "dali", "dali_device": "cpu"}, aug,
                                                args.batch_size)
        tv = images_per_second(torchvision_loader, "torchvision", args.epochs)
        dali = images_per_second(dali_loader, "dali-cpu", args.epochs)
    print(
        f"{args.num_images} JPEGs {args.size}x{args.size}, 2 views of {args.crop}px (solo BYOL "
        "augmentations), "
        f"batch {args.batch_size}, {args.workers} workers/threads, {args.epochs} timed epochs, "
        f"torch {torch.__version__}"
    )
    print(f"torchvision DataLoader : {tv:7.1f} images/s")
    print(f"DALI CPU pipeline      : {dali:7.1f} images/s")
    print(f"DALI / torchvision     : {dali / tv:7.2f}x")


if __name__ == "__main__":
    main()

"""Augmentations from solo-learn's list-of-pipelines schema, built from torchvision transforms.

Each pipeline in ``augmentations`` yields ``num_crops`` views; views come out in pipeline order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image, ImageOps
from torchvision import transforms as T

PIPELINE_KEYS = ("rrc", "color_jitter", "grayscale", "gaussian_blur", "solarization", "equalization",
                 "horizontal_flip", "crop_size", "num_crops")
_SUB_KEYS = {
    "rrc": ("enabled", "crop_min_scale", "crop_max_scale"),
    "color_jitter": ("prob", "brightness", "contrast", "saturation", "hue"),
    "grayscale": ("prob",),
    "gaussian_blur": ("prob", "sigma_min", "sigma_max"),
    "solarization": ("prob",),
    "equalization": ("prob",),
    "horizontal_flip": ("prob",),
}


def _check_keys(where: str, given, valid) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; valid keys: {list(valid)}")


class _Equalize:
    def __call__(self, img: Image.Image) -> Image.Image:
        return ImageOps.equalize(img)


class _Solarize:
    def __call__(self, img: Image.Image) -> Image.Image:
        return ImageOps.solarize(img, 128)


def _maybe(prob: float, transform) -> list:
    return [T.RandomApply([transform], p=prob)] if prob > 0 else []


def build_view_transform(pipeline: dict[str, Any], mean: Sequence[float], std: Sequence[float]) -> T.Compose:
    """One augmentation pipeline (a dict of the schema above) -> PIL image to normalised tensor."""
    _check_keys("an augmentation pipeline", pipeline, PIPELINE_KEYS)
    for key, sub in _SUB_KEYS.items():
        _check_keys(f"augmentations.{key}", pipeline.get(key) or {}, sub)
    size = int(pipeline.get("crop_size", 224))
    rrc = pipeline.get("rrc") or {}
    ops: list = []
    if rrc.get("enabled", True):
        scale = (float(rrc.get("crop_min_scale", 0.08)), float(rrc.get("crop_max_scale", 1.0)))
        ops.append(T.RandomResizedCrop(size, scale=scale, interpolation=T.InterpolationMode.BICUBIC))
    else:
        ops += [T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size)]
    cj = pipeline.get("color_jitter") or {}
    ops += _maybe(float(cj.get("prob", 0.0)), T.ColorJitter(cj.get("brightness", 0.4), cj.get("contrast", 0.4),
                                                           cj.get("saturation", 0.2), cj.get("hue", 0.1)))
    ops += [T.RandomGrayscale(p=float((pipeline.get("grayscale") or {}).get("prob", 0.0)))]
    blur = pipeline.get("gaussian_blur") or {}
    kernel = max(3, (size // 10) | 1)  # about 10% of the crop, odd (as in SimCLR)
    ops += _maybe(float(blur.get("prob", 0.0)),
                  T.GaussianBlur(kernel, sigma=(blur.get("sigma_min", 0.1), blur.get("sigma_max", 2.0))))
    ops += _maybe(float((pipeline.get("solarization") or {}).get("prob", 0.0)), _Solarize())
    ops += _maybe(float((pipeline.get("equalization") or {}).get("prob", 0.0)), _Equalize())
    ops += [T.RandomHorizontalFlip(p=float((pipeline.get("horizontal_flip") or {}).get("prob", 0.5)))]
    ops += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(ops)


class MultiViewTransform:
    """Applies every pipeline ``num_crops`` times: image -> list of view tensors."""

    def __init__(self, augmentations: Sequence[dict[str, Any]], mean, std):
        if not augmentations:
            raise ValueError("augmentations must list at least one pipeline")
        self.views = []
        for pipeline in augmentations:
            transform = build_view_transform(pipeline, mean, std)
            self.views += [transform] * int(pipeline.get("num_crops", 1))

    @property
    def num_views(self) -> int:
        return len(self.views)

    def __call__(self, img: Image.Image) -> list[torch.Tensor]:
        return [view(img) for view in self.views]


def build_pretrain_transform(augmentations: Sequence[dict[str, Any]], mean, std) -> MultiViewTransform:
    return MultiViewTransform(augmentations, mean, std)


def build_eval_transform(crop_size: int, mean, std, train: bool = False) -> T.Compose:
    """Linear-probe / kNN transform: resize + centre crop (eval), or a light crop + flip (train=True)."""
    if train:
        ops = [T.RandomResizedCrop(crop_size, scale=(0.5, 1.0), interpolation=T.InterpolationMode.BICUBIC),
               T.RandomHorizontalFlip()]
    else:
        resize = crop_size if crop_size < 64 else int(round(crop_size / 0.875))
        ops = [T.Resize(resize, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(crop_size)]
    return T.Compose(ops + [T.ToTensor(), T.Normalize(mean, std)])

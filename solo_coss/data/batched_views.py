"""solo-learn's augmentation schema (the list transforms.py reads) applied to a whole batch of in-memory
images at once, every sample with its own random parameters.

Same ops, order, probabilities and parameter ranges as the per-image torchvision path
(`transforms.build_view_transform`): random-resized crop (scale range, aspect ratio 3/4-4/3, torchvision's
10 tries then centre-crop fallback, bicubic), colour jitter with probability (brightness, contrast,
saturation, hue in a random order per sample), grayscale, Gaussian blur (sigma 0.1-2), solarization
(threshold 128), equalization, horizontal flip, normalisation with the pipeline's mean/std. Every random
number is drawn from the `generator` passed in (all of them for every sample, whatever the coin flips
give), so a batch's views are a function of its images and that generator's seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

import solo_coss.data.batched_ops as ops
from solo_coss.data.transforms import BLUR_SIGMAS, SOLARIZE_THRESHOLD, normalize_augmentations

RATIO = (3.0 / 4.0, 4.0 / 3.0)
ATTEMPTS = 10  # torchvision's RandomResizedCrop tries
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")
_JITTER_FNS = {"brightness": ops.adjust_brightness, "contrast": ops.adjust_contrast,
               "saturation": ops.adjust_saturation, "hue": ops.adjust_hue}


def _uniform(shape, lo: float, hi: float, generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator, dtype=torch.float64)


def rrc_params(n: int, height: int, width: int, scale: tuple[float, float],
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """(top, left, crop height, crop width), int64 (n,) each: torchvision's RandomResizedCrop.make_params
    for n images at once (first of 10 tries that fits, else the centre crop clamped to the ratio range)."""
    area = height * width
    target = area * _uniform((n, ATTEMPTS), scale[0], scale[1], generator)
    aspect = torch.exp(_uniform((n, ATTEMPTS), math.log(RATIO[0]), math.log(RATIO[1]), generator))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.long().argmax(1, keepdim=True)  # index of the first try that fits
    w, h, found = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], fits.any(1)
    in_ratio = width / height
    if in_ratio < RATIO[0]:
        fall_w, fall_h = width, int(round(width / RATIO[0]))
    elif in_ratio > RATIO[1]:
        fall_w, fall_h = int(round(height * RATIO[1])), height
    else:
        fall_w, fall_h = width, height
    w = torch.where(found, w, float(fall_w))
    h = torch.where(found, h, float(fall_h))
    u_top, u_left = torch.rand((2, n), generator=generator, dtype=torch.float64)
    top = torch.where(found, torch.floor(u_top * (height - h + 1)), torch.floor((height - h) / 2))
    left = torch.where(found, torch.floor(u_left * (width - w + 1)), torch.floor((width - w) / 2))
    return top.long(), left.long(), h.long(), w.long()


def jitter_ranges(color_jitter: Mapping[str, Any]) -> dict[str, tuple[float, float] | None]:
    """Factor range of each jitter op as torchvision's ColorJitter reads it (None: op off).
    A number v means [max(0, 1 - v), 1 + v] (hue: [-v, v]); a pair is taken as the range."""
    ranges: dict[str, tuple[float, float] | None] = {}
    for name in JITTER_OPS:
        value = color_jitter.get(name, 0.0)
        centre, bound = (0.0, 0.5) if name == "hue" else (1.0, math.inf)
        if isinstance(value, (int, float)):
            if value < 0:
                raise ValueError(f"color_jitter.{name} must be >= 0, got {value}")
            lo, hi = centre - value, centre + value
            lo = max(lo, 0.0) if name != "hue" else lo
        elif isinstance(value, Sequence) and len(value) == 2:
            lo, hi = float(value[0]), float(value[1])
        else:
            raise ValueError(f"color_jitter.{name} must be a number or a [min, max] pair, got {value!r}")
        if not (-bound <= lo <= hi <= bound) or (name != "hue" and lo < 0):
            limits = "[-0.5, 0.5]" if name == "hue" else "[0, inf)"
            raise ValueError(f"color_jitter.{name} range ({lo}, {hi}) must be ordered and within {limits}")
        ranges[name] = None if lo == hi == centre else (lo, hi)
    return ranges


def jitter_params(n: int, ranges: Mapping[str, tuple[float, float] | None], prob: float,
                  generator: torch.Generator | None = None):
    """(applied (n,) bool, factors {op: (n,) float}, order (n, 4) int64: a random permutation of
    JITTER_OPS per sample, as ColorJitter's randperm(4))."""
    applied = torch.rand(n, generator=generator, dtype=torch.float64) < prob
    factors = {}
    for name in JITTER_OPS:
        lo, hi = ranges.get(name) or (0.0, 0.0)
        factors[name] = _uniform(n, lo, hi, generator).float()
    order = torch.argsort(torch.rand((n, len(JITTER_OPS)), generator=generator), dim=1)
    return applied, factors, order


def _coin(n: int, prob: float, generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64) < prob


class BatchedView:
    """One pipeline (a normalised item of the augmentation list): uint8 or 0..255 float images
    (B, C, H, W), C = 1 or 3, -> normalised float32 views (B, 3, crop_size, crop_size)."""

    def __init__(self, cfg: dict[str, Any], mean: Sequence[float], std: Sequence[float]):
        self.cfg = cfg
        self.size = int(cfg["crop_size"])
        self.mean = list(cfg["mean"] if cfg["mean"] is not None else mean)
        self.std = list(cfg["std"] if cfg["std"] is not None else std)
        self.jitter = jitter_ranges(cfg["color_jitter"])

    def crop(self, x: torch.Tensor, generator) -> torch.Tensor:
        rrc = self.cfg["rrc"]
        if not rrc["enabled"]:
            return ops.resize_center_crop(x, self.size)
        scale = (float(rrc["crop_min_scale"]), float(rrc["crop_max_scale"]))
        top, left, h, w = rrc_params(len(x), x.shape[-2], x.shape[-1], scale, generator)
        return ops.resized_crop(x, top, left, h, w, self.size)

    def color_jitter(self, x: torch.Tensor, generator) -> torch.Tensor:
        applied, factors, order = jitter_params(
            len(x), self.jitter, self.cfg["color_jitter"]["prob"], generator
        )
        for slot in range(len(JITTER_OPS)):
            for index, name in enumerate(JITTER_OPS):
                chosen = applied & (order[:, slot] == index)
                if self.jitter[name] is not None and chosen.any():
                    x[chosen] = _JITTER_FNS[name](x[chosen], factors[name][chosen])
        return x

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected images (B, 1 or 3, H, W), got shape {tuple(images.shape)}")
        cfg, n = self.cfg, len(images)
        # Grey (1-channel) images stay 1-channel until normalize replicates them: every op gives the
        # same pixels on R = G = B as on one channel (saturation, hue and grayscale leave grey unchanged).
        x = self.crop(images.float(), generator)
        if cfg["color_jitter"]["prob"] > 0:
            x = self.color_jitter(x, generator)
        if cfg["grayscale"]["prob"] > 0:
            gray = _coin(n, cfg["grayscale"]["prob"], generator)
            if x.shape[1] == 3:
                x[gray] = ops.luma(x[gray]).expand(-1, 3, -1, -1)
        if cfg["gaussian_blur"]["prob"] > 0:
            blur = _coin(n, cfg["gaussian_blur"]["prob"], generator)
            sigma = _uniform(n, *BLUR_SIGMAS, generator)
            if blur.any():
                x[blur] = ops.gaussian_blur(x[blur], sigma[blur])
        if cfg["solarization"]["prob"] > 0:
            sol = _coin(n, cfg["solarization"]["prob"], generator)
            x[sol] = ops.solarize(x[sol], SOLARIZE_THRESHOLD)
        if cfg["equalization"]["prob"] > 0:
            eq = _coin(n, cfg["equalization"]["prob"], generator)
            if eq.any():
                x[eq] = ops.equalize(x[eq])
        if cfg["horizontal_flip"]["prob"] > 0:
            flip = _coin(n, cfg["horizontal_flip"]["prob"], generator)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        return ops.normalize(x, self.mean, self.std)


class BatchedViews:
    """The whole augmentation list: images -> list of views, num_crops of each pipeline in order."""

    def __init__(self, augmentations: Sequence[Mapping], mean: Sequence[float], std: Sequence[float]):
        self.pipelines = [BatchedView(cfg, mean, std) for cfg in normalize_augmentations(augmentations)]

    @property
    def num_views(self) -> int:
        return sum(p.cfg["num_crops"] for p in self.pipelines)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return [view(images, generator) for view in self.pipelines for _ in range(view.cfg["num_crops"])]

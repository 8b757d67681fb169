"""solo-learn's augmentation-list schema -> multi-view transforms built from torchvision v2 and lightly ops.

One pipeline (a YAML list item) looks like::

    rrc: {enabled: true, crop_min_scale: 0.08, crop_max_scale: 1.0}
    color_jitter: {prob: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1}
    grayscale: {prob: 0.2}
    gaussian_blur: {prob: 0.0}
    solarization: {prob: 0.0}
    equalization: {prob: 0.0}
    horizontal_flip: {prob: 0.5}
    crop_size: 32
    num_crops: 1

Omitted blocks default to "off" (rrc to enabled with scale 0.08-1.0); crop_size is required.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from lightly.transforms.gaussian_blur import GaussianBlur
from lightly.transforms.multi_view_transform import MultiViewTransform
from torchvision.transforms import v2

from solo_coss.core import check_keys

PIPELINE_DEFAULTS: dict[str, Any] = {
    "rrc": {"enabled": True, "crop_min_scale": 0.08, "crop_max_scale": 1.0},
    "color_jitter": {"prob": 0.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0},
    "grayscale": {"prob": 0.0},
    "gaussian_blur": {"prob": 0.0},
    "solarization": {"prob": 0.0},
    "equalization": {"prob": 0.0},
    "horizontal_flip": {"prob": 0.0},
    "crop_size": None,
    "num_crops": 1,
    "mean": None,  # optional per-pipeline override, as in solo-learn
    "std": None,
}
BLUR_SIGMAS = (0.1, 2.0)  # PIL radius range, as solo-learn
SOLARIZE_THRESHOLD = 128
BICUBIC = v2.InterpolationMode.BICUBIC


def _plain(obj: Any) -> Any:
    """omegaconf containers / mappings -> plain dicts (without importing omegaconf)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    return obj


def normalize_pipeline(pipeline: Mapping) -> dict[str, Any]:
    """Validate one augmentation pipeline and fill in defaults; ValueError naming bad keys/values."""
    given = _plain(pipeline)
    if not isinstance(given, dict):
        raise ValueError(f"an augmentation pipeline must be a mapping, got {type(pipeline).__name__}")
    check_keys("augmentations", given, PIPELINE_DEFAULTS)
    cfg = copy.deepcopy(PIPELINE_DEFAULTS)
    for key, value in given.items():
        default = PIPELINE_DEFAULTS[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ValueError(f"augmentation key {key!r} must be a mapping with keys {sorted(default)}")
            check_keys(f"augmentations.{key}", value, default)
            cfg[key].update(value)
        else:
            cfg[key] = value
    if not isinstance(cfg["crop_size"], int) or cfg["crop_size"] < 1:
        raise ValueError(f"augmentation crop_size must be a positive int, got {cfg['crop_size']!r}")
    if not isinstance(cfg["num_crops"], int) or cfg["num_crops"] < 1:
        raise ValueError(f"augmentation num_crops must be a positive int, got {cfg['num_crops']!r}")
    for key, block in cfg.items():
        if isinstance(block, dict) and "prob" in block and not 0.0 <= float(block["prob"]) <= 1.0:
            raise ValueError(f"{key}.prob must be in [0, 1], got {block['prob']}")
    lo, hi = cfg["rrc"]["crop_min_scale"], cfg["rrc"]["crop_max_scale"]
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(
            f"rrc scale range must satisfy 0 < crop_min_scale <= crop_max_scale <= 1, got ({lo}, {hi})"
        )
    return cfg


def pretrain_crop_size(augmentations: Sequence[Mapping]) -> int:
    """The large-crop size: the first pipeline's crop_size (solo-learn's rule), which evaluation reuses."""
    return int(normalize_augmentations(augmentations)[0]["crop_size"])


def normalize_augmentations(augmentations: Sequence[Mapping]) -> list[dict[str, Any]]:
    if isinstance(augmentations, Mapping) or not len(augmentations):
        raise ValueError("augmentations must be a non-empty list of pipelines (solo-learn's schema)")
    return [normalize_pipeline(p) for p in augmentations]


def _to_normalized_tensor(mean: Sequence[float], std: Sequence[float]) -> list[Callable]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


def build_view_transform(cfg: dict[str, Any], mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """One view: PIL RGB image -> normalised float tensor (3, crop_size, crop_size)."""
    size = cfg["crop_size"]
    if cfg["rrc"]["enabled"]:
        scale = (cfg["rrc"]["crop_min_scale"], cfg["rrc"]["crop_max_scale"])
        ops: list[Callable] = [v2.RandomResizedCrop(size, scale=scale, interpolation=BICUBIC, antialias=True)]
    else:
        ops = [v2.Resize(size, interpolation=BICUBIC, antialias=True), v2.CenterCrop(size)]
    cj = cfg["color_jitter"]
    if cj["prob"] > 0:
        jitter = v2.ColorJitter(cj["brightness"], cj["contrast"], cj["saturation"], cj["hue"])
        ops.append(v2.RandomApply([jitter], p=cj["prob"]))
    if cfg["grayscale"]["prob"] > 0:
        ops.append(v2.RandomGrayscale(p=cfg["grayscale"]["prob"]))
    if cfg["gaussian_blur"]["prob"] > 0:
        ops.append(GaussianBlur(prob=cfg["gaussian_blur"]["prob"], sigmas=BLUR_SIGMAS))
    if cfg["solarization"]["prob"] > 0:
        ops.append(v2.RandomSolarize(SOLARIZE_THRESHOLD, p=cfg["solarization"]["prob"]))
    if cfg["equalization"]["prob"] > 0:
        ops.append(v2.RandomEqualize(p=cfg["equalization"]["prob"]))
    if cfg["horizontal_flip"]["prob"] > 0:
        ops.append(v2.RandomHorizontalFlip(p=cfg["horizontal_flip"]["prob"]))
    mean = cfg["mean"] if cfg["mean"] is not None else mean
    std = cfg["std"] if cfg["std"] is not None else std
    return v2.Compose(ops + _to_normalized_tensor(mean, std))


def build_pretrain_transform(augmentations: Sequence[Mapping], mean: Sequence[float],
                             std: Sequence[float]) -> MultiViewTransform:
    """PIL image -> list of view tensors, num_crops of each pipeline in pipeline order.

    Each view is (3, crop_size, crop_size) float32, normalised with (mean, std). Images smaller than the
    crop are upsampled by the (random-resized) crop.
    """
    views: list[Callable] = []
    for cfg in normalize_augmentations(augmentations):
        view = build_view_transform(cfg, mean, std)
        views.extend([view] * cfg["num_crops"])
    return MultiViewTransform(views)


def build_eval_transform(crop_size: int, mean: Sequence[float], std: Sequence[float], train: bool,
                         min_scale: float = 0.08) -> v2.Compose:
    """Linear-probe / kNN transform: PIL image -> (3, crop_size, crop_size) normalised tensor.

    train: random-resized crop (scale min_scale..1) + horizontal flip, as solo-learn's linear stage.
    eval: resize the short side (to crop_size/0.875 for crops >= 128 px, ImageNet style; to crop_size
    for small images) then center-crop.
    """
    if crop_size < 1:
        raise ValueError(f"crop_size must be a positive int, got {crop_size}")
    if train:
        ops: list[Callable] = [
            v2.RandomResizedCrop(crop_size, scale=(min_scale, 1.0), interpolation=BICUBIC, antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    else:
        resize = round(crop_size / 0.875) if crop_size >= 128 else crop_size
        ops = [v2.Resize(resize, interpolation=BICUBIC, antialias=True), v2.CenterCrop(crop_size)]
    return v2.Compose(ops + _to_normalized_tensor(mean, std))


SQUASHED = ("cifar10", "cifar100", "fashion_mnist", "stl10")  # resized to crop x crop; others center-cropped


def linear_eval_resize(dataset: str) -> tuple[str, float]:
    """(crop_mode, crop_pct) of the linear evaluation's validation resize in timm's terms (what an export's
    pretrained_cfg records): "squash" to crop x crop, or the short side to crop / 0.875 then "center"."""
    return ("squash", 1.0) if dataset in SQUASHED else ("center", 0.875)


def build_linear_transforms(dataset: str, crop_size: int, mean: Sequence[float], std: Sequence[float]):
    """(train, val) transforms of solo-learn's linear evaluation (and offline kNN): random-resized crop
    (0.08-1, bilinear) + flip for training; for validation nothing on 32 px sets (CIFAR, Fashion-MNIST),
    a resize to crop x crop on STL-10, resize to crop / 0.875 + center crop on ImageNet-style sets."""
    train = v2.Compose([v2.RandomResizedCrop(crop_size, scale=(0.08, 1.0), antialias=True),
                        v2.RandomHorizontalFlip(), *_to_normalized_tensor(mean, std)])
    mode, crop_pct = linear_eval_resize(dataset)
    if mode == "squash":
        native = dataset != "stl10" and crop_size == 32
        resize: list[Callable] = [] if native else [v2.Resize((crop_size, crop_size), antialias=True)]
    else:
        resize = [v2.Resize(round(crop_size / crop_pct), antialias=True), v2.CenterCrop(crop_size)]
    return train, v2.Compose([*resize, *_to_normalized_tensor(mean, std)])

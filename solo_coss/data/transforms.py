"""solo-learn's augmentation-list schema -> multi-view transforms (torchvision v2 + lightly ops)."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def build_pretrain_transform(augmentations: list[dict], mean: Sequence[float],
                             std: Sequence[float]) -> Callable:
    raise NotImplementedError


def build_eval_transform(crop_size: int, mean: Sequence[float], std: Sequence[float],
                         train: bool) -> Callable:
    raise NotImplementedError

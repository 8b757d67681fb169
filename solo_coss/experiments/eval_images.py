"""The validation images the evaluation experiments look at, read as a run's config describes them."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Subset

from solo_coss.data.datasets import build_dataset, dataset_stats
from solo_coss.data.transforms import build_eval_transform, pretrain_crop_size


def eval_images(cfg: dict, num_images: int, pixel_space: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``num_images`` of a fixed random order of the validation split, as tensors: in [0, 1]
    (``pixel_space``) or normalised like the pretraining data."""
    data = cfg["data"]
    mean, std = dataset_stats(data["dataset"])
    if pixel_space:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    crop = pretrain_crop_size(cfg["augmentations"])
    dataset = build_dataset(data["dataset"], data.get("val_path") or data.get("train_path"), False,
                            build_eval_transform(crop, mean, std, train=False), image_size=data.get("image_size") or 32)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:num_images]
    x, y = next(iter(DataLoader(Subset(dataset, order.tolist()), batch_size=len(order))))
    return x, torch.as_tensor(y)

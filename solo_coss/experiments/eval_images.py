"""The validation images the evaluation experiments look at, read as a run's config describes them."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from solo_coss.data.spec import resolve_data
from solo_coss.data.transforms import build_eval_transform, pretrain_crop_size


def eval_subset(cfg: dict, num_images: int | None, pixel_space: bool = False, train: bool = False) -> Dataset:
    """The first ``num_images`` (None: all) of a fixed random order of the validation split (``train``: the
    training split), resized and centre-cropped to the pretraining crop, in [0, 1] (``pixel_space``) or
    normalised like the pretraining data."""
    data = resolve_data(cfg["data"])
    mean, std = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) if pixel_space else (data.mean, data.std)
    dataset = data.build(train, build_eval_transform(pretrain_crop_size(cfg["augmentations"]), mean, std,
                                                     train=False))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:num_images]
    return Subset(dataset, order.tolist())


def eval_images(cfg: dict, num_images: int, pixel_space: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``eval_subset`` as two tensors (images, labels)."""
    subset = eval_subset(cfg, num_images, pixel_space)
    x, y = next(iter(DataLoader(subset, batch_size=len(subset))))
    return x, torch.as_tensor(y)

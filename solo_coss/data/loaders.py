"""DataLoaders from the `data:` block (solo-learn's schema plus a few keys of ours).

`data.format` picks the decoding path: "image_folder" (PIL + torchvision transforms in DataLoader
workers, any dataset) or "dali" (NVIDIA DALI, ImageFolder/JPEG datasets only). Both yield the same
batches: pretraining (list of view tensors (B, 3, S, S), labels (B,)); evaluation (images, labels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from solo_coss.data.batched_loader import build_batched_pretrain_loader
from solo_coss.data.spec import DataSpec, resolve_data
from solo_coss.data.subsets import take_fraction
from solo_coss.data.transforms import build_eval_transform, build_pretrain_transform


def corrupt_count(loader_or_dataset: Any) -> int:
    """Images skipped as undecodable so far (data.skip_corrupt=true), summed over DataLoader workers."""
    dataset = getattr(loader_or_dataset, "dataset", loader_or_dataset)
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return int(getattr(dataset, "num_corrupt", 0))


def _loader(dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool, drop_last: bool,
            seed: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=drop_last, pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0,
                      generator=torch.Generator().manual_seed(seed))


def batches_per_rank(loader, world_size: int) -> int:
    """Batches one of ``world_size`` ranks draws from ``loader`` in an epoch. The batched and DALI loaders,
    and a DataLoader whose sampler is a DistributedSampler, shard by rank themselves (their len is the rank's
    once torch.distributed runs); another DataLoader is sharded by Lightning's DistributedSampler:
    ceil(N / world_size) samples per rank."""
    if (
        not isinstance(loader, DataLoader)
        or world_size == 1
        or isinstance(loader.sampler, DistributedSampler)
    ):
        return len(loader)
    samples = math.ceil(len(loader.dataset) / world_size)
    return samples // loader.batch_size if loader.drop_last else math.ceil(samples / loader.batch_size)


def build_pretrain_dataloader(
    data: Mapping[str, Any] | DataSpec,
    augmentations: Sequence[Mapping],
    batch_size: int,
    num_workers: int | None = None,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
):
    """The pretraining loader of the ``data`` block.

    Args:
        data: the config's ``data`` block, or its ``resolve_data`` (resolved here when it is the block).
        augmentations: the config's pipelines (solo-learn's schema), one view per crop of each.
        batch_size: images per batch (per rank).
        num_workers, seed, shuffle, drop_last: as a DataLoader's; ``seed`` fixes the order and the views.

    Returns:
        Batches of (list of view tensors (B, 3, S_v, S_v), labels (B,)), views in pipeline order:
        format=image_folder -> torch DataLoader (augment_on=sample) or a BatchedViewLoader (augment_on=batch);
        format=dali -> a DALI iterator with the same batches. ``batches_per_rank`` gives its epoch length.
    """
    spec = resolve_data(data)
    workers = spec.num_workers if num_workers is None else int(num_workers)
    if spec.format == "dali":
        from solo_coss.data.dali import build_dali_pretrain_loader

        return build_dali_pretrain_loader(spec, augmentations, batch_size, num_threads=max(1, workers),
                                          seed=seed, shuffle=shuffle, drop_last=drop_last)
    if spec.augment_on == "batch":
        dataset = take_fraction(spec.build(True, None, pretraining=True), spec.fraction, seed)
        return build_batched_pretrain_loader(
            dataset,
            augmentations,
            spec.mean,
            spec.std,
            batch_size,
            seed=seed,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=workers,
        )
    dataset = spec.build(True, build_pretrain_transform(augmentations, spec.mean, spec.std), pretraining=True)
    dataset = take_fraction(dataset, spec.fraction, seed)
    return _loader(dataset, batch_size, workers, shuffle=shuffle, drop_last=drop_last, seed=seed)


def build_eval_dataloaders(data: Mapping[str, Any] | DataSpec, batch_size: int, crop_size: int | None = None,
                           train_augment: bool = False, num_workers: int | None = None,
                           seed: int = 0, transforms: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """(train, val) loaders of (images (B, 3, S, S), labels (B,)) for kNN and linear evaluation.

    ``data``: the ``data`` block or its ``resolve_data``. crop_size defaults to the dataset's native size (32
    for Fashion-MNIST/CIFAR, 96 STL-10, 224 ImageNet). train_augment: random-resized crop + flip on the
    training split (linear training); the validation split is always resized + center-cropped. val_path
    defaults to train_path (the ImageFolder `val/` subfolder is then used when it exists). ``transforms``:
    (train, val) transforms to use instead (torchvision path only).
    """
    train_transform, val_transform = transforms or (None, None)
    spec = resolve_data(data)
    return (
        _eval_loader(spec, batch_size, crop_size, True, train_augment, num_workers, seed, train_transform),
        build_val_dataloader(spec, batch_size, crop_size, num_workers, seed, val_transform),
    )


def build_val_dataloader(data: Mapping[str, Any] | DataSpec, batch_size: int, crop_size: int | None = None,
                         num_workers: int | None = None, seed: int = 0, transform: Any = None) -> Any:
    """The validation loader of build_eval_dataloaders alone (the training split is not read)."""
    return _eval_loader(resolve_data(data), batch_size, crop_size, False, False, num_workers, seed, transform)


def _eval_loader(spec: DataSpec, batch_size: int, crop_size: int | None, train: bool,
                 augment: bool, num_workers: int | None, seed: int, transform: Any = None) -> Any:
    crop_size = crop_size or spec.native_size
    workers = spec.num_workers if num_workers is None else int(num_workers)
    if spec.format == "dali":
        from solo_coss.data.dali import build_dali_eval_loader

        return build_dali_eval_loader(spec, batch_size, train=train, augment=augment, crop_size=crop_size,
                                      num_threads=max(1, workers), seed=seed)
    transform = transform or build_eval_transform(crop_size, spec.mean, spec.std, train=augment)
    dataset = take_fraction(spec.build(train, transform), spec.fraction_of(train), seed)
    return _loader(dataset, batch_size, workers, shuffle=augment, drop_last=False, seed=seed)

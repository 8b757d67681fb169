"""Pretraining batches augmented on the whole batch in the training process (`data.augment_on: batch`).

For datasets held in memory as uint8 arrays (Fashion-MNIST): no DataLoader workers competing with the
compute threads for the cores, no per-image PIL work; the views are made by `BatchedViews` between
training steps. Batches have the DataLoader's format: (list of views (B, 3, S, S) float32, labels (B,)).

Everything random is a function of (seed, epoch, batch index, rank): the epoch's permutation is seeded by
(seed, epoch), each batch's augmentation generator by (seed, epoch, rank, batch index). Skipping the first
k batches of an epoch (`sampler.skip`, in samples, as hosts/standalone/resumable.ResumeCallback sets it)
therefore yields exactly the batches k, k+1, ... of the uninterrupted epoch. Lightning calls
`sampler.set_epoch` at each epoch start; used without Lightning the epoch advances by itself per pass.
Under torch.distributed each rank takes every world_size-th sample of the permutation (equal counts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from solo_coss.core.distributed import world_info
from solo_coss.data.batched_views import BatchedViews


def mix_seed(*parts: int) -> int:
    """A 63-bit generator seed from integers, different for every tuple (unlike sums or products)."""
    digest = hashlib.blake2b(",".join(str(int(p)) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class InMemoryViews(Dataset):
    """uint8 images (N, C, H, W) + labels with the batched augmentation. Indexing one sample draws from the
    global torch RNG, which hosts/standalone/resumable.SeededSamples seeds per (seed, epoch, index), so
    re-wrapping this dataset in a per-sample DataLoader stays deterministic (and uses the same ops)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, views: BatchedViews):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.views = images, labels.long(), views
        self.targets = self.labels.tolist()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        views = self.views(self.images[index:index + 1])
        return [v[0] for v in views], int(self.labels[index])


class EpochBatches:
    """The loader's sampler: epoch permutation, `set_epoch` (Lightning), `skip` (samples to drop at the
    start of the next pass, a multiple of the batch size)."""

    def __init__(self, num_samples: int, seed: int, shuffle: bool):
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.epoch, self.skip, self._epoch_used = 0, 0, False

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._epoch_used = int(epoch), False

    def next_pass(self) -> tuple[int, int]:
        """(epoch, samples to skip) of the pass about to start."""
        if self._epoch_used:  # a second pass without set_epoch: the next epoch
            self.epoch += 1
        self._epoch_used = True
        skip, self.skip = self.skip, 0
        return self.epoch, skip

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        return torch.randperm(
            self.num_samples, generator=torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        )

    def __len__(self) -> int:
        return self.num_samples


class BatchedViewLoader:
    """Iterable of (views, labels) batches; `len()` is the number of batches (of this rank).

    `num_workers` is not used by this loader; it is kept for code that rebuilds a per-sample DataLoader
    from `.dataset` (hosts/standalone/resumable.resumable_loader)."""

    pin_memory = False

    def __init__(self, dataset: InMemoryViews, batch_size: int, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = True, num_workers: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size}")
        self.dataset, self.batch_size, self.seed = dataset, int(batch_size), int(seed)
        self.drop_last, self.num_workers = drop_last, num_workers
        self.sampler = EpochBatches(len(dataset), seed, shuffle)

    def _rank_samples(self) -> int:
        _, world = world_info()
        return len(self.dataset) // world

    def __len__(self) -> int:
        n = self._rank_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_generator(self, epoch: int, batch: int) -> torch.Generator:
        rank, _ = world_info()
        return torch.Generator().manual_seed(mix_seed(self.seed, epoch, rank, batch))

    def __iter__(self):
        epoch, skip = self.sampler.next_pass()
        if skip % self.batch_size:
            raise ValueError(f"sampler.skip={skip} is not a multiple of the batch size {self.batch_size}")
        rank, world = world_info()
        order = self.sampler.order(epoch)[: self._rank_samples() * world][rank::world]
        for batch in range(skip // self.batch_size, len(self)):
            idx = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            views = self.dataset.views(self.dataset.images[idx], self.batch_generator(epoch, batch))
            yield views, self.dataset.labels[idx]


def fashion_mnist_arrays(subset) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 1, S, S) images and labels of a FashionMNIST dataset (or a Subset of one), resized by
    the dataset itself, so pixels are those the per-image path starts from."""
    base, indices = subset, None
    while hasattr(base, "indices") and hasattr(base, "dataset"):
        indices = [base.indices[i] for i in indices] if indices is not None else list(base.indices)
        base = base.dataset
    indices = indices if indices is not None else range(len(base))
    transform, base.transform = base.transform, None
    try:
        images = np.stack([np.asarray(base[i][0])[..., 0] for i in indices])
    finally:
        base.transform = transform
    labels = torch.tensor([base.targets[i] for i in indices], dtype=torch.long)
    return torch.from_numpy(images)[:, None], labels


def build_batched_pretrain_loader(dataset, augmentations: Sequence[Mapping], mean: Sequence[float],
                                  std: Sequence[float], batch_size: int, seed: int = 0, shuffle: bool = True,
                                  drop_last: bool = True, num_workers: int = 0) -> BatchedViewLoader:
    """`dataset`: a FashionMNIST (or a Subset of one, e.g. from take_fraction) built without transform."""
    images, labels = fashion_mnist_arrays(dataset)
    data = InMemoryViews(images, labels, BatchedViews(augmentations, mean, std))
    return BatchedViewLoader(data, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last,
                             num_workers=num_workers)

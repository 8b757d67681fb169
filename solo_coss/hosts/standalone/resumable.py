"""Runs that survive a kill: the data order and every augmentation are functions of (seed, epoch, index),
mid-epoch checkpoints, and a checkpoint on SIGTERM.

Restarting the same command after a kill continues from ``last.ckpt``: each rank's sampler skips the samples
its checkpointed steps already consumed, and each sample is augmented with an RNG seeded from
(seed, epoch, index), so the resumed run sees exactly the batches the uninterrupted one saw, on every rank.
"""

from __future__ import annotations

import math
import random

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from solo_coss.data.batched_loader import BatchedViewLoader


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return (((seed * 1_000_003) + epoch) * 10_000_019 + index) % (2**31 - 1)


class EpochSeededSampler(DistributedSampler):
    """Yields (epoch, index) from a permutation that depends only on (seed, epoch), padded to a multiple of
    the number of ranks and dealt out as DistributedSampler does (rank r takes positions r, r + W, ...).
    ``skip`` samples of this rank's share are dropped from the front of the next iteration (set when
    resuming mid-epoch). Being a DistributedSampler, Lightning uses it as is instead of wrapping it."""

    def __init__(
        self, dataset_size: int, seed: int, shuffle: bool = True, num_replicas: int = 1, rank: int = 0
    ):
        super().__init__(
            range(dataset_size), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed
        )
        self.skip = 0

    def shard(self, rank: int, num_replicas: int) -> None:
        """Take rank ``rank``'s share; called once the ranks exist (the loader is built before they do)."""
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas - 1}]")
        self.rank, self.num_replicas = rank, num_replicas
        self.num_samples = math.ceil(len(self.dataset) / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
            order = torch.randperm(n, generator=generator).tolist()
        else:
            order = list(range(n))
        order = (order * math.ceil(self.total_size / n))[:self.total_size]
        mine = order[self.rank::self.num_replicas]
        skip, self.skip = self.skip, 0
        return iter([(self.epoch, i) for i in mine[skip:]])


def batches_done(global_step: int, epoch: int, batches_per_epoch: int, accumulate: int) -> int:
    """Batches of epoch ``epoch`` consumed when optimizer step ``global_step`` was taken. Lightning steps the
    optimizer every ``accumulate`` batches and on the epoch's last batch; 0 at an epoch boundary."""
    steps_per_epoch = math.ceil(batches_per_epoch / accumulate)
    steps = global_step - epoch * steps_per_epoch
    return steps * accumulate if 0 < steps < steps_per_epoch else 0


class SeededSamples(Dataset):
    """Seeds torch / numpy / random from (seed, epoch, index) before reading sample ``index``."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        s = sample_seed(self.seed, epoch, index)
        torch.manual_seed(s)
        np.random.seed(s)
        random.seed(s)
        return self.dataset[index]


def resumable_loader(loader: DataLoader, seed: int) -> DataLoader:
    """The same loader (dataset, batch size, workers), with the deterministic sampler and per-sample seeds.
    The batched augmentation loader is resumable as it is (views seeded per (seed, epoch, rank, batch))."""
    if isinstance(loader, BatchedViewLoader):
        return loader
    dataset = getattr(loader, "dataset", None)
    if dataset is None:
        raise ValueError("checkpoint.every_n_steps (exact resume) needs data.format='image_folder'; "
                         f"the {type(loader).__name__} loader has no dataset to re-sample")
    sampler = EpochSeededSampler(len(dataset), seed)
    return DataLoader(
        SeededSamples(dataset, seed),
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        drop_last=loader.drop_last,
        pin_memory=loader.pin_memory,
        persistent_workers=loader.num_workers > 0,
    )


class ResumeCallback(L.Callback):
    """Shards the sampler by rank; on resume, tells it how many samples of the current epoch this rank
    consumed; on SIGTERM, writes ``last.ckpt`` before Lightning stops."""

    def __init__(self, loader: DataLoader, last_path: str):
        self.loader, self.last_path = loader, last_path

    def setup(self, trainer, pl_module, stage) -> None:
        if hasattr(self.loader.sampler, "shard"):  # the batched loader shards by rank itself
            self.loader.sampler.shard(trainer.global_rank, trainer.world_size)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        # Called after setup (the sampler knows its rank) and before Lightning sets up the data.
        done = batches_done(checkpoint["global_step"], checkpoint["epoch"], len(self.loader),
                            trainer.accumulate_grad_batches)
        self.loader.sampler.skip = done * self.loader.batch_size

    def on_exception(self, trainer, pl_module, exception) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        if done % trainer.accumulate_grad_batches and done < trainer.num_training_batches:
            # the accumulated gradients are not in a checkpoint: resume from the last optimizer step
            rank_zero_warn(
                f"SIGTERM in the middle of gradient accumulation: {self.last_path} is not rewritten; "
                "a restart continues from the last step checkpoint"
            )
            return
        trainer.save_checkpoint(self.last_path)

"""Runs that survive a kill: the data order and every augmentation are functions of (seed, epoch, index),
mid-epoch checkpoints, and a checkpoint on SIGTERM.

Restarting the same command after a kill continues from ``last.ckpt``: the sampler skips the samples the
checkpointed steps already consumed, and each sample is augmented with an RNG seeded from
(seed, epoch, index), so the resumed run sees exactly the batches the uninterrupted one saw.
"""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, Dataset, Sampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return (((seed * 1_000_003) + epoch) * 10_000_019 + index) % (2**31 - 1)


class EpochSeededSampler(Sampler):
    """Yields (epoch, index) in a permutation that depends only on (seed, epoch); ``skip`` samples are
    dropped from the front of the next iteration (set when resuming mid-epoch)."""

    def __init__(self, num_samples: int, seed: int, shuffle: bool = True):
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at the start of every epoch
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed * 7919 + self.epoch))
        else:
            order = torch.arange(self.num_samples)
        skip, self.skip = self.skip, 0
        return iter([(self.epoch, int(i)) for i in order[skip:]])

    def __len__(self) -> int:
        return self.num_samples


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
    """The same loader (dataset, batch size, workers), with the deterministic sampler and per-sample seeds."""
    sampler = EpochSeededSampler(len(loader.dataset), seed)
    return DataLoader(SeededSamples(loader.dataset, seed), batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, drop_last=loader.drop_last, pin_memory=loader.pin_memory,
                      persistent_workers=loader.num_workers > 0)


class ResumeCallback(L.Callback):
    """On resume, tells the sampler how many samples of the current epoch were consumed; on SIGTERM,
    writes ``last.ckpt`` before Lightning stops."""

    def __init__(self, loader: DataLoader, last_path: str):
        self.loader, self.last_path = loader, last_path

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        # Called before Lightning sets up the data: count the batches of an epoch from the loader itself.
        steps_per_epoch = len(self.loader)
        consumed = checkpoint["global_step"] - checkpoint["epoch"] * steps_per_epoch
        if 0 < consumed < steps_per_epoch:
            self.loader.sampler.skip = consumed * self.loader.batch_size

    def on_exception(self, trainer, pl_module, exception) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.last_path)

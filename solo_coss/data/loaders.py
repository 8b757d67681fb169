"""DataLoaders for pretraining and evaluation; torchvision or DALI selected by data.format."""

from __future__ import annotations

from torch.utils.data import DataLoader


def build_pretrain_dataloader(data_cfg: dict, augmentations: list[dict], batch_size: int,
                              num_workers: int | None = None, shuffle: bool = True,
                              drop_last: bool = True, seed: int = 0):
    raise NotImplementedError


def build_eval_dataloaders(data_cfg: dict, batch_size: int, num_workers: int | None = None,
                           crop_size: int | None = None, train_augment: bool = True,
                           seed: int = 0) -> tuple[DataLoader, DataLoader]:
    raise NotImplementedError

"""Data: Fashion-MNIST (offline default), torchvision / ImageFolder sets, augmentations, loaders."""

from solo_coss.data.datasets import DATASETS, build_dataset, dataset_stats
from solo_coss.data.fashion_mnist import FASHION_MNIST_DIR, FashionMNIST
from solo_coss.data.loaders import build_eval_dataloaders, build_pretrain_dataloader
from solo_coss.data.transforms import build_eval_transform, build_pretrain_transform

__all__ = [
    "DATASETS", "FASHION_MNIST_DIR", "FashionMNIST", "build_dataset", "build_eval_dataloaders",
    "build_eval_transform", "build_pretrain_dataloader", "build_pretrain_transform", "dataset_stats",
]

"""Frozen-feature evaluation: feature extraction, weighted kNN (lightly's knn_predict), linear probe."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightly.utils.benchmarking import knn_predict
from torch import nn
from tqdm.auto import tqdm

from solo_coss.core.keys import check_choice


@torch.no_grad()
def extract_features(backbone: nn.Module, loader, device: str = "cpu", desc: str = "features"):
    """The frozen backbone's features of a whole loader (the backbone's train/eval mode is restored after).

    Args:
        backbone: images -> (B, F) features; run in eval mode without gradient.
        loader: yields (images, labels).
        device: where the backbone runs; desc: the progress bar's label.

    Returns:
        (features (N, F) float32 on CPU, labels (N,) int64).
    """
    was_training = backbone.training
    backbone.eval().to(device)
    feats, labels = [], []
    for images, targets in tqdm(loader, desc=desc, leave=False, disable=None):
        feats.append(backbone(images.to(device, non_blocking=True)).float().cpu())
        labels.append(torch.as_tensor(targets))
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels).long()


KNN_DISTANCES = ("cosine", "euclidean")


def _euclidean_knn_predict(
    query, bank, bank_labels, num_classes: int, k: int, eps: float = 1e-5
) -> torch.Tensor:
    """Class scores of the k nearest bank features in Euclidean distance, each weighted 1 / (d + eps)
    (solo-learn's euclidean kNN)."""
    weights, idx = (1 / (torch.cdist(query, bank) + eps)).topk(k, dim=1)
    votes = torch.zeros(len(query), num_classes, device=query.device)
    votes.scatter_add_(1, bank_labels[idx], weights)
    return votes.argsort(dim=1, descending=True)


@torch.no_grad()
def knn_top1(train_feats, train_labels, test_feats, test_labels, k: int = 20, temperature: float = 0.07,
             num_classes: int | None = None, device: str = "cpu", batch_size: int = 1024,
             distance: str = "cosine") -> float:
    """Top-1 accuracy of a weighted kNN classifier on frozen features.

    Args:
        train_feats, train_labels: the bank, (N, F) and (N,).
        test_feats, test_labels: the queries, (M, F) and (M,).
        k: neighbours (at most N); temperature: T of the cosine weights.
        num_classes: defaults to the largest label + 1.
        device: where the search runs; batch_size: queries per step.
        distance: ``cosine`` (similarity with exp(sim / T) weights, Wu et al. 2018) or ``euclidean``
            (1 / distance weights, T unused).

    Returns:
        Top-1 accuracy in % of the queries.
    """
    check_choice("kNN distance", distance, KNN_DISTANCES)
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    bank_labels = train_labels.to(device)
    if distance == "cosine":
        bank = F.normalize(train_feats.to(device), dim=1).t().contiguous()
    else:
        bank = train_feats.to(device).float()
    k = min(k, len(train_feats))
    correct = 0
    for start in range(0, len(test_feats), batch_size):
        query = test_feats[start:start + batch_size].to(device).float()
        if distance == "cosine":
            pred = knn_predict(
                F.normalize(query, dim=1), bank, bank_labels, num_classes, knn_k=k, knn_t=temperature
            )
        else:
            pred = _euclidean_knn_predict(query, bank, bank_labels, num_classes, k)
        correct += (pred[:, 0].cpu() == test_labels[start:start + batch_size]).sum().item()
    return 100.0 * correct / max(len(test_feats), 1)


def train_linear_probe(train_feats, train_labels, num_classes: int, epochs: int = 100, lr: float = 0.1,
                       weight_decay: float = 0.0, batch_size: int = 256, seed: int = 0,
                       device: str = "cpu") -> nn.Linear:
    """Train a linear classifier on frozen, standardised features (SGD, momentum 0.9, cosine schedule).

    Args:
        train_feats, train_labels: (N, F) features and (N,) labels.
        num_classes: outputs of the layer.
        epochs, lr, weight_decay, batch_size: the SGD run; seed: its shuffling and initialisation.
        device: where it trains.

    Returns:
        The layer on CPU, taking raw features: the standardisation is folded into its weights and bias.
    """
    gen = torch.Generator().manual_seed(seed)
    mean, std = train_feats.mean(0), train_feats.std(0).clamp_min(1e-6)
    x = ((train_feats - mean) / std).to(device)
    y = train_labels.to(device)
    torch.manual_seed(seed)
    head = nn.Linear(x.shape[1], num_classes).to(device)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    for _ in tqdm(range(epochs), desc="linear probe", leave=False, disable=None):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = F.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():  # fold the standardisation: W ((f - m) / s) + b = (W / s) f + (b - W m / s)
        folded = nn.Linear(x.shape[1], num_classes)
        folded.weight.copy_((head.weight / std.to(device)).cpu())
        folded.bias.copy_((head.bias - (head.weight * (mean / std).to(device)).sum(1)).cpu())
    return folded


@torch.no_grad()
def top1(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (%) of ``head`` on (N, F) features with (N,) labels."""
    return 100.0 * (head(feats).argmax(1) == labels).float().mean().item()

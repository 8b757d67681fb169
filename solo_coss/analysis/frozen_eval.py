"""Frozen-feature evaluation: feature extraction, weighted kNN (lightly's knn_predict), linear probe."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightly.utils.benchmarking import knn_predict
from torch import nn
from tqdm.auto import tqdm


@torch.no_grad()
def extract_features(backbone: nn.Module, loader, device: str = "cpu", desc: str = "features"):
    """(features (N, F) float32 on CPU, labels (N,)) of a loader of (images, labels), backbone in eval mode."""
    was_training = backbone.training
    backbone.eval().to(device)
    feats, labels = [], []
    for images, targets in tqdm(loader, desc=desc, leave=False, disable=None):
        feats.append(backbone(images.to(device, non_blocking=True)).float().cpu())
        labels.append(torch.as_tensor(targets))
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels).long()


KNN_DISTANCES = ("cosine", "euclidean")


def _euclidean_knn_predict(query, bank, bank_labels, num_classes: int, k: int, eps: float = 1e-5) -> torch.Tensor:
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
    """Top-1 accuracy (%) of weighted kNN: ``cosine`` similarity with exp(sim / T) weights (Wu et al.
    2018), or ``euclidean`` distance with 1 / distance weights (T unused)."""
    if distance not in KNN_DISTANCES:
        raise ValueError(f"kNN distance={distance!r} is not valid; choose from {list(KNN_DISTANCES)}")
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
            pred = knn_predict(F.normalize(query, dim=1), bank, bank_labels, num_classes, knn_k=k, knn_t=temperature)
        else:
            pred = _euclidean_knn_predict(query, bank, bank_labels, num_classes, k)
        correct += (pred[:, 0].cpu() == test_labels[start:start + batch_size]).sum().item()
    return 100.0 * correct / max(len(test_feats), 1)


def train_linear_probe(train_feats, train_labels, num_classes: int, epochs: int = 100, lr: float = 0.1,
                       weight_decay: float = 0.0, batch_size: int = 256, seed: int = 0,
                       device: str = "cpu") -> nn.Linear:
    """Linear classifier on frozen, standardised features (the standardisation is folded into the layer)."""
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
    return 100.0 * (head(feats).argmax(1) == labels).float().mean().item()

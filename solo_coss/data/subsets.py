"""Fixed subsets of a dataset: solo-learn's stratified ``data.fraction``."""

from __future__ import annotations

from collections import defaultdict

import torch
from torch.utils.data import Dataset, Subset


def dataset_targets(dataset: Dataset) -> list[int] | None:
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = getattr(dataset, "labels", None)  # STL10
    return None if targets is None else [int(t) for t in targets]


def take_fraction(dataset: Dataset, fraction: float | None, seed: int = 0) -> Dataset:
    """A fixed random subset holding `fraction` of the samples, the same fraction of every class when
    labels are known (solo-learn's stratified split). None, -1 or 1 keep everything."""
    if fraction is None or fraction == -1 or fraction >= 1:
        return dataset
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    targets = dataset_targets(dataset)
    if targets is None or len(targets) != len(dataset):
        n = max(1, round(len(dataset) * fraction))
        keep = torch.randperm(len(dataset), generator=generator)[:n].tolist()
    else:
        by_class: dict[int, list[int]] = defaultdict(list)
        for i, t in enumerate(targets):
            by_class[t].append(i)
        keep = []
        for t in sorted(by_class):
            members = by_class[t]
            n = max(1, round(len(members) * fraction))
            order = torch.randperm(len(members), generator=generator)[:n].tolist()
            keep.extend(members[j] for j in order)
    return Subset(dataset, sorted(keep))

"""UMAP of features: a 2-D embedding (umap-learn) drawn as a scatter coloured by class, as solo-learn's
auto_umap / main_umap draw theirs (PNG here, PDF there)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from solo_coss.analysis.plots import plt, save

LEGEND_MAX_CLASSES = 20  # above this a legend hides the plot (ImageNet): colours only


def umap_2d(features: torch.Tensor, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """A 2-D UMAP embedding of features.

    Args:
        features: (N, D), N > ``n_neighbors``.
        seed: makes it reproducible (umap-learn then runs on one thread).
        n_neighbors: UMAP's neighbourhood size.

    Returns:
        (N, 2) float array.
    """
    import umap  # numba compiles on first use: imported only when a plot is asked for

    if len(features) <= n_neighbors:
        raise ValueError(f"UMAP needs more than n_neighbors={n_neighbors} points, got {len(features)}")
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, n_jobs=1)
    return reducer.fit_transform(features.float().numpy())


def umap_figure(points: np.ndarray, labels: torch.Tensor | np.ndarray, path: str | Path, title: str = "",
                class_names: Sequence[str] | None = None) -> Path:
    """Scatter of a 2-D embedding, one colour per class.

    Args:
        points: (N, 2) from ``umap_2d``; labels: (N,) class indices, < 0 for unlabelled (drawn grey).
        path: where to write the PNG; title: the plot's title.
        class_names: legend names by class index (default: the index); no legend above 20 classes.

    Returns:
        The figure's path.
    """
    labels = np.asarray(labels)
    classes = sorted(int(c) for c in np.unique(labels) if c >= 0)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "hsv")
    fig, ax = plt.subplots(figsize=(6.4, 6.4))
    if (labels < 0).any():
        ax.scatter(*points[labels < 0].T, s=4, c="0.7", alpha=0.4, linewidths=0, label="unlabelled")
    for i, c in enumerate(classes):
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        colour = cmap(i) if len(classes) <= 10 else cmap(i / len(classes))
        ax.scatter(*points[labels == c].T, s=4, color=colour, alpha=0.5, linewidths=0, label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    if len(classes) <= LEGEND_MAX_CLASSES:
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=5, fontsize=8, markerscale=3, frameon=False
        )
    return save(fig, path)

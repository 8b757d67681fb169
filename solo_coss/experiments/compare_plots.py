"""The comparison's figures: learning curves (mean and band over seeds) and robustness curves per method."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from solo_coss.analysis.plots import plt, save

PANELS = [("train/global_loss_step", "global loss"), ("train/local_loss_step", "local loss"),
          ("val/online_knn_acc", "online kNN top-1 (%)")]
ROBUST_PANELS = [
    (
        "Gaussian noise (ImageNet-C severity)",
        [(0, "robust_clean"), (3, "robust_gaussian_noise_s3"), (5, "robust_gaussian_noise_s5")],
    ),
    ("PGD (eps x 255)", [(0, "robust_clean"), (1, "robust_pgd_eps1"), (4, "robust_pgd_eps4")]),
    ("occlusion (area)", [(0, "robust_clean"), (0.3, "robust_occlusion_0.3")]),
]


def read_metrics(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Series (step, value) of every metric in a standalone run's logs/metrics.csv."""
    series: dict[str, list[tuple[int, float]]] = {}
    path = Path(run) / "logs" / "metrics.csv"
    if not path.is_file():
        return series
    with open(path) as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in ("", None):
                    series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def mean_band(runs: list[Path], key: str):
    """(steps, mean, std) over the runs at the steps every run logged; None when a run lacks the metric."""
    series = [dict(read_metrics(r).get(key, [])) for r in runs]
    if not all(series):
        return None
    steps = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[step] for step in steps] for s in series])
    return np.array(steps), values.mean(0), values.std(0)


def plot_curves(runs: dict[str, list[Path]], path: Path) -> Path:
    """One panel per PANELS metric, one colour per method, band = ± one std over the seeds."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for i, (method, folders) in enumerate(runs.items()):
        for ax, (key, _) in zip(axes, PANELS):
            band = mean_band(folders, key)
            if band is None or not np.any(band[1]):  # a baseline's local loss is 0: not drawn
                continue
            steps, mean, std = band
            ax.plot(steps, mean, color=f"C{i}", marker="o" if key.startswith("val") else None,
                    label=f"{method} (n={len(folders)})")
            ax.fill_between(steps, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    for ax, (_, label) in zip(axes, PANELS):
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return save(fig, path)


def plot_robustness(summary: list[dict], path: Path) -> Path:
    """Accuracy against corruption strength per method: mean with ± std error bars over the seeds."""
    cell = {(r["method"], r["metric"]): r for r in summary}
    methods = list(dict.fromkeys(r["method"] for r in summary))
    fig, axes = plt.subplots(1, len(ROBUST_PANELS), figsize=(4.2 * len(ROBUST_PANELS), 3.4))
    for ax, (title, points) in zip(axes, ROBUST_PANELS):
        for i, method in enumerate(methods):
            pts = [(x, cell[(method, m)]) for x, m in points if (method, m) in cell]
            if len(pts) < 2:
                continue
            xs = [x for x, _ in pts]
            ax.errorbar(xs, [r["mean"] for _, r in pts], yerr=[np.nan_to_num(r["std"]) for _, r in pts],
                        marker="o", capsize=3, color=f"C{i}", label=method)
        ax.set_title(title)
        ax.set_ylabel("top-1 (%)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return save(fig, path)

"""Matplotlib helpers shared by the analysis tools (Agg backend: files, no screen)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, path: str | Path) -> Path:
    """Write ``fig`` (tight layout, 110 dpi) to ``path``, creating its folder, and close it.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def robustness_figure(results: dict[str, list[dict]], path: str | Path) -> Path:
    """One panel per condition family: accuracy vs level, one line per run (clean accuracy at level 0).

    Args:
        results: run name -> its ``robustness.evaluate`` rows.
        path: where to write the figure.

    Returns:
        The figure's path.
    """
    families = [
        f for f in dict.fromkeys(r["family"] for rows in results.values() for r in rows) if f != "clean"
    ]
    fig, axes = plt.subplots(
        1, max(len(families), 1), figsize=(3.4 * max(len(families), 1), 3.2), squeeze=False
    )
    for ax, fam in zip(axes[0], families):
        for run, rows in results.items():
            clean = [r["accuracy"] for r in rows if r["family"] == "clean"]
            pts = [(r["level"], r["accuracy"]) for r in rows if r["family"] == fam]
            if clean:
                pts = [(0, clean[0])] + pts
            ax.plot(*zip(*pts), marker="o", label=run)
        ax.set_title(fam)
        ax.set_xlabel("eps (1/255)" if fam in ("fgsm", "pgd") else "level")
        ax.set_ylabel("top-1 (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    return save(fig, path)

"""Summaries over seeds and paired differences with a Student-t interval: what a comparison claims."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from scipy import stats

# Metrics where higher is better; for the others (redundancy) a difference is only "higher" or "lower".
ACCURACY_PREFIXES = ("knn_top1", "linear_top1", "robust_")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); std is nan for one value."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, std


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t confidence interval of the mean (nan bounds for one value)."""
    mean, std = mean_std(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * std / math.sqrt(len(values))
    return mean, mean - half, mean + half


def summary_rows(rows: Iterable[dict], metrics: Sequence[str]) -> list[dict]:
    """One row per (method, metric): mean, std, n over the seeds."""
    by_method: dict[str, list[dict]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    out = []
    for method, runs in by_method.items():
        for metric in metrics:
            values = [float(r[metric]) for r in runs if r.get(metric) not in (None, "")]
            if values:
                mean, std = mean_std(values)
                out.append({"method": method, "metric": metric, "mean": mean, "std": std, "n": len(values)})
    return out


def baseline_of(method: str) -> str | None:
    return method.removeprefix("co_") if method.startswith("co_") else None


def verdict(metric: str, low: float, high: float) -> str:
    if math.isnan(low):
        return "n/a (one seed)"
    if low <= 0 <= high:
        return "within noise"
    higher = low > 0
    if metric.startswith(ACCURACY_PREFIXES):
        return "better" if higher else "worse"
    return "higher" if higher else "lower"


def paired_rows(rows: Iterable[dict], metrics: Sequence[str]) -> list[dict]:
    """For every ``co_X`` with its baseline ``X`` among the rows: per metric, the per-seed differences
    co_X - X (seeds both ran), their mean and 95% Student-t interval, and the verdict."""
    runs = {(r["method"], int(r["seed"])): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in methods:
        base = baseline_of(method)
        if base not in methods:
            continue
        seeds = sorted(s for m, s in runs if m == method and (base, s) in runs)
        for metric in metrics:
            diffs = [
                float(runs[(method, s)][metric]) - float(runs[(base, s)][metric])
                for s in seeds
                if runs[(method, s)].get(metric) not in (None, "")
                and runs[(base, s)].get(metric) not in (None, "")
            ]
            if not diffs:
                continue
            mean, low, high = t_interval(diffs)
            out.append(
                {
                    "method": method,
                    "baseline": base,
                    "metric": metric,
                    "mean_diff": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "n": len(diffs),
                    "verdict": verdict(metric, low, high),
                }
            )
    return out

"""Markdown tables of a comparison: mean ± std per method, then the paired differences and their verdict."""

from __future__ import annotations

import math

LABELS = {
    "knn_top1": "kNN top-1", "linear_top1": "linear top-1", "robust_clean": "clean (robust. set)",
    "robust_gaussian_noise_s3": "Gaussian noise s3", "robust_gaussian_noise_s5": "Gaussian noise s5",
    "robust_pgd_eps1": "PGD 1/255", "robust_pgd_eps4": "PGD 4/255", "robust_occlusion_0.3": "occlusion 30%",
    "redundancy_pearson": "local/global Pearson r", "redundancy_intra_sim": "intra-image local sim.",
    "train_seconds": "train time (s)",
}


def _fmt(value: float, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    digits = 3 if metric.startswith("redundancy") else (0 if metric == "train_seconds" else 2)
    return f"{value:.{digits}f}"


def comparison_markdown(title: str, summary: list[dict], paired: list[dict], metrics: list[str]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in summary))
    cell = {(r["method"], r["metric"]): r for r in summary}
    columns = [*metrics, "train_seconds"]
    lines = [
        f"### {title}",
        "",
        "Mean ± standard deviation over the seeds (n runs per method); accuracies in %.",
        "",
        "| method | n | " + " | ".join(LABELS.get(m, m) for m in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for method in methods:
        n = max((cell[(method, m)]["n"] for m in columns if (method, m) in cell), default=0)
        values = []
        for m in columns:
            r = cell.get((method, m))
            if r is None or r["mean"] is None:
                values.append("-")
            elif n > 1 and not math.isnan(r["std"]):
                values.append(f"{_fmt(r['mean'], m)} ± {_fmt(r['std'], m)}")
            else:
                values.append(_fmt(r["mean"], m))
        lines.append(f"| {method} | {n} | " + " | ".join(values) + " |")
    if paired:
        lines += [
            "",
            "Paired differences (method − baseline, per seed): mean and 95% Student-t interval; "
            '"within noise" when the interval contains 0.',
            "",
            "| method − baseline | metric | mean diff | 95% interval | n | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for r in paired:
            ci = (
                "-"
                if math.isnan(r["ci_low"])
                else f"[{_fmt(r['ci_low'], r['metric'])}, {_fmt(r['ci_high'], r['metric'])}]"
            )
            lines.append(f"| {r['method']} − {r['baseline']} | {LABELS.get(r['metric'], r['metric'])} | "
                         f"{_fmt(r['mean_diff'], r['metric'])} | {ci} | {r['n']} | {r['verdict']} |")
    return "\n".join(lines) + "\n"

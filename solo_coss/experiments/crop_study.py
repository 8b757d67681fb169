"""kNN accuracy against the RandomResizedCrop lower bound c_min (paper Fig. 3A / 5), over seeds.

    python -m solo_coss.experiments.crop_study fashion-mnist --methods byol co_byol [--c-min 0.08 0.2 0.4 0.7]
    \
        [--seeds 5 6] [--out runs/crop-study] [key=value overrides...]

For every method, c_min and seed, the dataset's config is pretrained with every augmentation pipeline's
``rrc.crop_min_scale`` set to c_min, then evaluated by kNN (k = 20, T = 0.07) like solo-coss-compare.
Finished runs are skipped when the command is run again. Writes OUT/crop_study.{csv,md,png}: mean ± std
over the seeds.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from solo_coss.analysis.plots import plt, save
from solo_coss.experiments.evaluation import EvalOptions, evaluate_backbone
from solo_coss.experiments.statistics import mean_std
from solo_coss.experiments.training import train_standalone, trained_backbone
from solo_coss.hosts.errors import one_line_errors
from solo_coss.hosts.overrides import quote_values
from solo_coss.hosts.standalone.config import load_config

C_MINS = (0.08, 0.2, 0.4, 0.7)


def c_min_overrides(config_dir: Path, method: str, c_min: float, overrides: list[str]) -> list[str]:
    """Hydra overrides setting every pipeline's crop lower bound to c_min (rrc on)."""
    if not 0 < c_min <= 1:
        raise ValueError(f"c_min must be in (0, 1], got {c_min}")
    pipelines = len(load_config(str(config_dir), f"{method}.yaml", overrides).augmentations)
    return [o for i in range(pipelines) for o in (f"++augmentations.{i}.rrc.enabled=true",
                                                  f"++augmentations.{i}.rrc.crop_min_scale={c_min}")]


def write_study(rows: list[dict], out: Path) -> str:
    """rows: {method, c_min, seed, knn_top1}; writes csv + markdown (mean ± std, methods as columns) + png."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "crop_study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "c_min", "seed", "knn_top1"])
        writer.writeheader()
        writer.writerows(rows)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    c_mins = sorted({r["c_min"] for r in rows})
    stats = {}
    for m in methods:
        for c in c_mins:
            values = [r["knn_top1"] for r in rows if r["method"] == m and r["c_min"] == c]
            if values:
                stats[(m, c)] = (*mean_std(values), len(values))

    def cell(key):
        if key not in stats:
            return "-"
        mean, std, n = stats[key]
        return f"{mean:.2f} ± {std:.2f} (n={n})" if n > 1 else f"{mean:.2f}"

    lines = ["| c_min | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    lines += [f"| {c:g} | " + " | ".join(cell((m, c)) for m in methods) + " |" for c in c_mins]
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    for i, m in enumerate(methods):
        pts = [(c, *stats[(m, c)][:2]) for c in c_mins if (m, c) in stats]
        xs, means, stds = zip(*pts)
        ax.errorbar(
            xs, means, yerr=[0 if s != s else s for s in stds], marker="o", capsize=3, color=f"C{i}", label=m
        )
    ax.set_xlabel("c_min (RandomResizedCrop lower bound)")
    ax.set_ylabel("kNN top-1 (%), mean ± std")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out / "crop_study.png")
    table = "\n".join(lines) + "\n"
    (out / "crop_study.md").write_text(table)
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m solo_coss.experiments.crop_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--methods", nargs="+", default=["byol", "co_byol"])
    parser.add_argument("--c-min", type=float, nargs="+", default=list(C_MINS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[5])
    parser.add_argument("--config-root", default="scripts/pretrain")
    parser.add_argument("--out", default="runs/crop-study")
    parser.add_argument("--eval-fraction", type=float, default=0.2)
    parser.add_argument("--eval-val-fraction", type=float, default=1.0)
    args, overrides = parser.parse_known_args(argv)
    overrides = quote_values(overrides)
    out, config_dir = Path(args.out), Path(args.config_root) / args.dataset
    options = EvalOptions(args.eval_fraction, args.eval_val_fraction, linear_epochs=1, robust_images=0)
    rows = []
    with one_line_errors("crop_study"):
        for seed in args.seeds:
            for method in args.methods:
                for c_min in args.c_min:
                    tag = f"{method}-cmin{c_min:g}"
                    trained = train_standalone(
                        config_dir,
                        method,
                        seed,
                        out / "runs" / tag,
                        [*overrides, *c_min_overrides(config_dir, method, c_min, overrides)],
                    )
                    result = out / "results" / f"{tag}-seed{seed}.json"
                    if not result.is_file():
                        backbone, cfg, source = trained_backbone(trained)
                        result.parent.mkdir(parents=True, exist_ok=True)
                        result.write_text(json.dumps({**evaluate_backbone(backbone, cfg, options, tag),
                                                      "checkpoint": source}))
                    knn = json.loads(result.read_text())["knn_top1"]
                    rows.append({"method": method, "c_min": c_min, "seed": seed, "knn_top1": knn})
                    print(f"{method} c_min={c_min:g} seed {seed}: kNN {knn:.2f}%", flush=True)
    print(write_study(rows, out))
    print(f"plot: {out / 'crop_study.png'}")


if __name__ == "__main__":
    main()

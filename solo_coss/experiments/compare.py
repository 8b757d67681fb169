"""Side by side over seeds: methods (a baseline and its CO variant) trained with the same seeds, budget and
backbone, plus a randomly initialised backbone, all evaluated the same way; paired differences per seed.

    solo-coss-compare fashion-mnist byol co_byol [--seeds 5 6 7] [--host standalone|solo-learn]
                      [--out runs/compare-fashion-mnist] [key=value overrides...]

Every method trains once per seed; a seed gives every method the same data order, augmentation draws and
backbone initialisation, so the comparison is paired. Rerunning the command skips finished runs and
evaluations and resumes a killed training. Writes OUT/compare.csv (a row per method and seed),
OUT/summary.csv (mean, std, n), OUT/paired.csv (co_X - X per seed: mean, 95% Student-t interval),
OUT/compare.md, OUT/curves.png (learning curves, mean and band over seeds) and OUT/robustness.png.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

from solo_coss.hosts.cli import HOSTS
from solo_coss.hosts.errors import one_line_errors
from solo_coss.hosts.overrides import checked_overrides

if TYPE_CHECKING:  # the heavy imports (torch, Lightning) wait for a study to run: --help stays fast
    from solo_coss.experiments.evaluation import EvalOptions
    from solo_coss.experiments.training import Trained

RANDOM_INIT = "random init"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="solo-coss-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="folder name under --config-root, e.g. fashion-mnist")
    parser.add_argument("methods", nargs="+", help="config names in that folder, e.g. byol co_byol")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[5], help="one run per method and seed (paired)"
    )
    parser.add_argument("--host", default="standalone", choices=HOSTS)
    parser.add_argument("--config-root", default="scripts/pretrain")
    parser.add_argument("--out", default=None, help="output folder (default runs/compare-DATASET)")
    parser.add_argument("--eval-fraction", type=float, default=0.2, help="training images used as kNN bank "
                        "and linear-probe training set")
    parser.add_argument("--eval-val-fraction", type=float, default=1.0, help="validation images evaluated")
    parser.add_argument("--linear-epochs", type=int, default=30)
    parser.add_argument("--robust-images", type=int, default=500, help="validation images for the robustness "
                        "and redundancy numbers (0 skips them)")
    parser.add_argument("--no-random-init", action="store_true", help="skip the random-init rows")
    args, overrides = parser.parse_known_args(argv)
    overrides += [m for m in args.methods if "=" in m]
    args.methods = [m for m in args.methods if "=" not in m]
    return args, checked_overrides(parser, overrides)


def check_same_backbone(config_dir: Path, methods: list[str], overrides: list[str]) -> dict:
    from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config

    cfgs = {m: resolve_pretrain_config(load_config(str(config_dir), f"{m}.yaml", overrides)) for m in methods}
    backbones = {json.dumps(c["backbone"], sort_keys=True) for c in cfgs.values()}
    if len(backbones) > 1:
        raise ValueError(f"the methods use different backbones {sorted(backbones)}")
    return next(iter(cfgs.values()))


def cached(path: Path, compute) -> dict:
    """The JSON at ``path``, computed and written first if missing (a killed study resumes from these)."""
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))
    return value


def evaluate_trained(trained: Trained, options: EvalOptions, desc: str) -> dict:
    from solo_coss.experiments.evaluation import evaluate_backbone
    from solo_coss.experiments.training import trained_backbone

    backbone, cfg, source = trained_backbone(trained)
    return {
        **evaluate_backbone(backbone, cfg, options, desc),
        "train_seconds": trained.seconds,
        "checkpoint": source,
    }


def evaluate_random_init(cfg: dict, seed: int, options: EvalOptions) -> dict:
    import lightning as L

    from solo_coss.experiments.evaluation import evaluate_backbone
    from solo_coss.hosts.standalone.config import backbone_from_config

    L.seed_everything(seed)
    return {**evaluate_backbone(backbone_from_config(cfg), cfg, options, f"random init s{seed}"),
            "train_seconds": None}


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def run_study(args, overrides) -> Path:
    import torch

    from solo_coss.experiments.compare_plots import plot_curves, plot_robustness
    from solo_coss.experiments.evaluation import METRICS, EvalOptions
    from solo_coss.experiments.report_tables import comparison_markdown
    from solo_coss.experiments.statistics import paired_rows, summary_rows
    from solo_coss.experiments.training import train

    out = Path(args.out or f"runs/compare-{args.dataset}")
    config_dir = Path(args.config_root) / args.dataset
    first = check_same_backbone(config_dir, args.methods, overrides)
    options = EvalOptions(args.eval_fraction, args.eval_val_fraction, args.linear_epochs, args.robust_images)
    rows, runs = [], {}
    for seed in args.seeds:
        options.seed = seed
        for method in args.methods:
            print(f"== {method}, seed {seed}", flush=True)
            trained = train(args.host, config_dir, method, seed, out / "runs", overrides)
            runs[(method, seed)] = trained.folder
            result = cached(out / "results" / f"{method}-seed{seed}.json",
                            lambda t=trained, m=method, s=seed: evaluate_trained(t, options, f"{m} s{s}"))
            rows.append({"method": method, "seed": seed, **result})
            print(
                f"   {method} seed {seed}: kNN {result['knn_top1']:.2f}%  "
                f"linear {result['linear_top1']:.2f}%",
                flush=True,
            )
        if not args.no_random_init:
            result = cached(out / "results" / f"random-init-seed{seed}.json",
                            lambda s=seed: evaluate_random_init(first, s, options))
            rows.append({"method": RANDOM_INIT, "seed": seed, **result})

    metrics = [m for m in METRICS if any(m in r for r in rows)]
    write_csv(out / "compare.csv", rows, ["method", "seed", *metrics, "train_seconds"])
    summary = summary_rows(rows, [*metrics, "train_seconds"])
    write_csv(out / "summary.csv", summary, ["method", "metric", "mean", "std", "n"])
    paired = paired_rows(rows, metrics)
    write_csv(
        out / "paired.csv",
        paired,
        ["method", "baseline", "metric", "mean_diff", "ci_low", "ci_high", "n", "verdict"],
    )
    title = (
        f"{args.dataset}: {', '.join(args.methods)} on {first['backbone']['name']}, "
        f"{first.get('max_epochs')} "
        f"epoch(s), seeds {', '.join(map(str, args.seeds))}, {args.host} host, "
        f"{torch.get_num_threads()} CPU threads"
    )
    (out / "compare.md").write_text(comparison_markdown(title, summary, paired, metrics))
    if args.host == "standalone":
        plot_curves({m: [runs[(m, s)] for s in args.seeds] for m in args.methods}, out / "curves.png")
    if args.robust_images:
        plot_robustness(summary, out / "robustness.png")
    return out


def main(argv=None) -> None:
    args, overrides = parse_args(argv)
    with one_line_errors("solo-coss-compare"):  # a bad name, override, folder: one line
        out = run_study(args, overrides)
    print((out / "compare.md").read_text())
    print(f"files: {out}/compare.csv summary.csv paired.csv compare.md curves.png robustness.png")


if __name__ == "__main__":
    main()

"""Side by side: a baseline and its CO variant (or any methods) with the same seed, budget and backbone,
plus a randomly initialised backbone evaluated the same way.

    solo-coss-compare fashion-mnist byol co_byol [--out runs/compare] [key=value overrides...]

Writes OUT/compare.md, OUT/compare.csv and OUT/curves.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import lightning as L
import torch

from solo_coss.analysis.frozen_eval import extract_features, knn_top1, top1, train_linear_probe
from solo_coss.analysis.plots import plt, save
from solo_coss.data.loaders import build_eval_dataloaders
from solo_coss.data.transforms import pretrain_crop_size
from solo_coss.hosts.standalone.checkpoints import load_backbone
from solo_coss.hosts.standalone.config import backbone_from_config, load_config, to_plain
from solo_coss.hosts.standalone.pretrain import run_pretrain

RANDOM_INIT = "random init"


def evaluate_backbone(backbone, data_cfg: dict, crop_size: int, args) -> dict[str, float]:
    data = {**data_cfg, "fraction": args.eval_fraction, "val_fraction": args.eval_val_fraction}
    train_loader, val_loader = build_eval_dataloaders(data, 512, crop_size=crop_size)
    xtr, ytr = extract_features(backbone, train_loader, desc="train features")
    xva, yva = extract_features(backbone, val_loader, desc="val features")
    head = train_linear_probe(xtr, ytr, int(ytr.max()) + 1, epochs=args.linear_epochs, seed=args.seed)
    return {"knn_top1": knn_top1(xtr, ytr, xva, yva, k=20, temperature=0.07), "linear_top1": top1(head, xva, yva)}


def write_table(rows: list[dict], out: Path, title: str) -> str:
    """rows: dicts with method, knn_top1, linear_top1, train_seconds (None for random init)."""
    lines = [f"### {title}", "", "| method | kNN top-1 (%) | linear top-1 (%) | train time (s) |", "|---|---|---|---|"]
    for r in rows:
        t = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        lines.append(f"| {r['method']} | {r['knn_top1']:.2f} | {r['linear_top1']:.2f} | {t} |")
    table = "\n".join(lines) + "\n"
    (out / "compare.md").write_text(table)
    with open(out / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "knn_top1", "linear_top1", "train_seconds"])
        writer.writeheader()
        writer.writerows(rows)
    return table


def read_metrics(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Series (step, value) of every metric in a run's logs/metrics.csv."""
    series: dict[str, list[tuple[int, float]]] = {}
    path = run / "logs" / "metrics.csv"
    if not path.is_file():
        return series
    with open(path) as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in ("", None):
                    series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def plot_curves(runs: dict[str, Path], out: Path) -> Path:
    panels = [("train/global_loss_step", "global loss"), ("train/local_loss_step", "local loss"),
              ("val/online_knn_acc", "online kNN top-1 (%)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for i, (method, run) in enumerate(runs.items()):
        series = read_metrics(run)
        color = f"C{i}"  # one colour per method in every panel
        for ax, (key, _) in zip(axes, panels):
            if any(v != 0 for _, v in series.get(key, [])):  # a baseline's local loss is 0: not drawn
                steps, values = zip(*series[key])
                ax.plot(steps, values, marker="o" if "val" in key else None, label=method, color=color)
    for ax, (_, label) in zip(axes, panels):
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return save(fig, out / "curves.png")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="solo-coss-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="folder name under --config-root, e.g. fashion-mnist")
    parser.add_argument("methods", nargs="+", help="config names in that folder, e.g. byol co_byol")
    parser.add_argument("--config-root", default="scripts/pretrain")
    parser.add_argument("--out", default=None, help="output folder (default runs/compare-DATASET)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--eval-fraction", type=float, default=0.2, help="training images used as kNN bank "
                        "and linear-probe training set")
    parser.add_argument("--eval-val-fraction", type=float, default=1.0, help="validation images evaluated")
    parser.add_argument("--linear-epochs", type=int, default=30)
    args, overrides = parser.parse_known_args(argv)
    methods = [m for m in args.methods if "=" not in m]
    overrides += [m for m in args.methods if "=" in m]
    args.methods = methods
    return args, overrides


def main(argv=None) -> None:
    args, overrides = parse_args(argv)
    out = Path(args.out or f"runs/compare-{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)
    config_dir = Path(args.config_root) / args.dataset
    try:
        cfgs = {m: load_config(str(config_dir), f"{m}.yaml", [
            f"name={m}", f"checkpoint.dir={out / 'runs'}", f"seed={args.seed}", "auto_resume.enabled=false",
            *overrides]) for m in args.methods}
    except Exception as err:  # noqa: BLE001 - a bad name or override: one line
        sys.exit(f"solo-coss-compare: error: {' '.join(str(err).split())}")
    backbones = {(c.backbone.name, json.dumps(dict(c.backbone.get("kwargs") or {}), default=str))
                 for c in cfgs.values()}
    if len(backbones) > 1:
        sys.exit(f"solo-coss-compare: error: the methods use different backbones {sorted(backbones)}")

    runs, rows, data_cfgs = {}, [], []
    for method, cfg in cfgs.items():
        print(f"== pretraining {method}", flush=True)
        start = time.perf_counter()
        runs[method] = run_pretrain(cfg)
        seconds = time.perf_counter() - start
        backbone, pre_cfg = load_backbone(runs[method] / "last.ckpt")
        crop = pretrain_crop_size(pre_cfg["augmentations"])
        data_cfgs.append(pre_cfg["data"])
        rows.append({"method": method, **evaluate_backbone(backbone, pre_cfg["data"], crop, args),
                     "train_seconds": seconds})
        print(f"   {method}: kNN {rows[-1]['knn_top1']:.2f}%  linear {rows[-1]['linear_top1']:.2f}%", flush=True)

    L.seed_everything(args.seed)
    first = next(iter(cfgs.values()))
    random_backbone = backbone_from_config(to_plain(first))
    rows.insert(0, {"method": RANDOM_INIT, **evaluate_backbone(random_backbone, data_cfgs[0], crop, args),
                    "train_seconds": None})

    title = (f"{args.dataset}: {', '.join(args.methods)} on {first.backbone.name}, seed {args.seed}, "
             f"{first.max_epochs} epoch(s), {torch.get_num_threads()} CPU threads")
    print(write_table(rows, out, title))
    print(f"curves: {plot_curves(runs, out)}\ntable: {out / 'compare.md'}")


if __name__ == "__main__":
    main()

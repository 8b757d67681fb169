"""kNN accuracy against the RandomResizedCrop lower bound c_min (paper Fig. 3A / 5).

    python -m solo_coss.experiments.crop_study fashion-mnist --methods byol co_byol [--c-min 0.08 0.2 0.4 0.7] \
        [--out runs/crop-study] [key=value overrides...]

For every method and c_min, the dataset's config is pretrained with every augmentation pipeline's
``rrc.crop_min_scale`` set to c_min, then evaluated by kNN (k = 20, T = 0.07) like solo-coss-compare.
Writes OUT/crop_study.{csv,md,png}.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from solo_coss.analysis.plots import plt, save
from solo_coss.data.transforms import pretrain_crop_size
from solo_coss.experiments.compare import evaluate_backbone
from solo_coss.hosts.standalone.checkpoints import load_backbone
from solo_coss.hosts.standalone.config import load_config, to_plain
from solo_coss.hosts.standalone.pretrain import run_pretrain

C_MINS = (0.08, 0.2, 0.4, 0.7)


def with_c_min(cfg: dict, c_min: float, name: str) -> dict:
    """A copy of a plain config whose every pipeline crops with scale in [c_min, crop_max_scale]."""
    if not 0 < c_min <= 1:
        raise ValueError(f"c_min must be in (0, 1], got {c_min}")
    cfg = {**cfg, "name": name, "augmentations": [
        {**p, "rrc": {**(p.get("rrc") or {}), "enabled": True, "crop_min_scale": c_min}} for p in cfg["augmentations"]]}
    return cfg


def write_study(rows: list[dict], out: Path) -> str:
    """rows: {method, c_min, knn_top1}; writes csv + markdown (methods as columns) + png."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "crop_study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "c_min", "knn_top1"])
        writer.writeheader()
        writer.writerows(rows)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    c_mins = sorted({r["c_min"] for r in rows})
    acc = {(r["method"], r["c_min"]): r["knn_top1"] for r in rows}
    lines = ["| c_min | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    lines += [f"| {c:g} | " + " | ".join(f"{acc[(m, c)]:.2f}" if (m, c) in acc else "-" for m in methods) + " |"
              for c in c_mins]
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    for m in methods:
        pts = sorted((c, acc[(m, c)]) for c in c_mins if (m, c) in acc)
        ax.plot(*zip(*pts), marker="o", label=m)
    ax.set_xlabel("c_min (RandomResizedCrop lower bound)")
    ax.set_ylabel("kNN top-1 (%)")
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
    parser.add_argument("--config-root", default="scripts/pretrain")
    parser.add_argument("--out", default="runs/crop-study")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--eval-fraction", type=float, default=0.2)
    parser.add_argument("--eval-val-fraction", type=float, default=1.0)
    parser.add_argument("--linear-epochs", type=int, default=1)
    args, overrides = parser.parse_known_args(argv)
    out = Path(args.out)
    rows = []
    for method in args.methods:
        base = to_plain(load_config(str(Path(args.config_root) / args.dataset), f"{method}.yaml",
                                    [f"checkpoint.dir={out / 'runs'}", f"seed={args.seed}",
                                     "auto_resume.enabled=false", *overrides]))
        for c_min in args.c_min:
            run = run_pretrain(with_c_min(base, c_min, f"{method}-cmin{c_min:g}"))
            backbone, cfg = load_backbone(run / "last.ckpt")
            crop = pretrain_crop_size(cfg["augmentations"])
            rows.append({"method": method, "c_min": c_min,
                         "knn_top1": evaluate_backbone(backbone, cfg["data"], crop, args)["knn_top1"]})
            print(f"{method} c_min={c_min:g}: kNN {rows[-1]['knn_top1']:.2f}%", flush=True)
    print(write_study(rows, out))
    print(f"plot: {out / 'crop_study.png'}")


if __name__ == "__main__":
    main()

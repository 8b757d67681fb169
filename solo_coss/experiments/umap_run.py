"""solo-coss-umap: a UMAP plot (PNG) of a pretrained backbone's features, for a run of either host; the
counterpart of solo-learn's main_umap.py.

    solo-coss-umap trained_models/co_byol-fashion-mnist --out umap.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from solo_coss.hosts.errors import one_line_errors

SPLITS = ("val", "train")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="solo-coss-umap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "run",
        help="run folder or checkpoint of either host (standalone last.ckpt, or solo-learn "
        "*-ep=N.ckpt with its args.json)",
    )
    parser.add_argument("--out", default=None, help="PNG to write (default RUN/umap-SPLIT.png)")
    parser.add_argument("--split", default="val", choices=SPLITS, help="which split of the run's dataset")
    parser.add_argument(
        "--train-path",
        default=None,
        help="the dataset's training images, where they are here (default: the run's data.train_path)",
    )
    parser.add_argument(
        "--val-path", default=None, help="the validation images (default: the run's data.val_path)"
    )
    parser.add_argument(
        "--num-images", type=int, default=5000, help="a fixed random subset of the split; 0: all"
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="UMAP's random state (the plot is reproducible)")
    return parser.parse_args(argv)


def umap_of_run(
    run: str | Path,
    out: str | Path | None = None,
    split: str = "val",
    num_images: int | None = 5000,
    batch_size: int = 256,
    seed: int = 0,
    paths: dict[str, str | None] | None = None,
) -> Path:
    """``paths``: {"train_path": ..., "val_path": ...} replacing the run's data paths (None: keep)."""
    import torch
    from torch.utils.data import DataLoader

    from solo_coss.analysis.frozen_eval import extract_features
    from solo_coss.analysis.umap_plot import umap_2d, umap_figure
    from solo_coss.core.keys import naming
    from solo_coss.data.datasets import class_names
    from solo_coss.experiments.eval_images import eval_subset
    from solo_coss.hosts.pretrained import checkpoint_of, load_pretrained

    run = Path(run)
    with naming("run", str(run)):
        backbone, cfg = load_pretrained(run)
    cfg["data"].update({k: v for k, v in (paths or {}).items() if v is not None})
    subset = eval_subset(cfg, num_images or None, train=split == "train")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    feats, labels = extract_features(
        backbone, DataLoader(subset, batch_size=batch_size), device, f"{split} features"
    )
    out = Path(out) if out else checkpoint_of(run).parent / f"umap-{split}.png"  # the run's folder
    name = cfg.get("name", run.name)
    title = f"{name} ({cfg['method']}, {cfg['backbone']['name']}): {len(feats)} {split} images"
    return umap_figure(umap_2d(feats, seed=seed), labels, out, title, class_names=class_names(subset))


def main(argv=None) -> None:
    args = parse_args(argv)
    with one_line_errors("solo-coss-umap"):
        out = umap_of_run(args.run, args.out, args.split, args.num_images, args.batch_size, args.seed,
                          {"train_path": args.train_path, "val_path": args.val_path})
    print(f"UMAP written to {out}")


if __name__ == "__main__":
    main()

"""solo-coss-robustness and solo-coss-report.

    solo-coss-robustness --run byol=RUN_A/linear_head.pt --run co_byol=RUN_B/linear_head.pt --out robust/
    solo-coss-robustness --ckpt RUN/last.ckpt --linear RUN/linear_head.pt --out robust/
    solo-coss-report RUN_A RUN_B --out report/
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from solo_coss.analysis import erf as erf_mod
from solo_coss.analysis import redundancy as red_mod
from solo_coss.analysis import robustness as rob
from solo_coss.analysis.plots import robustness_figure
from solo_coss.data.datasets import build_dataset, dataset_stats
from solo_coss.data.transforms import build_eval_transform

FAMILIES = ("noise", "occlusion", "patch_shuffle", "fgsm", "pgd")


def eval_images(cfg: dict, num_images: int, pixel_space: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``num_images`` of a fixed random order of the validation split, as tensors: in [0, 1]
    (``pixel_space``) or normalised like the pretraining data."""
    data = cfg["data"]
    mean, std = dataset_stats(data["dataset"])
    if pixel_space:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    crop = int(cfg["augmentations"][0].get("crop_size", 32))
    dataset = build_dataset(data["dataset"], data.get("val_path") or data.get("train_path"), False,
                            build_eval_transform(crop, mean, std, train=False), image_size=data.get("image_size") or 32)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:num_images]
    x, y = next(iter(DataLoader(Subset(dataset, order.tolist()), batch_size=len(order))))
    return x, torch.as_tensor(y)


def _parse_runs(args) -> dict[str, tuple[str | None, str]]:
    runs: dict[str, tuple[str | None, str]] = {}
    for item in args.run or []:
        if "=" not in item:
            raise ValueError(f"--run expects NAME=LINEAR_HEAD[.pt] or NAME=PRETRAINED.ckpt,LINEAR_HEAD, got {item!r}")
        name, paths = item.split("=", 1)
        pre, _, lin = paths.rpartition(",")
        runs[name] = (pre or None, lin)
    if len(args.ckpt or []) != len(args.linear or []):
        raise ValueError("give one --linear per --ckpt")
    for pre, lin in zip(args.ckpt or [], args.linear or []):
        runs[Path(pre).parent.name or pre] = (pre, lin)
    if not runs:
        raise ValueError("nothing to evaluate: give --run NAME=LINEAR_HEAD or --ckpt PRETRAINED --linear LINEAR_HEAD")
    return runs


def run_robustness(runs: dict[str, tuple[str | None, str]], out: Path, num_images: int, families, batch_size: int,
                   noises=rob.NOISES) -> dict[str, list[dict]]:
    from solo_coss.hosts.standalone.checkpoints import load_linear

    results = {}
    for name, (pre, lin) in runs.items():
        backbone, head, cfg = load_linear(lin, pre)
        x, y = eval_images(cfg, num_images, pixel_space=True)
        model = rob.NormalizedClassifier(backbone, head, *dataset_stats(cfg["data"]["dataset"]))
        loader = [(x[k:k + batch_size], y[k:k + batch_size]) for k in range(0, len(x), batch_size)]
        results[name] = rob.evaluate(model, loader, rob.build_conditions(families, noises), desc=name)
    out.mkdir(parents=True, exist_ok=True)
    write_robustness(results, out)
    return results


def write_robustness(results: dict[str, list[dict]], out: Path) -> str:
    names = list(results)
    keys = [(r["family"], r["level"]) for r in results[names[0]]]
    acc = {n: {(r["family"], r["level"]): r["accuracy"] for r in rows} for n, rows in results.items()}
    with open(out / "robustness.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["family", "level", *names])
        for key in keys:
            writer.writerow([*key, *(f"{acc[n].get(key, float('nan')):.2f}" for n in names)])
    lines = ["| condition | level | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    lines += [f"| {fam} | {lvl:g} | " + " | ".join(f"{acc[n].get((fam, lvl), float('nan')):.2f}" for n in names) + " |"
              for fam, lvl in keys]
    table = "\n".join(lines) + "\n"
    (out / "robustness.md").write_text(table)
    robustness_figure(results, out / "robustness.png")
    return table


def robustness(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="solo-coss-robustness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", help="NAME=LINEAR_HEAD.pt or NAME=PRETRAINED.ckpt,LINEAR_HEAD.pt")
    parser.add_argument("--ckpt", action="append", help="pretraining checkpoint (pairs with --linear)")
    parser.add_argument("--linear", action="append", help="linear head written by solo-coss-linear")
    parser.add_argument("--out", default="robustness")
    parser.add_argument("--num-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = parser.parse_args(argv)
    try:
        runs = _parse_runs(args)
        results = run_robustness(runs, Path(args.out), args.num_images, args.families, args.batch_size)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"solo-coss-robustness: error: {err}")
    print((Path(args.out) / "robustness.md").read_text())
    print(f"plot: {Path(args.out) / 'robustness.png'}  ({len(results)} run(s))")


def report(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="solo-coss-report",
                                     description="Redundancy, ERFs, linear/kNN and robustness of run folders, "
                                                 "in one markdown report.")
    parser.add_argument("runs", nargs="+", help="run folders (holding last.ckpt; linear_head.pt, knn.json optional)")
    parser.add_argument("--out", default="report")
    parser.add_argument("--num-images", type=int, default=200, help="validation images for redundancy/robustness")
    parser.add_argument("--erf-images", type=int, default=3)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES,
                        help="robustness conditions (runs with a linear_head.pt); none to skip")
    args = parser.parse_args(argv)
    try:
        text = build_report([Path(r) for r in args.runs], Path(args.out), args.num_images, args.erf_images,
                            args.families)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"solo-coss-report: error: {err}")
    print(text)


def build_report(runs: list[Path], out: Path, num_images: int, erf_images: int, families) -> str:
    from solo_coss.hosts.standalone.checkpoints import load_backbone

    out.mkdir(parents=True, exist_ok=True)
    names = {}
    for run in runs:
        if not (run / "last.ckpt").is_file():
            raise FileNotFoundError(f"{run} holds no last.ckpt (is it a solo-coss run folder?)")
        names[run.name] = run
    red, erfs, evals, pixels = {}, {}, {}, None
    for name, run in names.items():
        backbone, cfg = load_backbone(run / "last.ckpt")
        x, _ = eval_images(cfg, num_images, pixel_space=False)
        red[name] = red_mod.redundancy(backbone, x)
        erfs[name] = erf_mod.effective_receptive_fields(backbone, x[:erf_images])
        pixels = eval_images(cfg, erf_images, pixel_space=True)[0]
        metrics = {}
        if (run / "linear_head.pt").is_file():
            metrics["linear top-1"] = torch.load(run / "linear_head.pt", weights_only=False)["metrics"]["val_top1"]
        if (run / "knn.json").is_file():
            metrics.update({f"kNN {k}": v for k, v in json.loads((run / "knn.json").read_text()).items()})
        evals[name] = metrics
    red_mod.scatter(red, out / "redundancy.png")
    erf_mod.erf_figure(pixels, erfs, out / "erf.png")

    lines = ["# solo-coss report", "", f"Runs: {', '.join(f'`{r}`' for r in runs)}", "",
             "## Linear probe and kNN", "", "| run | metric | top-1 (%) |", "|---|---|---|"]
    for name, metrics in evals.items():
        lines += [f"| {name} | {k} | {v:.2f} |" for k, v in metrics.items()] or [f"| {name} | - | - |"]
    lines += ["", "## Local redundancy (paper Fig. 3B)", "",
              f"{num_images} validation images; Pearson r between global and mean local cosine similarity over "
              "image pairs, and the mean intra-image similarity of local representations.", "",
              "| run | Pearson r | intra-image similarity | pairs |", "|---|---|---|---|"]
    lines += [f"| {n} | {r['pearson']:.3f} | {r['intra_image_similarity']:.3f} | {r['num_pairs']} |"
              for n, r in red.items()]
    lines += ["", "![redundancy](redundancy.png)", "", "## Effective receptive fields (paper Fig. 4)", "",
              "Columns per run: local representations at normalised map coordinates "
              + ", ".join(str(c) for c in erf_mod.COORDS) + ".", "", "![erf](erf.png)"]
    with_heads = {n: (str(r / "last.ckpt"), str(r / "linear_head.pt")) for n, r in names.items()
                  if (r / "linear_head.pt").is_file()}
    if families and with_heads:
        run_robustness(with_heads, out, num_images, families, batch_size=200)
        lines += ["", "## Robustness", "", (out / "robustness.md").read_text(), "![robustness](robustness.png)"]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text

"""solo-coss-robustness: accuracy of linear-probed runs under corruptions and attacks.

    solo-coss-robustness --run byol=RUN_A/linear_head.pt --run co_byol=RUN_B/linear_head.pt --out robust/
    solo-coss-robustness --ckpt RUN/last.ckpt --linear RUN/linear_head.pt --out robust/
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from solo_coss.hosts.errors import one_line_errors

FAMILIES = ("noise", "occlusion", "patch_shuffle", "fgsm", "pgd")


def _parse_runs(args) -> dict[str, tuple[str | None, str]]:
    from solo_coss.core.keys import refuse
    from solo_coss.hosts.pretrained import run_label

    runs: dict[str, tuple[str | None, str]] = {}
    for item in args.run or []:
        if "=" not in item:
            refuse("--run", item, "give NAME=LINEAR_HEAD[.pt] or NAME=PRETRAINED.ckpt,LINEAR_HEAD")
        name, paths = item.split("=", 1)
        pre, _, lin = paths.rpartition(",")
        _check_exists("--run", item, pre or None, lin)
        runs[name] = (pre or None, lin)
    if len(args.ckpt or []) != len(args.linear or []):
        refuse("--linear", args.linear, f"give one --linear per --ckpt ({len(args.ckpt or [])} of them)")
    for pre, lin in zip(args.ckpt or [], args.linear or []):
        _check_exists("--linear", lin, None, lin)
        _check_exists("--ckpt", pre, pre, None)
        runs[run_label(pre)] = (pre, lin)
    if not runs:
        raise ValueError(
            "nothing to evaluate: give --run NAME=LINEAR_HEAD or --ckpt PRETRAINED --linear LINEAR_HEAD"
        )
    return runs


def _check_exists(key: str, value: str, pretrained: str | None, head: str | None) -> None:
    from solo_coss.core.keys import refuse

    if head is not None and not Path(head).is_file():
        refuse(key, value, f"the linear head {head} does not exist: train one with solo-coss-linear (it "
               "writes RUN/linear_head.pt beside the pretrained checkpoint)")
    if pretrained is not None and not Path(pretrained).exists():
        refuse(key, value, f"the pretrained checkpoint {pretrained} does not exist (give a run folder or a "
               ".ckpt)")


def run_robustness(
    runs: dict[str, tuple[str | None, str]],
    out: Path,
    num_images: int,
    families,
    batch_size: int,
    noises=None,
) -> dict[str, list[dict]]:
    """``noises``: the corruption names (default: analysis.robustness.NOISES)."""
    # torch and friends: loaded when there is work, not for --help
    from solo_coss.analysis import robustness as rob
    from solo_coss.data.datasets import dataset_stats
    from solo_coss.experiments.eval_images import eval_images
    from solo_coss.hosts.pretrained import linear_source, load_linear

    noises = rob.NOISES if noises is None else noises
    results, sources = {}, {}
    for name, (pre, lin) in runs.items():
        backbone, head, cfg = load_linear(lin, pre)  # refuses a head trained on another backbone
        sources[name] = {"head": str(Path(lin).resolve()), **linear_source(lin)}
        x, y = eval_images(cfg, num_images, pixel_space=True)
        model = rob.NormalizedClassifier(backbone, head, *dataset_stats(cfg["data"]["dataset"]))
        loader = [(x[k:k + batch_size], y[k:k + batch_size]) for k in range(0, len(x), batch_size)]
        results[name] = rob.evaluate(model, loader, rob.build_conditions(families, noises), desc=name)
    out.mkdir(parents=True, exist_ok=True)
    write_robustness(results, out, sources)
    return results


def write_robustness(
    results: dict[str, list[dict]], out: Path, sources: dict[str, dict] | None = None
) -> str:
    """robustness.{csv,md,png}, and robustness.json: the results with the head and checkpoint of each run."""
    from solo_coss.analysis.plots import robustness_figure
    from solo_coss.hosts.pretrained import progress_note

    names = list(results)
    keys = [(r["family"], r["level"]) for r in results[names[0]]]
    acc = {n: {(r["family"], r["level"]): r["accuracy"] for r in rows} for n, rows in results.items()}
    with open(out / "robustness.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["family", "level", *names])
        for key in keys:
            writer.writerow([*key, *(f"{acc[n].get(key, float('nan')):.2f}" for n in names)])
    lines = ["| condition | level | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    lines += [
        f"| {fam} | {lvl:g} | "
        + " | ".join(f"{acc[n].get((fam, lvl), float('nan')):.2f}" for n in names)
        + " |"
        for fam, lvl in keys
    ]
    if sources:
        lines += ["", "| run | linear head | checkpoint | step | backbone SHA-256 |", "|---|---|---|---|---|"]
        lines += [f"| {n} | `{s['head']}` | `{s['checkpoint']}` | {s['global_step']}{progress_note(s)} | "
                  f"{s['backbone_sha256'][:16]} |" for n, s in sources.items()]
    table = "\n".join(lines) + "\n"
    (out / "robustness.md").write_text(table)
    (out / "robustness.json").write_text(json.dumps({"runs": sources or {}, "results": results}, indent=1))
    robustness_figure(results, out / "robustness.png")
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="solo-coss-robustness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--run", action="append", help="NAME=LINEAR_HEAD.pt or NAME=PRETRAINED.ckpt,LINEAR_HEAD.pt"
    )
    parser.add_argument("--ckpt", action="append", help="pretraining checkpoint (pairs with --linear)")
    parser.add_argument("--linear", action="append", help="linear head written by solo-coss-linear")
    parser.add_argument("--out", default=None, help="the results' folder (default for one run: robustness/ "
                                                    "beside its linear head; several runs need one)")
    parser.add_argument("--num-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = parser.parse_args(argv)
    with one_line_errors("solo-coss-robustness"):
        runs = _parse_runs(args)
        out = Path(args.out) if args.out else _beside_the_head(runs)
        results = run_robustness(runs, out, args.num_images, args.families, args.batch_size)
    print((out / "robustness.md").read_text())
    files = ", ".join(str(out / f"robustness.{e}") for e in ("md", "csv", "png", "json"))
    print(f"{len(results)} run(s); outputs: {files}")


def _beside_the_head(runs: dict[str, tuple[str | None, str]]) -> Path:
    """The default ``--out`` of one run: robustness/ in its linear head's folder (its run folder)."""
    from solo_coss.core.keys import refuse

    if len(runs) > 1:
        refuse("--out", None, f"give a folder for the results of {len(runs)} runs (they belong to none of "
               "them)")
    return Path(next(iter(runs.values()))[1]).resolve().parent / "robustness"

"""solo-coss-report: redundancy, ERFs, linear/kNN and robustness of run folders, in one markdown report.

    solo-coss-report RUN_A RUN_B --out report/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from solo_coss.experiments.robustness import FAMILIES, run_robustness
from solo_coss.hosts.errors import one_line_errors


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="solo-coss-report",
        description="Redundancy, ERFs, linear/kNN and robustness of run folders, in one markdown report.",
    )
    parser.add_argument(
        "runs",
        nargs="+",
        help="run folders of either host (a standalone last.ckpt or solo-learn *-ep=N.ckpt + args.json; "
             "linear_head.pt, knn.json optional)",
    )
    parser.add_argument("--out", default=None, help="the report's folder (default for one run: RUN/report; "
                                                    "several runs need one)")
    parser.add_argument(
        "--num-images", type=int, default=200, help="validation images for redundancy/robustness"
    )
    parser.add_argument("--erf-images", type=int, default=3)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES,
                        help="robustness conditions (runs with a linear_head.pt); none to skip")
    args = parser.parse_args(argv)
    with one_line_errors("solo-coss-report"):
        out = output_folder(args.out, args.runs, "report")
        text = build_report([Path(r) for r in args.runs], out, args.num_images, args.erf_images,
                            args.families)
    print(text)
    print(f"report written to {out / 'report.md'} (figures beside it: redundancy.png, erf.png"
          f"{', robustness.png' if 'robustness.png' in text else ''})")


def output_folder(out: str | None, runs: list[str], name: str) -> Path:
    """``--out``, or for a single run ``<its run folder>/<name>``: the outputs of one run stay in its folder,
    those of several runs go where the user says."""
    from solo_coss.core.keys import naming, refuse
    from solo_coss.hosts.pretrained import checkpoint_of

    if out:
        return Path(out)
    if len(runs) > 1:
        refuse("--out", out, f"give a folder for the {name} of {len(runs)} runs (it belongs to none of them)")
    with naming("run", runs[0]):
        return checkpoint_of(runs[0]).parent / name


def build_report(runs: list[Path], out: Path, num_images: int, erf_images: int, families) -> str:
    # torch and friends: loaded when there is work, not for --help
    from solo_coss.analysis import erf as erf_mod
    from solo_coss.analysis import redundancy as red_mod
    from solo_coss.core.keys import naming
    from solo_coss.experiments.eval_images import eval_images
    from solo_coss.hosts.pretrained import checkpoint_of, load_identified, progress_note, run_label

    names: dict[str, Path] = {}
    given: dict[str, Path] = {}
    for run in runs:
        with naming("run", str(run)):  # fails early, naming the folder, when it holds no checkpoint
            folder = checkpoint_of(run).parent
        label = run_label(run)
        label = label if label not in names else f"{label} ({folder.name})"
        names[label], given[label] = folder, run
    out.mkdir(parents=True, exist_ok=True)
    red, erfs, evals, sources, pixels = {}, {}, {}, {}, None
    for name, run in names.items():
        with naming("run", str(given[name])):
            backbone, cfg, sources[name] = load_identified(run)
        evals[name] = stored_evaluations(run, sources[name])
        x, _ = eval_images(cfg, num_images, pixel_space=False)
        red[name] = red_mod.redundancy(backbone, x)
        erfs[name] = erf_mod.effective_receptive_fields(backbone, x[:erf_images])
        pixels = eval_images(cfg, erf_images, pixel_space=True)[0]
    red_mod.scatter(red, out / "redundancy.png")
    erf_mod.erf_figure(pixels, erfs, out / "erf.png")

    lines = ["# solo-coss report", "", f"Runs: {', '.join(f'`{r}`' for r in runs)}", "",
             "| run | checkpoint | step | backbone SHA-256 |", "|---|---|---|---|"]
    lines += [f"| {n} | `{s['checkpoint']}` | {s['global_step']}{progress_note(s)} | "
              f"{s['backbone_sha256'][:16]} |" for n, s in sources.items()]
    lines += ["", "## Linear probe and kNN", "", "| run | metric | top-1 (%) |", "|---|---|---|"]
    for name, metrics in evals.items():
        lines += [f"| {name} | {k} | {v:.2f} |" for k, v in metrics.items()] or [f"| {name} | - | - |"]
    lines += [
        "",
        "## Local redundancy (paper Fig. 3B)",
        "",
        f"{num_images} validation images; Pearson r between global and mean local cosine similarity over "
        "image pairs, and the mean intra-image similarity of local representations.",
        "",
        "| run | Pearson r | intra-image similarity | pairs |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {r['pearson']:.3f} | {r['intra_image_similarity']:.3f} | {r['num_pairs']} |"
              for n, r in red.items()]
    lines += ["", "![redundancy](redundancy.png)", "", "## Effective receptive fields (paper Fig. 4)", "",
              "Columns per run: local representations at normalised map coordinates "
              + ", ".join(str(c) for c in erf_mod.COORDS) + ".", "", "![erf](erf.png)"]
    with_heads = {n: (str(checkpoint_of(r)), str(r / "linear_head.pt")) for n, r in names.items()
                  if (r / "linear_head.pt").is_file()}
    if families and with_heads:
        run_robustness(with_heads, out, num_images, families, batch_size=200)
        lines += [
            "",
            "## Robustness",
            "",
            (out / "robustness.md").read_text(),
            "![robustness](robustness.png)",
        ]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    numbers = {n: {k: float(r[k]) for k in ("pearson", "intra_image_similarity")} for n, r in red.items()}
    (out / "report.json").write_text(
        json.dumps({"runs": sources, "evaluations": evals, "redundancy": numbers}, indent=1)
    )
    return text


def stored_evaluations(run: Path, source: dict) -> dict[str, float]:
    """linear top-1 and kNN results saved in the run folder, refused unless computed on its checkpoint."""
    from solo_coss.hosts.pretrained import check_source
    from solo_coss.hosts.safe_load import safe_load

    metrics = {}
    if (run / "linear_head.pt").is_file():
        head = safe_load(run / "linear_head.pt")
        check_source(
            f"{run / 'linear_head.pt'}",
            head.get("source"),
            source,
            f"run solo-coss-linear on it again (pretrained_feature_extractor={run}), or delete the file",
        )
        metrics["linear top-1"] = head["metrics"]["val_top1"]
    if (run / "knn.json").is_file():
        knn = json.loads((run / "knn.json").read_text())
        check_source(
            f"{run / 'knn.json'}",
            knn.get("checkpoint"),
            source,
            f"run solo-coss-knn on it again (pretrained_feature_extractor={run}), or delete the file",
        )
        metrics.update({f"kNN {k}": v for k, v in knn["top1"].items()})
    return metrics

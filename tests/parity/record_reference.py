"""Record what solo-learn computes for every parity case into tests/parity/solo_reference.json.

Needs solo-learn installed (README, "solo-learn host"); CI then checks the standalone host against the file
without it. Everything is computed in float64 (see tests/test_parity.py), so the file holds on any x86-64 CPU.
Run it after changing a case, the YAMLs they use, or the order in which the standalone host draws its
initial weights:

    python tests/parity/record_reference.py
    python tests/parity/record_reference.py --cases co_dino-vit co_byol-wide_resnet   # these cases only
    python tests/parity/record_reference.py --schedules warmup-start-lr --resolved lars-without-eta

``--cases``, ``--schedules``, ``--scalings`` and ``--resolved`` record the named entries again into the
existing file and keep everything else in it (they refuse a file recorded from another solo-learn commit or
torch version); the EMA coefficients are recorded by a full run only.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parity.cases import (  # noqa: E402
    CASES,
    REFERENCE,
    RESOLVED,
    SCALINGS,
    SCHEDULES,
    TAUS,
    init_law,
    one_thread,
    resolved_sections,
    state_fingerprints,
    summarize,
)
from parity.solo_side import run_pair, solo_losses, solo_lrs, solo_resolved, solo_taus  # noqa: E402


def solo_commit() -> str:
    import solo

    root = Path(solo.__file__).resolve().parents[1]
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


PARTS = {  # option: (the file's section, the names it can record)
    "cases": ("cases", [c.id for c in CASES]),
    "schedules": ("schedules", [s[0] for s in SCHEDULES]),
    "scalings": ("scaling", list(SCALINGS)),
    "resolved": ("resolved", list(RESOLVED)),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for option, (_, names) in PARTS.items():
        parser.add_argument(f"--{option}", nargs="+", choices=names, metavar=option.upper().removesuffix("S"),
                            help=f"record only these {option} into the existing file")
    parser.add_argument("--out", type=Path, default=REFERENCE,
                        help="where to write (default: the reference the tests read); e.g. a record under "
                             "another kernel selection, for compare_references.py")
    args = parser.parse_args(argv)
    chosen = {option: getattr(args, option) for option in PARTS if getattr(args, option)}
    out = {"solo_learn": solo_commit(), "torch": torch.__version__, "dtype": "float64", "cases": {},
           "schedules": {}, "taus": {}, "scaling": {}, "resolved": {}}
    if chosen:
        stored = json.loads(args.out.read_text())
        differing = [k for k in ("solo_learn", "torch", "dtype") if stored.get(k) != out[k]]
        if differing:
            sys.exit(f"{args.out} was recorded with {[stored.get(k) for k in differing]}, here "
                     f"{[out[k] for k in differing]} ({differing}): record everything (no options)")
        out = {**out, **stored}

    def wanted(option: str, name: str) -> bool:
        return not chosen or name in chosen.get(option, ())

    for case in CASES:
        if not wanted("cases", case.id):
            continue
        pair = run_pair(case)
        out["cases"][case.id] = {
            "init": state_fingerprints(pair.ours_capture.states[0]),
            "solo_init": init_law(pair.theirs_fresh, pair.names),
            **summarize(pair.theirs_capture, solo_losses(case.method), rename=pair.names),
        }
        del pair
        gc.collect()  # the Trainers and modules hold each other: free each case's float64 states now
        print(f"recorded {case.id}", flush=True)
    for name, overrides, steps, epochs, accumulate in SCHEDULES:
        if wanted("schedules", name):
            out["schedules"][name] = solo_lrs(overrides, steps, epochs, accumulate)
    if not chosen:
        for total, base, final in TAUS:
            out["taus"][f"{total}-{base}-{final}"] = solo_taus(total, base, final)
    for name, overrides in SCALINGS.items():
        if wanted("scalings", name):
            optimizer = solo_resolved(overrides)["optimizer"]
            out["scaling"][name] = {"lr": optimizer["lr"], "classifier_lr": optimizer["classifier_lr"]}
    for name, overrides in RESOLVED.items():
        if wanted("resolved", name):
            out["resolved"][name] = resolved_sections(solo_resolved(overrides))
    write(out, args.out)


def write(out: dict, path: Path) -> None:
    path.write_text(json.dumps(rounded(out), separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def rounded(value):
    """Floats to 13 significant digits: far below the tests' tolerances (1e-9), and a third of the file."""
    if isinstance(value, float):
        return float(f"{value:.13g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


if __name__ == "__main__":
    with one_thread():
        main()

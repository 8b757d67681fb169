"""Record what solo-learn computes for every parity case into tests/parity/solo_reference.json.

Needs solo-learn installed (README, "solo-learn host"); CI then checks the standalone host against the file
without it. Everything is computed in float64 (see tests/test_parity.py), so the file holds on any x86-64 CPU.
Run it after changing a case, the YAMLs they use, or the order in which the standalone host draws its
initial weights:

    python tests/parity/record_reference.py
    python tests/parity/record_reference.py --cases co_dino-vit co_byol-wide_resnet   # these cases only

``--cases`` records the named cases again into the existing file and keeps everything else in it (it
refuses a file recorded from another solo-learn commit or torch version).
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
    SCALINGS,
    SCHEDULES,
    TAUS,
    init_law,
    one_thread,
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=[c.id for c in CASES], metavar="CASE",
                        help="record only these cases into the existing file")
    parser.add_argument("--out", type=Path, default=REFERENCE,
                        help="where to write (default: the reference the tests read); e.g. a record under "
                             "another kernel selection, for compare_references.py")
    args = parser.parse_args(argv)
    out = {"solo_learn": solo_commit(), "torch": torch.__version__, "dtype": "float64", "cases": {}, "schedules": {},
           "taus": {}, "scaling": {}}
    if args.cases:
        stored = json.loads(args.out.read_text())
        differing = [k for k in ("solo_learn", "torch", "dtype") if stored.get(k) != out[k]]
        if differing:
            sys.exit(f"{args.out} was recorded with {[stored.get(k) for k in differing]}, here "
                     f"{[out[k] for k in differing]} ({differing}): record every case (no --cases)")
        out = stored
    for case in CASES:
        if args.cases and case.id not in args.cases:
            continue
        pair = run_pair(case)
        out["cases"][case.id] = {"init": state_fingerprints(pair.ours_capture.states[0]),
                                 "solo_init": init_law(pair.theirs_fresh, pair.names),
                                 **summarize(pair.theirs_capture, solo_losses(case.method), rename=pair.names)}
        del pair
        gc.collect()  # the Trainers and modules hold each other: free each case's float64 states now
        print(f"recorded {case.id}", flush=True)
    if args.cases:
        write(out, args.out)
        return
    for name, overrides, steps, epochs, accumulate in SCHEDULES:
        out["schedules"][name] = solo_lrs(overrides, steps, epochs, accumulate)
    for total, base, final in TAUS:
        out["taus"][f"{total}-{base}-{final}"] = solo_taus(total, base, final)
    for name, overrides in SCALINGS.items():
        resolved = solo_resolved(overrides)
        out["scaling"][name] = {"lr": resolved["optimizer"]["lr"], "classifier_lr": resolved["optimizer"]["classifier_lr"]}
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

"""Compare two records of the parity reference, e.g. made under different CPU kernel selections.

    ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41 \\
        python tests/parity/record_reference.py --out /tmp/reference-sse.json
    python tests/parity/compare_references.py tests/parity/solo_reference.json /tmp/reference-sse.json

Prints, per section of the record (each case's starting weights, solo-learn's initialisation law, losses and
steps; schedules; EMA taus; lr scaling), how many numbers differ at all and the largest relative difference
among them; for the runs, whether the tests' tolerances (``compare_runs``) accept the second record as the
first, and the smallest tolerance that would (relative, with the same floor: values near zero compare
against the largest of their kind). Exits 1 when the tolerances do not accept it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parity.cases import compare_runs  # noqa: E402


def leaves(value, path=""):
    """(path, leaf) for every number or string of a nested record."""
    if isinstance(value, dict):
        for k in sorted(value):
            yield from leaves(value[k], f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def largest_difference(a, b) -> tuple[int, float]:
    """(how many leaves differ, the largest relative difference among the numbers; inf where the structure or
    a name differs)."""
    left, right = dict(leaves(a)), dict(leaves(b))
    if left.keys() != right.keys():
        return -1, math.inf
    differing, worst = 0, 0.0
    for path, x in left.items():
        y = right[path]
        if x != y:
            differing += 1
            numbers = isinstance(x, (int, float)) and isinstance(y, (int, float))
            worst = max(worst, abs(x - y) / max(abs(y), 1e-300) if numbers else math.inf)
    return differing, worst


def closest_tolerance(a: dict, b: dict) -> float:
    """The smallest power of ten t for which ``compare_runs`` with relative tolerance t and floor t (t x the
    largest value of each kind in each step) accepts ``b`` as ``a``."""
    for exponent in range(-16, -6):
        t = float(f"1e{exponent}")
        if not compare_runs(b, a, t, t, t):
            return t
    return math.inf


def main(first: Path, second: Path) -> int:
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    rows, failed = [], False
    for case in sorted(set(a["cases"]) | set(b["cases"])):
        if case not in a["cases"] or case not in b["cases"]:
            rows.append((case, -1, math.inf, "only in one record"))
            failed = True
            continue
        ca, cb = a["cases"][case], b["cases"][case]
        bad = compare_runs(cb, ca)
        failed |= bool(bad)
        for part in ("init", "solo_init"):
            rows.append((f"{case} {part}", *largest_difference(ca[part], cb[part]), ""))
        run = {k: ca[k] for k in ("batch_losses", "steps", "final_values")}
        rows.append(
            (
                f"{case} run",
                *largest_difference(run, {k: cb[k] for k in run}),
                f"accepted; agree within {closest_tolerance(ca, cb):g}" if not bad else f"REJECTED: {bad[0]}",
            )
        )
    for section in ("schedules", "taus", "scaling"):
        rows.append((section, *largest_difference(a[section], b[section]), ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'section':<{width}}  differing  largest relative difference  by the run tolerances")
    for name, count, worst, verdict in rows:
        print(f"{name:<{width}}  {count:>9}  {worst:>27.3g}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))

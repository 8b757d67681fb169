"""The CI half of the parity checks: the standalone host against tests/parity/solo_reference.json, which
tests/parity/record_reference.py recorded from solo-learn. No solo-learn needed.

Each check returns the list of its mismatches (empty: passes); tests/test_parity.py asserts them empty, and
tests/parity/mutations.py runs them all on a deliberately broken product to show they can fail.
"""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Callable

from parity.cases import (
    CASES,
    REFERENCE,
    RESOLVED,
    SCALINGS,
    SCHEDULES,
    STANDALONE_LOSSES,
    TAUS,
    build_standalone,
    build_started,
    compare_runs,
    fit,
    init_law,
    law_mismatches,
    make_batches,
    mismatches,
    one_thread,
    resolved_sections,
    schedule_config,
    standalone_lrs,
    standalone_taus,
    state_fingerprints,
    summarize,
)
from solo_coss.hosts.standalone.config import resolve_pretrain_config


@functools.cache
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


def case_mismatches(case) -> list[str]:
    """The standalone run of ``case`` against solo-learn's recorded one, from the same initial weights."""
    ref = reference()["cases"][case.id]
    module, cfg = build_started(case)
    changed = mismatches(state_fingerprints(module.state_dict()), ref["init"], rtol=1e-9, atol=0.0)
    if changed:
        return [
            f"the standalone model of {case.id!r} no longer starts from the weights the reference was "
            "recorded "
            f"from: {len(changed)} tensors differ in sum |x| (e.g. {'; '.join(changed[:3])}). The start is "
            "drawn "
            "from integers (parity/portable.py) and depends only on the model's state entries (names, order, "
            "shapes) and each tensor's scale rounded to 2 digits: if one of those changed and "
            "test_initialisation_law_matches_recorded_solo_learn passes, record the reference again "
            "(python tests/parity/record_reference.py, with solo-learn installed)"
        ]
    ours = summarize(fit(module, make_batches(case), cfg["max_epochs"], cfg["accumulate_grad_batches"]),
                     STANDALONE_LOSSES)
    return compare_runs(ours, ref)


def init_law_mismatches(case) -> list[str]:
    """The standalone's freshly built model of ``case`` against the law of solo-learn's own fresh model."""
    module, _ = build_standalone(case)
    return law_mismatches(init_law(module.state_dict()), reference()["cases"][case.id]["solo_init"])


def schedule_mismatches(name: str) -> list[str]:
    _, overrides, steps, epochs, accumulate = next(s for s in SCHEDULES if s[0] == name)
    return mismatches(standalone_lrs(overrides, steps, epochs, accumulate), reference()["schedules"][name],
                      rtol=1e-9, atol=1e-15)


def tau_mismatches() -> list[str]:
    return [
        bad
        for total, base, final in TAUS
        for bad in mismatches(
            standalone_taus(total, base, final),
            reference()["taus"][f"{total}-{base}-{final}"],
            rtol=1e-12,
            atol=0.0,
            path=f"/taus/{total}-{base}-{final}",
        )
    ]


def scaling_mismatches(name: str) -> list[str]:
    opt = resolve_pretrain_config(schedule_config(SCALINGS[name]))["optimizer"]
    return mismatches({"lr": opt["lr"], "classifier_lr": opt["classifier_lr"]}, reference()["scaling"][name],
                      rtol=1e-12, atol=0.0, path=f"/scaling/{name}")


Check = tuple[str, Callable[[], list[str]]]


def resolved_mismatches(name: str) -> list[str]:
    """The standalone's resolved optimizer, momentum and scheduler sections against solo-learn's recorded ones
    (the keys solo-learn has; numbers within 1e-12 relative, the rest equal)."""
    ours = resolve_pretrain_config(schedule_config(RESOLVED[name]))
    return differing_values(resolved_sections(ours), reference()["resolved"][name], f"/resolved/{name}")


def differing_values(ours, theirs, path: str) -> list[str]:
    """Where ``ours`` differs from ``theirs`` (a nested structure): keys of ``theirs`` only."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {ours!r} vs {theirs!r}"]
        return [bad for k in theirs
                for bad in differing_values(ours.get(k, "<missing>"), theirs[k], f"{path}/{k}")]
    if isinstance(theirs, list) and isinstance(ours, list) and len(ours) == len(theirs):
        return [bad for i, (a, b) in enumerate(zip(ours, theirs))
                for bad in differing_values(a, b, f"{path}[{i}]")]
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (ours, theirs))
    if (numbers and abs(ours - theirs) <= 1e-12 * abs(theirs)) or (not numbers and ours == theirs):
        return []
    return [f"{path}: {ours!r} vs {theirs!r}"]


def all_checks(extra: list[Check] = ()) -> list[Check]:
    """Every CI-half check as (name, check), the cheap ones first; ``extra`` checks after those."""
    checks = [(f"scaling[{name}]", functools.partial(scaling_mismatches, name)) for name in SCALINGS]
    checks += [(f"resolved[{name}]", functools.partial(resolved_mismatches, name)) for name in RESOLVED]
    checks += [(f"schedule[{s[0]}]", functools.partial(schedule_mismatches, s[0])) for s in SCHEDULES]
    checks.append(("taus", tau_mismatches))
    checks += list(extra)
    checks += [(f"init law[{c.id}]", functools.partial(init_law_mismatches, c)) for c in CASES]
    checks += [(f"run[{c.id}]", functools.partial(case_mismatches, c)) for c in CASES]
    return checks


def first_failure(checks: list[Check] | None = None) -> tuple[str, list[str]] | None:
    """(check name, its mismatches) of the first of ``checks`` (default: every CI-half check) that fails, or
    None."""
    with one_thread():
        for name, check in checks if checks is not None else all_checks():
            bad = check()
            gc.collect()
            if bad:
                return name, bad
    return None

"""Host parity: one YAML trains the same thing in the standalone host and in solo-learn.

Two halves. With solo-learn installed (README, "solo-learn host"), every case runs in both hosts from the
same weights and batches, and the logged losses, every gradient, every state entry after every step, the
initialisation law, the lr of every parameter group at every step, the EMA coefficients and the resolved lrs
are compared. Without it (CI), the standalone host is checked against tests/parity/solo_reference.json,
recorded from solo-learn by tests/parity/record_reference.py (tests/parity/checks.py).

Precision. The cases run in float64 in both halves (and once more in float32 live). In float32 the tiny
BatchNorm networks of the cases turn the rounding differences between CPU kernels (AVX-512 vs AVX2) into
0.1-1% differences after two steps, so a float32 reference recorded on one CPU failed on another; in float64
the same comparison agrees to ~1e-14 (measured with ATen's AVX2 and AVX-512 kernels).

Tolerances (tests/parity/cases.py): relative 1e-9 for the first batch's losses and the first optimizer
step, 1e-7 for later ones and the final values; within each step each kind of value (gradient norms,
trained-parameter updates, momentum-network updates, buffer updates) has an absolute floor of 1e-9 x the
largest value of its kind, so that a gradient that is zero up to rounding (a bias before BatchNorm) is
compared at that level. The initialisation law is compared within 6 standard errors of the sample size.
The float32 live comparison holds the two-view cases to 1e-6 (the two hosts run the same float32 arithmetic
in the same order and agree bit for bit there). Every check runs with one torch thread (`one_thread`).

tests/parity/mutations.py lists breakages of the product that the CI half must catch (and does: slow test
below, and `python tests/parity/mutations.py` for the table).
"""

from __future__ import annotations

import copy
import gc
import pickle
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from parity.cases import (
    CASES,
    FIRST_RTOL,
    FLOOR,
    LATER_RTOL,
    RESOLVED,
    ROOT,
    SCALINGS,
    SCHEDULES,
    STANDALONE_LOSSES,
    TAUS,
    build_standalone,
    compare_runs,
    init_law,
    law_mismatches,
    make_batches,
    mismatches,
    one_thread,
    schedule_config,
    standalone_lrs,
    standalone_taus,
    state_fingerprints,
    summarize,
)
from parity.checks import (
    case_mismatches,
    init_law_mismatches,
    reference,
    resolved_mismatches,
    scaling_mismatches,
    schedule_mismatches,
    tau_mismatches,
)
from parity.live import needs_solo
from parity.mutations import MUTATIONS, mutated

from solo_coss.hosts.standalone.config import resolve_pretrain_config


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_thread():
        yield
    gc.collect()  # a Trainer and its module hold each other: free the float64 runs (~1 GB each) now


def two_view(case) -> bool:
    return len(case.crops) == 2


# ---------------------------------------------------------------- against the recorded reference (always)

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_standalone_matches_recorded_solo_learn(case):
    bad = case_mismatches(case)
    assert not bad, f"{len(bad)} values differ from solo-learn's, e.g.\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_initialisation_law_matches_recorded_solo_learn(case):
    bad = init_law_mismatches(case)
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name", [s[0] for s in SCHEDULES])
def test_lr_schedule_matches_recorded(name):
    assert not schedule_mismatches(name)


def test_ema_tau_matches_recorded():
    assert not tau_mismatches()


@pytest.mark.parametrize("name", list(SCALINGS))
def test_lr_scaling_matches_recorded(name):
    assert not scaling_mismatches(name)


@pytest.mark.parametrize("name", list(RESOLVED))
def test_resolved_config_matches_recorded(name):
    """lr scaling, the optimizer's kwargs defaults (LARS's eta when the YAML has none), EMA and scheduler keys
    as solo-learn resolves them."""
    bad = resolved_mismatches(name)
    assert not bad, bad


def test_reference_checks_can_fail():
    """A product mutation (BYOL's loss averaged over its view pairs instead of summed, as solo-learn does)
    makes the recorded-reference check of the byol case fail, on its losses and its updates."""
    case = next(c for c in CASES if c.id == "byol")
    with mutated("byol-loss-mean"):
        bad = case_mismatches(case)
    assert any(b.startswith("/batch_losses[0]/global") for b in bad), bad[:5]
    assert any(b.startswith("/steps[0]/param_update/method.projector") for b in bad), bad[:5]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_every_listed_mutation_is_caught_by_the_ci_half(name):
    """The CI half of the parity checks or the independent CO reference (tests/co_term_vs_reference.py)."""
    from parity.mutations import first_failure

    with mutated(name):
        assert first_failure() is not None, f"{name!r} passes every CI-half check and the CO reference"


def test_reference_was_recorded_in_float64():
    assert reference()["dtype"] == "float64"


def test_training_keys_come_from_the_schema():
    """The keys tests/parity/keys.py requires a parity config for: the schema's, the methods', the co block's
    (a new one is listed without being named here); the sections it leaves out exist."""
    from dataclasses import fields

    from parity.keys import NOT_TRAINING, training_keys

    from solo_coss.hosts.standalone.schema import PretrainConfig

    keys = training_keys()
    assert len(keys) == len(set(keys))
    assert {"scheduler.warmup_start_lr", "scheduler.min_lr", "optimizer.kwargs.eta", "momentum.final_tau",
            "method_kwargs.warmup_teacher_temperature", "method_kwargs.co.num_positions",
            "method_kwargs.co.target", "accumulate_grad_batches"} <= set(keys)
    assert not set(keys) & set(NOT_TRAINING)
    assert set(NOT_TRAINING) <= {f.name for f in fields(PretrainConfig)}


@pytest.mark.slow  # composes every parity config (Hydra: ~0.1-0.2 s each)
def test_every_training_key_has_a_parity_config_with_a_non_default_value():
    """Every key of the standalone host that changes training is set to a value other than its default by
    some run case, lr schedule or lr scaling, so a broken reading of it differs from solo-learn somewhere."""
    from parity.keys import where_set

    missing = sorted(key for key, configs in where_set().items() if not configs)
    assert not missing, f"no parity config sets these keys to a non-default value: {missing}"


# ---------------------------------------------------------------- the shipped configs (always)

def compose_yaml(folder: Path, name: str) -> dict:
    with initialize_config_dir(str(folder), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(name), resolve=False)
    return {k: v for k, v in cfg.items() if k not in ("hydra", "wandb", "name", "defaults")}


CO_PAIRS = [(d, m) for d in ("cifar", "stl10", "imagenet-100", "imagenet", "fashion-mnist")
            for m in ("byol", "simclr", "mocov3", "dino")] + \
    [("imagenet-100", "dino_vit"), ("imagenet-100", "mocov3_vit"), ("fashion-mnist", "mocov3_vit")]


@pytest.mark.parametrize("folder,config", CO_PAIRS, ids=[f"{d}/{m}" for d, m in CO_PAIRS])
def test_co_config_is_its_baseline_plus_the_co_block(folder, config):
    path, method = ROOT / "scripts/pretrain" / folder, config.removesuffix("_vit")
    base, co = compose_yaml(path, config), compose_yaml(path, f"co_{config}")
    assert co.pop("method") == f"co_{method}" and base.pop("method") == method
    assert "weight" in co["method_kwargs"].pop("co")
    assert co == base


# solo-learn's own YAMLs where it has them; known differences, with their reason.
SOLO_CONFIGS = [(d, m) for d in ("cifar", "imagenet-100") for m in ("byol", "simclr", "mocov3", "dino")] + \
    [("imagenet", "byol"), ("imagenet-100", "dino_vit"), ("imagenet-100", "mocov3_vit")]
DIFFERENCES = {
    ("cifar", "simclr"): {"data"},  # solo-learn's file validates on ImageNet-100's val folder (a slip)
    ("imagenet-100", "simclr"): {"data"},  # the same folders as the other methods' (./datasets/imagenet-100)
}


@needs_solo
@pytest.mark.parametrize("folder,method", SOLO_CONFIGS, ids=[f"{d}/{m}" for d, m in SOLO_CONFIGS])
def test_shipped_baseline_equals_solo_learns_yaml(folder, method):
    from solo_coss.hosts.solo_learn import solo_root

    ours = compose_yaml(ROOT / "scripts/pretrain" / folder, method)
    theirs = compose_yaml(solo_root() / "scripts/pretrain" / folder, method)
    skip = DIFFERENCES.get((folder, method), set())
    differing = sorted(k for k in set(ours) | set(theirs) if k not in skip and ours.get(k) != theirs.get(k))
    assert not differing, {k: (ours.get(k), theirs.get(k)) for k in differing}


# ---------------------------------------------------------------- live, against solo-learn

def assert_states_close(ours: dict, theirs: dict, names: dict, rtol: float, floor: float, what: str):
    """Element-wise, within rtol of each element, with an absolute floor of ``floor`` x the largest magnitude
    in the tensor (for gradients: in the whole step, so that zero-up-to-rounding gradients, e.g. of a bias
    before BatchNorm, compare at that level); rounding in a sum scales with its terms, not with the result."""
    step_scale = max((float(v.abs().max()) for v in theirs.values() if v.is_floating_point() and v.numel()),
                     default=0.0) if what.startswith("gradient") else 0.0
    for name, value in ours.items():
        other = theirs[names[name]].reshape(value.shape)
        if value.is_floating_point():
            scale = max(float(other.abs().max()) if other.numel() else 0.0, step_scale)
            torch.testing.assert_close(value, other, rtol=rtol, atol=floor * scale,
                                       msg=lambda detail, n=name: f"{what}: {n}\n{detail}")
        else:
            assert torch.equal(value, other), f"{what}: {name}"


def assert_same_run(pair, first: float, later: float, floor: float, case):
    from parity.solo_side import solo_losses

    ours, theirs, names = pair.ours_capture, pair.theirs_capture, pair.names
    assert len(ours.grads) == len(theirs.grads) >= 1 and len(ours.states) == len(theirs.states)
    ours_losses = summarize(ours, STANDALONE_LOSSES)["batch_losses"]
    theirs_losses = summarize(theirs, solo_losses(case.method), names)["batch_losses"]
    assert not mismatches(ours_losses[:1], theirs_losses[:1], rtol=first, atol=0)
    assert not mismatches(ours_losses, theirs_losses, rtol=later, atol=0)
    for step, (g_ours, g_theirs) in enumerate(zip(ours.grads, theirs.grads)):
        assert {names[n] for n in g_ours} == set(g_theirs), f"step {step}: different parameters got gradients"
        assert_states_close(
            g_ours, g_theirs, names, first if step == 0 else later, floor, f"gradient at step {step}"
        )
    for step, (s_ours, s_theirs) in enumerate(zip(ours.states, theirs.states)):
        assert_states_close(
            s_ours, s_theirs, names, first if step <= 1 else later, floor, f"state after {step} steps"
        )


@needs_solo
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_same_losses_gradients_and_steps_as_solo_learn(case):
    from parity.solo_side import run_pair

    assert_same_run(run_pair(case), FIRST_RTOL, LATER_RTOL, FLOOR, case)


@needs_solo
@pytest.mark.parametrize("case", [c for c in CASES if two_view(c)], ids=lambda c: c.id)
def test_same_float32_steps_as_solo_learn(case):
    """The float32 path too: both hosts run the same float32 arithmetic in the same order on two views."""
    from parity.solo_side import run_pair

    assert_same_run(run_pair(case, torch.float32), 1e-6, 1e-6, 1e-6, case)


@needs_solo
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_initialisation_law_as_solo_learn(case):
    """solo-learn's own fresh model and ours: the same shapes, the same tensors starting as copies of others
    (momentum networks), the same law per tensor."""
    from parity.solo_side import solo_init_law

    ours, _ = build_standalone(case)
    bad = law_mismatches(init_law(ours.state_dict()), solo_init_law(case))
    assert not bad, "\n".join(bad[:10])


@needs_solo
@pytest.mark.parametrize("name,overrides,steps,epochs,accumulate", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_lr_of_every_group_at_every_step_as_solo_learn(name, overrides, steps, epochs, accumulate):
    from parity.solo_side import solo_lrs

    ours, theirs = (
        standalone_lrs(overrides, steps, epochs, accumulate),
        solo_lrs(overrides, steps, epochs, accumulate),
    )
    assert not mismatches(ours, theirs, rtol=1e-9, atol=1e-15)


@needs_solo
def test_ema_tau_schedule_as_solo_learn():
    from parity.solo_side import solo_taus

    for total, base, final in TAUS:
        assert standalone_taus(total, base, final) == pytest.approx(solo_taus(total, base, final), rel=1e-12)


@needs_solo
def test_resolved_config_as_solo_learns_args():
    """lr / classifier_lr scaling, the derived data keys and the optimizer defaults, as in args.json."""
    from parity.solo_side import solo_resolved

    for overrides in RESOLVED.values():
        ours, theirs = resolve_pretrain_config(schedule_config(overrides)), solo_resolved(overrides)
        for key in ("optimizer", "momentum"):
            assert {k: ours[key][k] for k in theirs[key]} == theirs[key], (overrides, key)
        for key in ("num_large_crops", "num_small_crops", "num_classes", "fraction", "no_labels"):
            assert ours["data"][key] == theirs["data"][key], (overrides, key)
        for key in ("min_lr", "warmup_start_lr", "warmup_epochs", "interval"):
            assert ours["scheduler"][key] == theirs["scheduler"][key], (overrides, key)


@needs_solo
@pytest.mark.parametrize("case_id", ["co_byol", "co_mocov3-bagnet", "co_mocov3-fashion-mnist-co-options",
                                     "co_dino-co-options-lars-default-eta"])
def test_reference_file_is_current(case_id):
    """Recording again now gives the stored values (a changed case or YAML must come with a new file)."""
    from parity.solo_side import run_pair, solo_init_law, solo_losses

    case = next(c for c in CASES if c.id == case_id)
    pair = run_pair(case)
    stored = reference()["cases"][case.id]
    assert not mismatches(state_fingerprints(pair.ours_capture.states[0]), stored["init"], rtol=1e-9, atol=0)
    assert not compare_runs(summarize(pair.theirs_capture, solo_losses(case.method), pair.names), stored)
    assert not law_mismatches(solo_init_law(case), stored["solo_init"])


@needs_solo
@pytest.mark.parametrize("method", ["co_byol", "co_simclr", "co_mocov3", "co_dino"])
def test_adapter_models_pickle_and_deepcopy_cleanly(method):
    """The CO classes are module-level (picklable); a copy's hooks feed the copy's maps, not the original's.
    (solo-learn's own DINO head uses torch's old weight_norm, which cannot be deep-copied: CO-DINO is copied
    through pickle only.)"""
    from parity.cases import Case
    from parity.solo_side import build_solo, solo_batches

    model, _ = build_solo(Case(method, method, ("backbone.name=rf29_resnet18",
                                                "+backbone.kwargs.widths=[8,16,32,64]")).config())
    clone = pickle.loads(pickle.dumps(model))
    assert type(clone) is type(model)
    twins = [clone] if method == "co_dino" else [clone, copy.deepcopy(model)]
    batch = solo_batches(make_batches(Case(method, method)))[0]
    for twin in twins:
        model._co_maps = {"online": [], "target": []}  # a recording step of the original would fill these
        twin.training_step(batch, 0)
        assert model._co_maps == {"online": [], "target": []}, "the copy's hooks wrote into the original"
        assert twin.co_term is not model.co_term
    twin = twins[-1]
    if method != "co_simclr":
        pairs = twin.momentum_pairs
        assert (twin.co_term.projector, twin.co_term.momentum_projector) in [tuple(p) for p in pairs]

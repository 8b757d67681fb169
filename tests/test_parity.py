"""Host parity: one YAML trains the same thing in the standalone host and in solo-learn.

Two halves. With solo-learn installed (README, "solo-learn host"), every case runs in both hosts from the
same weights and batches, and the logged losses, every gradient, every state entry after every step, the lr
of every parameter group at every step, the EMA coefficients and the resolved lrs are compared. Without it
(CI), the standalone host is checked against tests/parity/solo_reference.json, recorded from solo-learn by
tests/parity/record_reference.py.

Tolerances. With two views both hosts run the same float32 arithmetic in the same order and agree bit for
bit; we allow rtol 1e-6. With multi-crop the backbone receives 3+ gradient contributions that autograd adds
in a different order in each host (rounding, ~1e-7 relative at the first step), and a tiny-batch BatchNorm
network amplifies that through the following steps: the first step is held to 1e-6, later ones to 1e-3.
Both halves run with one torch thread (`one_thread`), so the machine's core count does not matter. The
reference file may have been recorded on another CPU, whose kernels round differently: first step 1e-5,
later steps 1e-3, gradients smaller than 1e-6 of the largest one (those of biases followed by BatchNorm,
zero up to rounding) compared absolutely.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pickle
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from parity.cases import (
    CASES,
    REFERENCE,
    ROOT,
    SCALINGS,
    SCHEDULES,
    STANDALONE_LOSSES,
    TAUS,
    build_standalone,
    fit,
    make_batches,
    mismatches,
    one_thread,
    schedule_config,
    standalone_lrs,
    standalone_taus,
    state_checksum,
    summarize,
)

from solo_coss.hosts.standalone.config import resolve_pretrain_config

HAS_SOLO = importlib.util.find_spec("solo") is not None
needs_solo = pytest.mark.skipif(not HAS_SOLO, reason="solo-learn is not installed (git checkout + pip install -e, "
                                                     "README 'solo-learn host'); the reference-file tests cover CI")
REF = json.loads(REFERENCE.read_text())


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_thread():
        yield


def multicrop(case) -> bool:
    return len(case.crops) > 2


# ---------------------------------------------------------------- against the recorded reference (always)

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_standalone_matches_recorded_solo_learn(case):
    ref = REF["cases"][case.id]
    module, cfg = build_standalone(case)
    start = state_checksum(module.state_dict())
    assert start == pytest.approx(ref["init"], rel=1e-9), (
        "the standalone model no longer starts from the recorded weights: the reference is stale, regenerate it "
        "with `python tests/parity/record_reference.py` (needs solo-learn)")
    ours = summarize(fit(module, make_batches(case), cfg["max_epochs"], cfg["accumulate_grad_batches"]),
                     STANDALONE_LOSSES)
    scale = max(max(step["grad_norm"].values()) for step in ref["steps"])
    first = {"batch_losses": ours["batch_losses"][:1], "steps": ours["steps"][:1]}
    first_ref = {"batch_losses": ref["batch_losses"][:1], "steps": ref["steps"][:1]}
    bad = mismatches(first, first_ref, rtol=1e-5, atol=1e-6 * scale)
    bad += mismatches(ours, {k: ref[k] for k in ours}, rtol=1e-3, atol=1e-6 * scale)
    assert not bad, f"{len(bad)} values differ from solo-learn's, e.g.\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("name,overrides,steps,epochs,accumulate", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_lr_schedule_matches_recorded(name, overrides, steps, epochs, accumulate):
    ours = standalone_lrs(overrides, steps, epochs, accumulate)
    assert not mismatches(ours, REF["schedules"][name], rtol=1e-9, atol=1e-15)


def test_ema_tau_matches_recorded():
    for total, base, final in TAUS:
        assert standalone_taus(total, base, final) == pytest.approx(REF["taus"][f"{total}-{base}-{final}"], rel=1e-12)


@pytest.mark.parametrize("name", ["batch-8", "batch-64-devices-3-nodes-2", "no-val-path"])
def test_lr_scaling_matches_recorded(name):
    opt = resolve_pretrain_config(schedule_config(SCALINGS[name]))["optimizer"]
    assert (opt["lr"], opt["classifier_lr"]) == pytest.approx(tuple(REF["scaling"][name].values()), rel=1e-12)


def test_reference_checks_can_fail():
    """A wrong loss scale (the mean over view pairs instead of solo-learn's sum) is caught."""
    case = next(c for c in CASES if c.id == "byol")
    ref = REF["cases"][case.id]
    halved = copy.deepcopy(ref)
    halved["batch_losses"][0]["global"] /= 2
    assert mismatches(halved, ref, rtol=1e-5, atol=0)


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

def assert_states_close(ours: dict, theirs: dict, names: dict, rtol: float, what: str):
    """Element-wise, within rtol of each element or of the largest magnitude in the tensor (for gradients:
    in the whole step, so that zero-up-to-rounding gradients, e.g. of a bias before BatchNorm, compare
    absolutely); rounding in a sum scales with its terms, not with the result."""
    step_scale = max((float(v.abs().max()) for v in theirs.values() if v.is_floating_point() and v.numel()),
                     default=0.0) if what.startswith("gradient") else 0.0
    for name, value in ours.items():
        other = theirs[names[name]].reshape(value.shape)
        if value.is_floating_point():
            scale = max(float(other.abs().max()) if other.numel() else 0.0, step_scale)
            torch.testing.assert_close(value, other, rtol=rtol, atol=rtol * scale,
                                       msg=lambda detail, n=name: f"{what}: {n}\n{detail}")
        else:
            assert torch.equal(value, other), f"{what}: {name}"


@needs_solo
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_same_losses_gradients_and_steps_as_solo_learn(case):
    from parity.solo_side import run_pair, solo_losses

    _, ours, _, theirs, names = run_pair(case)
    assert len(ours.grads) == len(theirs.grads) >= 1 and len(ours.states) == len(theirs.states)
    first, loose = (1e-5, 1e-2) if multicrop(case) else (1e-6, 1e-6)
    ours_losses = summarize(ours, STANDALONE_LOSSES)["batch_losses"]
    theirs_losses = summarize(theirs, solo_losses(case.method), names)["batch_losses"]
    assert not mismatches(ours_losses[:1], theirs_losses[:1], rtol=first, atol=0)
    assert not mismatches(ours_losses, theirs_losses, rtol=min(loose, 1e-3), atol=0)
    for step, (g_ours, g_theirs) in enumerate(zip(ours.grads, theirs.grads)):
        assert {names[n] for n in g_ours} == set(g_theirs), f"step {step}: different parameters got gradients"
        assert_states_close(g_ours, g_theirs, names, first if step == 0 else loose, f"gradient at step {step}")
    for step, (s_ours, s_theirs) in enumerate(zip(ours.states, theirs.states)):
        assert_states_close(s_ours, s_theirs, names, first if step <= 1 else loose, f"state after {step} steps")


@needs_solo
@pytest.mark.parametrize("name,overrides,steps,epochs,accumulate", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_lr_of_every_group_at_every_step_as_solo_learn(name, overrides, steps, epochs, accumulate):
    from parity.solo_side import solo_lrs

    ours, theirs = standalone_lrs(overrides, steps, epochs, accumulate), solo_lrs(overrides, steps, epochs, accumulate)
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

    for overrides in ([], ["optimizer.batch_size=64", "devices=[0,1,2]", "+num_nodes=2"], ["data.val_path=null"],
                      ["optimizer.name=sgd", "~optimizer.kwargs"]):
        ours, theirs = resolve_pretrain_config(schedule_config(overrides)), solo_resolved(overrides)
        for key in ("optimizer", "momentum"):
            assert {k: ours[key][k] for k in theirs[key]} == theirs[key], (overrides, key)
        for key in ("num_large_crops", "num_small_crops", "num_classes", "fraction", "no_labels"):
            assert ours["data"][key] == theirs["data"][key], (overrides, key)
        for key in ("min_lr", "warmup_start_lr", "warmup_epochs", "interval"):
            assert ours["scheduler"][key] == theirs["scheduler"][key], (overrides, key)


@needs_solo
def test_reference_file_is_current():
    """Recording again now gives the stored values (a changed case or YAML must come with a new file)."""
    from parity.solo_side import run_pair, solo_losses

    case = next(c for c in CASES if c.id == "co_byol")
    _, ours, _, theirs, names = run_pair(case)
    fresh = summarize(theirs, solo_losses(case.method), names)
    stored = REF["cases"][case.id]
    assert state_checksum(ours.states[0]) == pytest.approx(stored["init"], rel=1e-12)
    assert not mismatches(fresh, {k: stored[k] for k in fresh}, rtol=1e-9, atol=1e-12)


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

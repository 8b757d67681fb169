"""The solo-learn side of the parity cases (needs solo-learn installed)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import OmegaConf
from solo.args.pretrain import parse_cfg
from solo.methods import METHODS
from solo.utils.momentum import MomentumUpdater
from solo_convert import pair_state_names, standalone_to_solo

from parity.cases import (
    Capture,
    FakeTrainer,
    build_standalone,
    build_started,
    fit,
    init_law,
    make_batches,
    schedule_config,
    snapshot,
    step_schedule,
)
from solo_coss.hosts.solo_learn import register

GLOBAL_LOSS = {"byol": "train_neg_cos_sim", "simclr": "train_nce_loss", "mocov3": "train_contrastive_loss",
               "dino": "dino_loss"}


def solo_losses(method: str) -> dict[str, str]:
    return {"global": GLOBAL_LOSS[method.removeprefix("co_")], "local": "train_local_loss",
            "classifier": "train_class_loss", "momentum_classifier": "train_momentum_class_loss"}


def solo_config(composed):
    cfg = composed.copy()
    OmegaConf.set_struct(cfg, False)
    return parse_cfg(cfg)


def build_solo(composed):
    """solo-learn's model from a composed YAML, prepared as its main_pretrain prepares it."""
    from solo.utils.misc import make_contiguous

    register()
    cfg = solo_config(composed)
    model = METHODS[cfg.method](cfg)
    make_contiguous(model)
    if not cfg.performance.disable_channel_last:
        model = model.to(memory_format=torch.channels_last)
    return model, cfg


def solo_batches(batches):
    return [[torch.arange(len(labels)), views, labels] for views, labels in batches]


@dataclass
class Pair:
    """Both hosts after the same steps from the same weights."""

    ours: torch.nn.Module
    ours_capture: Capture
    theirs: torch.nn.Module
    theirs_capture: Capture
    names: dict[str, str]  # {standalone name: solo-learn name}
    theirs_fresh: dict[str, torch.Tensor]  # solo-learn's own initial state, before our weights replaced it


def run_pair(case, dtype: torch.dtype = torch.float64) -> Pair:
    ours, cfg = build_started(case)
    theirs, solo_cfg = build_solo(case.config())
    fresh = snapshot(theirs)
    names = pair_state_names(ours.state_dict(), theirs.state_dict())
    theirs.load_state_dict(standalone_to_solo(ours.state_dict(), theirs.state_dict()))
    batches = make_batches(case)
    capture_ours = fit(ours, batches, cfg["max_epochs"], cfg["accumulate_grad_batches"], dtype)
    capture_theirs = fit(
        theirs, solo_batches(batches), solo_cfg.max_epochs, solo_cfg.accumulate_grad_batches, dtype
    )
    return Pair(ours, capture_ours, theirs, capture_theirs, names, fresh)


def solo_init_law(case) -> dict[str, dict]:
    """The initialisation law of solo-learn's own freshly built model for ``case``, in the standalone's
    names."""
    ours, _ = build_standalone(case)
    theirs, _ = build_solo(case.config())
    return init_law(theirs.state_dict(), pair_state_names(ours.state_dict(), theirs.state_dict()))


def solo_lrs(overrides, steps_per_epoch, max_epochs, accumulate) -> list[list[float]]:
    model, cfg = build_solo(schedule_config(overrides))
    model.trainer = FakeTrainer(steps_per_epoch, max_epochs, accumulate)
    out = model.configure_optimizers()
    if isinstance(out, tuple) or isinstance(out, list):
        (optimizer,), (scheduler,) = out
        interval = scheduler["interval"] if isinstance(scheduler, dict) else "epoch"
        scheduler = scheduler["scheduler"] if isinstance(scheduler, dict) else scheduler
    else:
        optimizer, scheduler, interval = out, None, "step"
    return step_schedule(optimizer, scheduler, interval, steps_per_epoch, max_epochs)


def solo_resolved(overrides) -> dict:
    """solo-learn's config after parse_cfg and the method's add_and_assert_specific_cfg (what args.json and
    the model see)."""
    register()
    cfg = solo_config(schedule_config(overrides))
    cfg = METHODS[cfg.method].add_and_assert_specific_cfg(cfg)
    return OmegaConf.to_container(cfg, resolve=True)


def solo_taus(total: int, base: float, final: float) -> list[float]:
    updater, taus = MomentumUpdater(base, final), []
    for step in range(1, total + 1):
        taus.append(updater.cur_tau)
        updater.update_tau(cur_step=step, max_steps=total)
    return taus

"""Deliberate breakages of the standalone host, each of which a check that runs in CI must catch.

Each mutation is a change a maintainer could plausibly make by mistake, applied by monkeypatching the
product code (never the tests). The checks that must catch them (``catching_checks``): the CI half of the
parity checks (tests/parity/checks.py, against the recorded reference, no solo-learn needed) and the
independent reference of the CO term (tests/co_term_vs_reference.py, which sees what both hosts share and
the parity cases cannot: every co option on every method). ``python tests/parity/mutations.py`` runs them,
cheap ones first, under each mutation and prints which one caught it first; tests/test_parity.py asserts
that every mutation is caught (slow suite) and that one of them is in the default suite.

| mutation | what it breaks |
|---|---|
| byol-loss-mean | BYOL's loss averaged over the view pairs instead of summed (solo-learn sums) |
| no-lr-scaling | optimizer.lr not multiplied by batch_size x devices x num_nodes / 256 |
| no-devices-nodes-scaling | the scaling counts the batch size but not devices x num_nodes |
| mocov3-without-2tau | MoCo v3's InfoNCE without solo-learn's 2 x temperature factor |
| cifar-stem-padding-1 | the CIFAR 3x3 stem with padding 1 instead of solo-learn's 2 |
| ema-tau-off-by-one | the k-th EMA update uses the coefficient of update k + 1 |
| weight-decay-on-1d-params | exclude_bias_n_norm_wd ignored: biases and norms decayed |
| fresh-momentum-projector | BYOL's momentum projector initialised anew, not copied from the online one |
| warmup-start-lr-ignored | scheduler.warmup_start_lr from the YAML ignored (always 3e-5 x accumulation) |
| min-lr-not-accumulated | scheduler.min_lr not multiplied by accumulate_grad_batches (solo-learn does) |
| lars-eta-default-0.02 | LARS's eta, when the YAML has none, 0.02 instead of solo-learn's 1e-3 |
| mocov3-head-rule-startswith | MoCo v3's 2-layer heads for names starting with "resnet", not containing it |
| num-positions-first-k | co.num_positions keeps the first k positions instead of k random ones |
| local-mean-position-0 | co.target local_mean: the target head's output at position 0 instead of the mean |
| co-temperature-ignored | co.temperature ignored: the method's temperature wins |
| co-center-momentum-ignored | CO-DINO's centre moves with 0.9 whatever co.center_momentum says |
| co-dino-head-options-ignored | co.use_bn_in_head / co.norm_last_layer ignored: the method's are used |
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _wrap(mp: pytest.MonkeyPatch, owner, name: str, make: Callable) -> None:
    original = getattr(owner, name)
    mp.setattr(owner, name, functools.wraps(original)(make(original)))


def byol_loss_mean(mp):
    from solo_coss.methods.byol import BYOL

    _wrap(
        mp,
        BYOL,
        "global_loss",
        lambda f: lambda self, online, target, epoch: f(self, online, target, epoch) / 2,
    )


def no_lr_scaling(mp):
    from solo_coss.hosts.standalone import config

    def make(f):
        def scale_optimizer(plain, opt, *args):
            scale = f(plain, opt, *args)
            for stage in ("lr", "effective_lr"):
                opt[stage] /= scale
            return 1.0
        return scale_optimizer

    _wrap(mp, config, "scale_optimizer", make)


def no_devices_nodes_scaling(mp):
    from solo_coss.hosts.standalone import config

    def make(f):
        def scale_optimizer(plain, opt, *args):
            scale = f(plain, opt, *args)
            others = config.device_count(plain.get("devices")) * int(plain["num_nodes"])
            for stage in ("lr", "effective_lr"):
                opt[stage] /= others
            return scale / others
        return scale_optimizer

    _wrap(mp, config, "scale_optimizer", make)


def mocov3_without_2tau(mp):
    from solo_coss.methods.mocov3 import MoCoV3

    _wrap(
        mp,
        MoCoV3,
        "global_loss",
        lambda f: lambda self, online, target, epoch: f(self, online, target, epoch) / (2 * self.temperature),
    )


def cifar_stem_padding_1(mp):
    from solo_coss.backbones.torchvision_resnet import TorchvisionResNet

    def make(f):
        def __init__(self, *args, **kwargs):
            f(self, *args, **kwargs)
            if kwargs.get("cifar_stem"):
                self.stem[0].padding = (1, 1)
        return __init__

    _wrap(mp, TorchvisionResNet, "__init__", make)


def ema_tau_off_by_one(mp):
    from solo_coss.hosts.standalone import module

    _wrap(mp, module, "ema_tau", lambda f: lambda update, *args: f(update + 1, *args))


def weight_decay_on_1d_params(mp):
    from solo_coss.hosts.standalone import optim

    mp.setattr(optim, "split_bias_and_norm", lambda groups: groups)


def fresh_momentum_projector(mp):
    from solo_coss.methods.byol import BYOL

    def make(f):
        def __init__(self, *args, **kwargs):
            f(self, *args, **kwargs)
            for layer in self.momentum_projector.modules():
                if hasattr(layer, "reset_parameters") and layer is not self.momentum_projector:
                    layer.reset_parameters()
        return __init__

    _wrap(mp, BYOL, "__init__", make)


def warmup_start_lr_ignored(mp):
    from solo_coss.hosts.standalone import module

    def make(f):
        def build_scheduler(sched_cfg, *args):
            return f({**sched_cfg, "warmup_start_lr": 3e-5}, *args)
        return build_scheduler

    _wrap(mp, module, "build_scheduler", make)


def min_lr_not_accumulated(mp):
    from solo_coss.hosts.standalone import module

    def make(f):
        def build_scheduler(sched_cfg, optimizer, lr, total, max_epochs, steps_per_epoch, accumulate=1):
            built = f(sched_cfg, optimizer, lr, total, max_epochs, steps_per_epoch, accumulate)
            if built is not None and hasattr(built[0], "min_lr"):
                built[0].min_lr = float(sched_cfg.get("min_lr", 0.0))
            return built
        return build_scheduler

    _wrap(mp, module, "build_scheduler", make)


def lars_eta_default(mp):
    from solo_coss.hosts.standalone import config

    lars = {**config.OPTIMIZER_KWARG_DEFAULTS["lars"], "eta": 0.02}
    mp.setitem(config.OPTIMIZER_KWARG_DEFAULTS, "lars", lars)


def mocov3_head_rule_startswith(mp):
    from solo_coss.methods import mocov3

    def make(f):
        def mocov3_heads(backbone_name, *args):
            return f(backbone_name if backbone_name.startswith("resnet") else "other", *args)
        return mocov3_heads

    _wrap(mp, mocov3, "mocov3_heads", make)


def num_positions_first_k(mp):
    from solo_coss.core import co_term

    mp.setattr(co_term, "sample_positions", lambda tokens, k: tokens if k is None else tokens[:, :k])


def local_mean_position_0(mp):
    from solo_coss.core.co_term import COTerm
    from solo_coss.core.heads import to_tokens

    def make(f):
        def global_target(self, fmap):
            if self.cfg.target != "local_mean":
                return f(self, fmap)
            head = self.momentum_projector if self.momentum_projector is not None else self.projector
            return head(to_tokens(fmap))[:, 0]
        return global_target

    _wrap(mp, COTerm, "global_target", make)


def _method_wins(mp, keys):
    """COConfig.with_defaults lets the method's value of ``keys`` replace the co block's."""
    from solo_coss.core.config import COConfig

    def with_defaults(self, **defaults):
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None or k in keys}
        return dataclasses.replace(self, **filled)

    mp.setattr(COConfig, "with_defaults", with_defaults)


def co_temperature_ignored(mp):
    _method_wins(mp, ("temperature",))


def co_dino_head_options_ignored(mp):
    _method_wins(mp, ("use_bn_in_head", "norm_last_layer"))


def co_center_momentum_ignored(mp):
    from solo_coss.core.co_term import COTerm

    def make(f):
        def _update_center(self, teacher_out):
            cfg = self.cfg
            self.cfg = dataclasses.replace(cfg, center_momentum=0.9)
            try:
                return f(self, teacher_out)
            finally:
                self.cfg = cfg
        return _update_center

    _wrap(mp, COTerm, "_update_center", make)


MUTATIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "byol-loss-mean": byol_loss_mean,
    "no-lr-scaling": no_lr_scaling,
    "no-devices-nodes-scaling": no_devices_nodes_scaling,
    "mocov3-without-2tau": mocov3_without_2tau,
    "cifar-stem-padding-1": cifar_stem_padding_1,
    "ema-tau-off-by-one": ema_tau_off_by_one,
    "weight-decay-on-1d-params": weight_decay_on_1d_params,
    "fresh-momentum-projector": fresh_momentum_projector,
    "warmup-start-lr-ignored": warmup_start_lr_ignored,
    "min-lr-not-accumulated": min_lr_not_accumulated,
    "lars-eta-default-0.02": lars_eta_default,
    "mocov3-head-rule-startswith": mocov3_head_rule_startswith,
    "num-positions-first-k": num_positions_first_k,
    "local-mean-position-0": local_mean_position_0,
    "co-temperature-ignored": co_temperature_ignored,
    "co-center-momentum-ignored": co_center_momentum_ignored,
    "co-dino-head-options-ignored": co_dino_head_options_ignored,
}


@contextlib.contextmanager
def mutated(name: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        MUTATIONS[name](mp)
        yield


def co_reference_mismatches() -> list[str]:
    from co_term_vs_reference import mismatches

    return mismatches()[0]


def catching_checks() -> list[tuple[str, Callable[[], list[str]]]]:
    """Every check a mutation must fail, cheap ones first: the parity CI half's with the CO reference's
    comparison after its cheap ones."""
    from parity.checks import all_checks

    return all_checks(extra=[("co reference", co_reference_mismatches)])


def first_failure() -> tuple[str, list[str]] | None:
    """(check name, its mismatches) of the first check of ``catching_checks`` that fails, or None."""
    from parity.checks import first_failure as first

    return first(catching_checks())


def main(names: list[str]) -> None:
    """The table of mutations (``names``, default: all) and the first check that catches each."""
    print("| mutation | first check that fails | e.g. |\n|---|---|---|")
    for name in names or MUTATIONS:
        with mutated(name):
            caught = first_failure()
        where, detail = caught if caught else ("NOT CAUGHT", [""])
        example = detail[0][:110].replace("|", "\\|")  # a pipe would end the table's cell
        print(f"| {name} | {where} | {example} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

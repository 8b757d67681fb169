"""Deliberate breakages of the standalone host, each of which the CI half of the parity checks must catch.

Each mutation is a change a maintainer could plausibly make by mistake, applied by monkeypatching the
product code (never the tests). ``python tests/parity/mutations.py`` runs every CI-half check
(tests/parity/checks.py, against the recorded reference, no solo-learn needed) under each mutation and prints
which check caught it first; tests/test_parity.py asserts that every mutation is caught (slow suite) and that
one of them is in the default suite.

| mutation | what it breaks |
|---|---|
| byol-loss-mean | BYOL's loss averaged over the view pairs instead of summed (solo-learn sums) |
| no-lr-scaling | optimizer.lr not multiplied by batch_size x devices x num_nodes / 256 |
| no-devices-nodes-scaling | the scaling counts the batch size but not devices x num_nodes |
| mocov3-without-2tau | MoCo v3's InfoNCE without solo-learn's 2 x temperature factor |
| cifar-stem-padding-1 | the CIFAR 3x3 stem with padding 1 instead of solo-learn's 2 |
| ema-tau-off-by-one | the k-th EMA update uses the coefficient of update k + 1 |
| weight-decay-on-1d-params | exclude_bias_n_norm_wd ignored: biases and norms decayed |
| fresh-momentum-projector | BYOL's momentum projector initialised anew instead of copied from the online one |
"""

from __future__ import annotations

import contextlib
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

    _wrap(mp, BYOL, "global_loss", lambda f: lambda self, online, target, epoch: f(self, online, target, epoch) / 2)


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

    _wrap(mp, MoCoV3, "global_loss",
          lambda f: lambda self, online, target, epoch: f(self, online, target, epoch) / (2 * self.temperature))


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


MUTATIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "byol-loss-mean": byol_loss_mean,
    "no-lr-scaling": no_lr_scaling,
    "no-devices-nodes-scaling": no_devices_nodes_scaling,
    "mocov3-without-2tau": mocov3_without_2tau,
    "cifar-stem-padding-1": cifar_stem_padding_1,
    "ema-tau-off-by-one": ema_tau_off_by_one,
    "weight-decay-on-1d-params": weight_decay_on_1d_params,
    "fresh-momentum-projector": fresh_momentum_projector,
}


@contextlib.contextmanager
def mutated(name: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        MUTATIONS[name](mp)
        yield


def main() -> None:
    from parity.checks import first_failure

    print("| mutation | first CI-half check that fails | e.g. |\n|---|---|---|")
    for name in MUTATIONS:
        with mutated(name):
            caught = first_failure()
        where, detail = caught if caught else ("NOT CAUGHT", [""])
        print(f"| {name} | {where} | {detail[0][:110]} |", flush=True)


if __name__ == "__main__":
    main()

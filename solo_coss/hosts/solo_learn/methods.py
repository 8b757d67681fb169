"""CO variants of solo-learn's own BYOL, SimCLR, MoCo v3 and DINO (imported only with solo-learn installed).

Each class is solo-learn's method plus ``COMixin``: for the length of a training step, solo-learn's own
forward / multicrop_forward / momentum_forward call the backbones through the reader the standalone host uses
(``solo_coss.backbones.families.reading_maps``: the same global representation, plus the chosen stage's local
map of each call), and ``training_step`` joins ``solo_coss.core``'s COTerm to solo-learn's loss. Nothing of
the CO maths is written here: the local heads, losses, pair reduction, weighting and prototype freezing are
core's, as in the standalone host.
"""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from typing import Any

import omegaconf
from solo.methods.byol import BYOL
from solo.methods.dino import DINO
from solo.methods.mocov3 import MoCoV3
from solo.methods.simclr import SimCLR

from solo_coss.backbones.families import reading_maps, stage_channels
from solo_coss.core import COConfig, TeacherTemperature, build_co_term, resolve_co


class COMixin:
    """Put before a solo-learn method class; subclasses set ``co_method`` and ``solo_base``."""

    co_method: str
    solo_base: type

    def __init__(self, cfg: omegaconf.DictConfig):
        super().__init__(cfg)
        # complete: add_and_assert_specific_cfg resolved it (solo-learn keeps its args as a DictConfig)
        co = COConfig.from_dict(omegaconf.OmegaConf.to_container(cfg.method_kwargs.co, resolve=True))
        self.co_stage, self.co_backbone_name = co.stage, cfg.backbone.name
        channels = stage_channels(self.backbone, co.stage, cfg.backbone.name)
        self.co_term = build_co_term(self.co_method, channels, co, self.teacher_temperature(cfg))

    def teacher_temperature(self, cfg: omegaconf.DictConfig) -> TeacherTemperature | None:
        """DINO's schedule, which a CO-DINO local term follows (the other methods have none)."""
        return None

    @classmethod
    def add_and_assert_specific_cfg(cls, cfg: omegaconf.DictConfig) -> omegaconf.DictConfig:
        """solo-learn's checks of the base method, then the co block, stored back complete with the method's
        defaults (args.json then records every CO option, as the standalone host's config.json does)."""
        cfg = cls.solo_base.add_and_assert_specific_cfg(cfg)
        co = resolve_co(cls.co_method, omegaconf.OmegaConf.to_container(cfg.method_kwargs, resolve=True))
        cfg.method_kwargs.co = dataclasses.asdict(co)
        return cfg

    @property
    def learnable_params(self) -> list[dict[str, Any]]:
        return super().learnable_params + [{"name": "co_term", "params": self.co_term.parameters()}]

    def training_step(self, batch, batch_idx):
        nets = (self.backbone, getattr(self, "momentum_backbone", None))
        with ExitStack() as stack:
            online, target = [[] if net is None else
                              stack.enter_context(reading_maps(net, self.co_stage, self.co_backbone_name))
                              for net in nets]
            loss = super().training_step(batch, batch_idx)  # solo-learn's own global + classifier loss
        target = target or online[: self.num_large_crops]
        total, local = self.co_term.combine(loss, online, target, self.current_epoch)
        self.log("train_local_loss", local, on_epoch=True, sync_dist=True)
        return total


class COMomentumMixin(COMixin):
    @property
    def momentum_pairs(self):
        return super().momentum_pairs + self.co_term.momentum_pairs()


class COBYOL(COMomentumMixin, BYOL):
    """solo-learn's BYOL + the CO-SSL local term."""

    co_method, solo_base = "co_byol", BYOL


class COSimCLR(COMixin, SimCLR):
    """solo-learn's SimCLR + the CO-SSL local term (InfoNCE form)."""

    co_method, solo_base = "co_simclr", SimCLR


class COMoCoV3(COMomentumMixin, MoCoV3):
    """solo-learn's MoCo v3 + the CO-SSL local term (InfoNCE form, x 2 temperature)."""

    co_method, solo_base = "co_mocov3", MoCoV3


class CODINO(COMomentumMixin, DINO):
    """solo-learn's DINO + the CO-SSL local term (DINO form, the same teacher temperature)."""

    co_method, solo_base = "co_dino", DINO

    def teacher_temperature(self, cfg: omegaconf.DictConfig) -> TeacherTemperature:
        return TeacherTemperature.of(cfg.method_kwargs)

    def on_after_backward(self):
        super().on_after_backward()
        self.co_term.after_backward(self.current_epoch, self.freeze_last_layer)


CO_CLASSES: dict[str, type] = {
    "co_byol": COBYOL,
    "co_simclr": COSimCLR,
    "co_mocov3": COMoCoV3,
    "co_dino": CODINO,
}

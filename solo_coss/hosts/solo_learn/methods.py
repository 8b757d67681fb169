"""CO variants of solo-learn's own BYOL, SimCLR, MoCo v3 and DINO.

Each class is solo's method plus ``COTermMixin``: forward hooks record the chosen stage's feature map while
solo's own forward / momentum_forward run, and ``training_step`` adds ``w_s * COTerm(maps)`` to solo's
own loss. The local heads and losses are solo_coss.core's: nothing of the maths is written here.
"""

from __future__ import annotations

from typing import Any

import omegaconf
import torch

from solo_coss.core import COConfig, COTerm


def _stage_module(backbone, stage: int):
    module = getattr(backbone, f"layer{stage}", None)
    if module is None:
        raise ValueError(f"backbone {type(backbone).__name__} has no layer{stage}: CO-SSL needs a ResNet-like "
                         "backbone with layer1..layer4")
    return module


class COTermMixin:
    """Needs: ``co_loss`` (COTerm kind), ``co_defaults(cfg)`` (head sizes etc. from solo's method_kwargs)."""

    co_loss = "byol"
    co_loss_scale = 1.0

    def _setup_co(self, cfg: omegaconf.DictConfig) -> None:
        block = cfg.method_kwargs.get("co")
        values = omegaconf.OmegaConf.to_container(block, resolve=True) if block is not None else {}
        co = COConfig.from_dict(values).with_defaults(**self.co_defaults(cfg))
        momentum = hasattr(self, "momentum_backbone")
        with torch.no_grad():
            probe = {}
            handle = _stage_module(self.backbone, co.stage).register_forward_hook(
                lambda m, i, o: probe.setdefault("map", o))
            was_training = self.backbone.training
            self.backbone.eval()
            self.backbone(torch.zeros(2, 3, 64, 64))
            self.backbone.train(was_training)
            handle.remove()
        self.co_cfg = co
        self.co_term = COTerm(probe["map"].shape[1], co, self.co_loss, momentum, self.co_loss_scale)
        self._co_maps: dict[str, list] | None = None
        _stage_module(self.backbone, co.stage).register_forward_hook(self._record("online"))
        if momentum:
            _stage_module(self.momentum_backbone, co.stage).register_forward_hook(self._record("target"))

    def _record(self, kind: str):
        def hook(module, inputs, output):
            if self._co_maps is not None:
                self._co_maps[kind].append(output)
        return hook

    @property
    def learnable_params(self) -> list[dict[str, Any]]:
        params = [p for p in self.co_term.parameters() if p.requires_grad]
        return super().learnable_params + [{"name": "co_term", "params": params}]

    @property
    def momentum_pairs(self):
        return super().momentum_pairs + self.co_term.momentum_pairs()

    def co_loss_kwargs(self) -> dict:
        return {}

    def training_step(self, batch, batch_idx):
        self._co_maps = {"online": [], "target": []}
        try:
            loss = super().training_step(batch, batch_idx)  # solo's own global + classifier loss
            maps = self._co_maps
        finally:
            self._co_maps = None
        online = maps["online"]
        target = maps["target"] or online[: self.num_large_crops]
        local = self.co_term(online, target, **self.co_loss_kwargs())
        self.log("train_local_loss", local, on_epoch=True, sync_dist=True)
        return loss + self.co_cfg.weight * local


def _byol_like_defaults(cfg) -> dict:
    kw = cfg.method_kwargs
    return {"proj_hidden_dim": kw.proj_hidden_dim, "proj_output_dim": kw.proj_output_dim,
            "pred_hidden_dim": kw.get("pred_hidden_dim", 0), "temperature": kw.get("temperature", 0.2)}


def build_classes() -> dict[str, type]:
    """The CO classes, created against the installed solo-learn (imported lazily)."""
    from solo.methods.byol import BYOL
    from solo.methods.dino import DINO
    from solo.methods.mocov3 import MoCoV3
    from solo.methods.simclr import SimCLR

    def make(name: str, base: type, loss: str, defaults, extra: dict | None = None) -> type:
        def __init__(self, cfg):
            base.__init__(self, cfg)
            self._setup_co(cfg)

        def add_and_assert_specific_cfg(cfg):
            cfg = base.add_and_assert_specific_cfg(cfg)
            block = cfg.method_kwargs.get("co")
            COConfig.from_dict(omegaconf.OmegaConf.to_container(block, resolve=True) if block is not None else {})
            return cfg

        namespace = {"__init__": __init__, "co_loss": loss, "co_defaults": staticmethod(defaults),
                     "add_and_assert_specific_cfg": staticmethod(add_and_assert_specific_cfg),
                     "__doc__": f"{base.__name__} from solo-learn + the CO-SSL local term ({loss} form).",
                     **(extra or {})}
        return type(name, (COTermMixin, base), namespace)

    def simclr_defaults(cfg):
        return {**_byol_like_defaults(cfg), "pred_hidden_dim": 0}

    def dino_defaults(cfg):
        kw = cfg.method_kwargs
        return {"proj_hidden_dim": kw.proj_hidden_dim, "proj_output_dim": kw.proj_output_dim,
                "num_prototypes": kw.num_prototypes, "student_temperature": kw.student_temperature,
                "center_momentum": 0.9}

    def dino_kwargs(self):
        schedule = self.dino_loss_func.teacher_temp_schedule
        return {"teacher_temperature": float(schedule[min(self.current_epoch, len(schedule) - 1)])}

    class_mocov3 = make("COMoCoV3", MoCoV3, "infonce", _byol_like_defaults)

    def mocov3_init(self, cfg):
        MoCoV3.__init__(self, cfg)
        self.co_loss_scale = 2 * self.temperature  # MoCo v3 scales its InfoNCE by 2 * temperature
        self._setup_co(cfg)

    class_mocov3.__init__ = mocov3_init
    return {
        "co_byol": make("COBYOL", BYOL, "byol", _byol_like_defaults),
        "co_simclr": make("COSimCLR", SimCLR, "infonce", simclr_defaults),
        "co_mocov3": class_mocov3,
        "co_dino": make("CODINO", DINO, "dino", dino_defaults, {"co_loss_kwargs": dino_kwargs}),
    }

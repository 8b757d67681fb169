"""What BYOL, SimCLR, MoCo v3 and DINO share: encoding views, the optional CO term, the loss dict."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from solo_coss.core import COConfig, COTerm, TeacherTemperature, build_co_term


@dataclass(kw_only=True)
class MethodKwargs:
    """A method's ``method_kwargs``, typed: each method declares its own subclass beside it (solo-learn's keys
    and defaults; a field without a default is required). ``co`` is a CO method's complete local-term block
    (``resolve_co``), None for a baseline. ``solo_coss.methods.resolve_method_kwargs`` makes one from the
    YAML block, once; the method and its COTerm read it as it is."""

    co: COConfig | None = None


@dataclass(frozen=True)
class MethodContext:
    """What a method takes from outside method_kwargs (other config sections): the views that also go through
    the momentum branch, the run's length (DINO's teacher temperature) and the backbone's name (MoCo v3's
    head depth, error messages)."""

    num_large_crops: int = 2
    max_epochs: int | None = None
    backbone_name: str = ""


class SSLMethod(nn.Module):
    """Base of the standalone methods; a CO method is the same class with a COTerm attached.

    Subclasses set ``Kwargs`` (their MethodKwargs subclass), build their heads from it, list them in
    ``learnable_modules`` (solo-learn's ``learnable_params`` order), and implement
    ``global_loss(online, target, epoch)`` on pooled features. The first ``num_large_crops`` views go through
    the momentum (target) branch too; the further, smaller crops only through the online branch.
    """

    momentum: bool = False
    Kwargs: type[MethodKwargs] = MethodKwargs

    def __init__(self, backbone: nn.Module, kwargs: MethodKwargs, context: MethodContext):
        super().__init__()
        num_large_crops = context.num_large_crops
        if num_large_crops < 1:
            raise ValueError(f"num_large_crops must be >= 1, got {num_large_crops}")
        self.backbone = backbone
        self.num_large_crops = num_large_crops
        self.channels_last = False  # set by the host (solo-learn's performance.disable_channel_last)
        self.co_term: COTerm | None = None
        self.co_stage: int | None = None
        self.momentum_backbone = copy.deepcopy(backbone).requires_grad_(False) if self.momentum else None

    def attach_co_term(self, method: str, co: COConfig, backbone_name: str = "") -> None:
        """Turn this baseline into CO method ``method`` (called once its global heads exist)."""
        self.co_stage = self.backbone.resolve_stage(co.stage, backbone_name)
        channels = self.backbone.stage_channels[self.co_stage - 1]
        self.co_term = build_co_term(method, channels, co, self.teacher_temperature)

    def learnable_modules(self) -> list[tuple[str, nn.Module]]:
        """(name, module) of what the optimizer trains, in solo-learn's parameter-group order."""
        modules = [("backbone", self.backbone)] + self.head_modules()
        return modules + ([("co_term", self.co_term)] if self.co_term is not None else [])

    def head_modules(self) -> list[tuple[str, nn.Module]]:
        raise NotImplementedError

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = [(self.backbone, self.momentum_backbone)] if self.momentum_backbone is not None else []
        pairs += self.global_momentum_pairs()
        return pairs + (self.co_term.momentum_pairs() if self.co_term is not None else [])

    def global_momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []

    def encode(self, net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The global representation (B, F) and, for CO methods, the local map of the configured stage."""
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last)
        if self.co_term is None:
            return net(x), None
        return net.global_and_local(x, self.co_stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last)
        return self.backbone(x)

    def training_loss(self, views: Sequence[torch.Tensor], epoch: int = 0) -> dict[str, Any]:
        """views: list of (B, C, H, W) augmented views of the same images, large crops first.

        Returns ``loss`` (with grad), detached ``global_loss`` / ``local_loss``, ``feats``: the online pooled
        features of each large crop (detached), ``momentum_feats``: the momentum network's (or None).
        """
        if len(views) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 views, got {len(views)}")
        if len(views) < self.num_large_crops:
            raise ValueError(f"got {len(views)} views but num_large_crops={self.num_large_crops}")
        online = [self.encode(self.backbone, v) for v in views]
        if self.momentum_backbone is not None:
            with torch.no_grad():
                target = [self.encode(self.momentum_backbone, v) for v in views[: self.num_large_crops]]
        else:
            target = online[: self.num_large_crops]
        global_loss = self.global_loss([f for f, _ in online], [f for f, _ in target], epoch)
        loss, local_loss = global_loss, torch.zeros((), device=global_loss.device)
        if self.co_term is not None:
            loss, local_loss = self.co_term.combine(
                global_loss, [m for _, m in online], [m for _, m in target], epoch
            )
        large = online[: self.num_large_crops]
        return {
            "loss": loss,
            "global_loss": global_loss.detach(),
            "local_loss": local_loss.detach(),
            "feats": [f.detach() for f, _ in large],
            "momentum_feats": [f for f, _ in target] if self.momentum_backbone is not None else None,
        }

    def after_backward(self, epoch: int) -> None:
        """Gradient surgery a method needs between backward and the optimizer step (DINO)."""

    teacher_temperature: TeacherTemperature | None = None  # DINO's schedule, which its local term follows

    def global_loss(self, online: list[torch.Tensor], target: list[torch.Tensor], epoch: int) -> torch.Tensor:
        raise NotImplementedError

"""What BYOL, SimCLR, MoCo v3 and DINO share: encoding views, the optional CO term, the loss dict."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from solo_coss.core import COConfig, COTerm


class SSLMethod(nn.Module):
    """Base of the standalone methods; a CO method is the same class built with a COConfig.

    Subclasses implement ``global_loss(online, target, progress)`` and set ``co_loss`` (the COTerm kind)
    and ``momentum`` (whether a momentum encoder exists). The first ``num_large_crops`` views are the
    targets; further (multi-crop) views only go through the online branch.
    """

    co_loss: str = "byol"
    momentum: bool = False
    num_large_crops: int = 2

    def __init__(self, backbone: nn.Module, co: COConfig | None = None):
        super().__init__()
        self.backbone = backbone
        self.co_cfg = co
        self.co_term: COTerm | None = None
        self.momentum_backbone = None
        if self.momentum:
            self.momentum_backbone = copy.deepcopy(backbone).requires_grad_(False)

    def build_co_term(self, co_defaults: dict, loss_scale: float = 1.0) -> None:
        """Subclasses call this at the end of __init__, with their global head sizes as defaults."""
        if self.co_cfg is None:
            return
        self.co_cfg = self.co_cfg.with_defaults(**co_defaults)
        in_dim = self.backbone.stage_channels[self.co_cfg.stage - 1]
        self.co_term = COTerm(in_dim, self.co_cfg, self.co_loss, self.momentum, loss_scale)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = self.global_momentum_pairs()
        if self.momentum_backbone is not None:
            pairs = [(self.backbone, self.momentum_backbone)] + pairs
        if self.co_term is not None:
            pairs += self.co_term.momentum_pairs()
        return pairs

    def global_momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []

    def encode(self, net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled features (B, F) and, for CO methods, the local map of the configured stage."""
        if self.co_term is None:
            return net(x), None
        maps = net.stage_features(x)
        return net.forward_head(maps[-1]), maps[self.co_cfg.stage - 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def training_loss(self, views: Sequence[torch.Tensor], progress: float = 0.0) -> dict[str, torch.Tensor]:
        """views: list of (B, C, H, W) augmented views of the same images; progress in [0, 1]."""
        if len(views) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 views, got {len(views)}")
        online = [self.encode(self.backbone, v) for v in views]
        if self.momentum_backbone is not None:
            with torch.no_grad():
                target = [self.encode(self.momentum_backbone, v) for v in views[: self.num_large_crops]]
        else:
            target = online[: self.num_large_crops]
        global_loss = self.global_loss([f for f, _ in online], [f for f, _ in target], progress)
        local_loss = torch.zeros((), device=global_loss.device)
        loss = global_loss
        if self.co_term is not None and self.co_cfg.weight > 0:
            local_loss = self.co_term(
                [m for _, m in online], [m for _, m in target], **self.co_loss_kwargs(progress)
            )
            loss = global_loss + self.co_cfg.weight * local_loss
        return {
            "loss": loss,
            "global_loss": global_loss.detach(),
            "local_loss": local_loss.detach(),
            "feats": online[0][0].detach(),
        }

    def co_loss_kwargs(self, progress: float) -> dict:
        return {}

    def global_loss(self, online: list[torch.Tensor], target: list[torch.Tensor], progress: float) -> torch.Tensor:
        raise NotImplementedError


def symmetric_pairs(n_online: int, n_target: int):
    """Every (i, j) with i an online view, j a target view, i != j."""
    return [(i, j) for i in range(n_online) for j in range(n_target) if i != j]

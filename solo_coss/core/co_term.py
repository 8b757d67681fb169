"""COTerm: the CO-SSL local term that any instance-discrimination method adds to its global loss.

It owns the local heads (projector, optional predictor, their momentum twins) and computes, for every
ordered pair of views (i, j), i != j, the loss between each local embedding of view i (online network) and
the global embedding of view j (target network), averaged over the pairs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from solo_coss.core.config import COConfig
from solo_coss.core.distributed import all_reduce_mean
from solo_coss.core.heads import PositionwiseDINOHead, PositionwiseMLP, to_tokens
from solo_coss.core.losses import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss

LOSSES = ("byol", "infonce", "dino")


def sample_positions(tokens: torch.Tensor, k: int | None) -> torch.Tensor:
    """A random subset of k positions per image: (B, N, C) -> (B, k, C); all of them when k is None or >= N."""
    b, n, c = tokens.shape
    if k is None or k >= n:
        return tokens
    idx = torch.rand(b, n, device=tokens.device).argsort(dim=1)[:, :k]
    return tokens.gather(1, idx[..., None].expand(b, k, c))


class COTerm(nn.Module):
    """Local heads + local<->global loss.

    in_dim: channels of the feature map used (the backbone's ``stage_channels[cfg.stage - 1]``).
    loss: ``byol`` (normalised MSE, with predictor), ``infonce`` (CO-SimCLR / CO-MoCoV3) or ``dino``.
    momentum: the target embedding comes from momentum twins of the local heads (updated by the host with
        the method's EMA); otherwise from the online heads, with gradient (SimCLR).
    loss_scale: multiplies the loss (MoCo v3 scales its InfoNCE by 2 * temperature).
    The config's None head sizes must have been filled (``COConfig.with_defaults``).
    """

    def __init__(self, in_dim: int, cfg: COConfig, loss: str, momentum: bool, loss_scale: float = 1.0):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"COTerm loss={loss!r} is not valid; choose from {list(LOSSES)}")
        missing = [k for k in ("proj_hidden_dim", "proj_output_dim") if getattr(cfg, k) is None]
        if missing:
            raise ValueError(f"COConfig fields {missing} must be set (use COConfig.with_defaults)")
        self.cfg, self.kind, self.loss_scale = cfg, loss, loss_scale
        if loss == "dino":
            self.projector = PositionwiseDINOHead(in_dim, cfg.proj_hidden_dim, cfg.proj_output_dim, cfg.num_prototypes)
            self.register_buffer("center", torch.zeros(1, cfg.num_prototypes))
        else:
            self.projector = PositionwiseMLP(in_dim, cfg.proj_hidden_dim, cfg.proj_output_dim)
        self.predictor = None
        if loss != "dino" and cfg.pred_hidden_dim:
            self.predictor = PositionwiseMLP(cfg.proj_output_dim, cfg.pred_hidden_dim, cfg.proj_output_dim)
        self.momentum_projector = None
        if momentum:
            self.momentum_projector = copy.deepcopy(self.projector)
            self.momentum_projector.requires_grad_(False)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [] if self.momentum_projector is None else [(self.projector, self.momentum_projector)]

    def local_embeddings(self, fmap: torch.Tensor) -> torch.Tensor:
        """Online local embeddings (B, k, D) of a (B, C, H, W) map (k = num_positions or H*W)."""
        out = self.projector(sample_positions(to_tokens(fmap), self.cfg.num_positions))
        return out if self.predictor is None else self.predictor(out)

    def global_target(self, fmap: torch.Tensor) -> torch.Tensor:
        """The target network's global embedding (B, D) of a (B, C, H, W) map."""
        head = self.momentum_projector if self.momentum_projector is not None else self.projector
        if self.cfg.target == "pooled":
            return head(fmap.mean(dim=(2, 3)))
        return head(to_tokens(fmap)).mean(dim=1)

    def forward(
        self,
        online_maps: Sequence[torch.Tensor],
        target_maps: Sequence[torch.Tensor],
        teacher_temperature: float | None = None,
    ) -> torch.Tensor:
        """Symmetrised local loss over every pair (online view i, target view j), i != j.

        online_maps[i]: (B, C, H, W) online map of view i; target_maps[j]: the target network's map of view j
        (the momentum network's, computed without gradient, or the online one for SimCLR) for the first
        len(target_maps) views. teacher_temperature: CO-DINO's (scheduled) teacher temperature.
        """
        if len(online_maps) < 2 or not target_maps:
            raise ValueError("CO-SSL needs at least two views and one target view")
        if self.momentum_projector is not None:
            with torch.no_grad():
                targets = [self.global_target(m) for m in target_maps]
        else:
            targets = [self.global_target(m) for m in target_maps]
        locals_ = [self.local_embeddings(m) for m in online_maps]
        losses = [
            self._pair_loss(local, target, teacher_temperature)
            for i, local in enumerate(locals_)
            for j, target in enumerate(targets)
            if i != j
        ]
        if self.kind == "dino":
            self._update_center(torch.cat(targets))
        return self.loss_scale * torch.stack(losses).mean()

    def _pair_loss(self, local, target, teacher_temperature):
        if self.kind == "byol":
            return local_global_byol_loss(local, target)
        if self.kind == "infonce":
            return local_global_infonce_loss(local, target, self.cfg.temperature)
        if teacher_temperature is None:
            raise ValueError("CO-DINO needs teacher_temperature")
        return local_global_dino_loss(local, target, self.center, self.cfg.student_temperature, teacher_temperature)

    @torch.no_grad()
    def _update_center(self, teacher_out: torch.Tensor) -> None:
        batch_center = all_reduce_mean(teacher_out.mean(dim=0, keepdim=True))
        m = self.cfg.center_momentum
        self.center.mul_(m).add_(batch_center, alpha=1 - m)

"""COTerm: the CO-SSL local term that any instance-discrimination method adds to its global loss.

It owns the local heads (projector, optional predictor, their momentum twins) and computes, for every
ordered pair of views (i, j), i != j, the loss between each local embedding of view i (online network) and
the global embedding of view j (target network). The pairs are reduced like the method's own global loss
(summed for BYOL and MoCo v3, averaged for SimCLR and DINO, as solo-learn does), so that
``loss = global_loss + weight * local_loss`` gives w_s the same meaning for every method.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from solo_coss.core.config import SPECS, COConfig, base_method
from solo_coss.core.distributed import all_reduce_mean
from solo_coss.core.heads import PositionwiseDINOHead, PositionwiseMLP, to_tokens
from solo_coss.core.keys import check_choice
from solo_coss.core.losses import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss
from solo_coss.core.precision import upcast
from solo_coss.core.teacher_temperature import TeacherTemperature

LOSSES = ("byol", "infonce", "dino")
PAIR_REDUCTIONS = ("sum", "mean")


def view_pairs(num_online: int, num_target: int) -> list[tuple[int, int]]:
    """Every (i, j) with i an online view, j a target view, i != j (targets are the first views)."""
    return [(i, j) for i in range(num_online) for j in range(num_target) if i != j]


def sample_positions(tokens: torch.Tensor, k: int | None) -> torch.Tensor:
    """A random subset of k positions per image: (B, N, C) -> (B, k, C); all of them when k is None or >=
    N."""
    b, n, c = tokens.shape
    if k is None or k >= n:
        return tokens
    idx = torch.rand(b, n, device=tokens.device).argsort(dim=1)[:, :k]
    return tokens.gather(1, idx[..., None].expand(b, k, c))


class COTerm(nn.Module):
    """Local heads + local<->global loss + how it joins the global loss (``build_co_term`` makes the one of
    a CO method).

    Args:
        in_dim: channels of the feature map used (the backbone's ``stage_channels[cfg.stage - 1]``).
        cfg: the complete co block (``resolve_co``), kept as it is: the term reads its options from it.
        loss: ``byol`` (normalised MSE, with predictor), ``infonce`` (CO-SimCLR / CO-MoCoV3) or ``dino``.
        momentum: the target embedding comes from momentum twins of the local heads (updated by the host
            with the method's EMA); otherwise from the online heads, with gradient (SimCLR).
        pair_reduction: ``sum`` or ``mean`` over the view pairs, as the method reduces its global loss.
        loss_scale: multiplies the loss (MoCo v3 scales its InfoNCE by 2 * temperature).
        teacher_temperature: CO-DINO's teacher temperature by epoch (the method's own schedule).

    Calling it returns the local loss L_l; ``combine`` returns ``(L_g + cfg.weight * L_l, L_l)``. The heads
    are initialised from a fork of the global random generator, so building a CO method consumes no random
    numbers: with ``weight: 0`` it trains exactly like its baseline, data order included.
    """

    def __init__(self, in_dim: int, cfg: COConfig, loss: str, momentum: bool, pair_reduction: str = "mean",
                 loss_scale: float = 1.0, teacher_temperature: TeacherTemperature | None = None):
        super().__init__()
        check_choice("COTerm loss", loss, LOSSES)
        check_choice("pair_reduction", pair_reduction, PAIR_REDUCTIONS)
        missing = [k for k in ("proj_hidden_dim", "proj_output_dim") if getattr(cfg, k) is None]
        if missing:
            raise ValueError(f"COConfig fields {missing} must be set (resolve_co fills them)")
        self.cfg, self.kind, self.teacher_temperature = cfg, loss, teacher_temperature
        self.pair_reduction, self.loss_scale = pair_reduction, loss_scale
        with torch.random.fork_rng(devices=[]):
            self._build_heads(in_dim, cfg, loss, momentum)

    def _build_heads(self, in_dim: int, cfg: COConfig, loss: str, momentum: bool) -> None:
        if loss == "dino":
            self.projector = PositionwiseDINOHead(in_dim, cfg.proj_hidden_dim, cfg.proj_output_dim,
                                                  cfg.num_prototypes, use_bn=bool(cfg.use_bn_in_head),
                                                  norm_last_layer=cfg.norm_last_layer is not False)
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
        """The (online, momentum) head pairs the host updates with the method's EMA.

        Returns:
            ``[(projector, momentum_projector)]``, or ``[]`` when the target comes from the online heads.
        """
        return [] if self.momentum_projector is None else [(self.projector, self.momentum_projector)]

    def local_embeddings(self, fmap: torch.Tensor) -> torch.Tensor:
        """The online local embeddings of one view.

        Args:
            fmap: the online network's (B, C, H, W) map.

        Returns:
            (B, k, D): projector (then predictor, if any) of k positions per image, k = ``num_positions``
            sampled at random, or all H*W.
        """
        out = self.projector(sample_positions(to_tokens(fmap), self.cfg.num_positions))
        return out if self.predictor is None else self.predictor(out)

    def global_target(self, fmap: torch.Tensor) -> torch.Tensor:
        """The global embedding a view's local embeddings are pulled towards.

        Args:
            fmap: the target network's (B, C, H, W) map.

        Returns:
            (B, D): the target head (momentum projector, or the projector) of the pooled map
            (``target: pooled``) or the mean of its position-wise outputs (``target: local_mean``).
        """
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
        """The local loss L_l over every pair (online view i, target view j), i != j, reduced and scaled.

        Args:
            online_maps: (B, C, H, W) online map of each view (at least two).
            target_maps: the target network's map of each of the first len(target_maps) views (the momentum
                network's, computed without gradient, or the online one for SimCLR).
            teacher_temperature: CO-DINO's (scheduled) teacher temperature; required for ``dino``, unused
                otherwise.

        Returns:
            L_l, a scalar: the pair losses summed or averaged (``pair_reduction``), times ``loss_scale``.
        """
        if len(online_maps) < 2 or not target_maps:
            raise ValueError("CO-SSL needs at least two views and one target view")
        if self.momentum_projector is not None:
            with torch.no_grad():
                targets = [self.global_target(m) for m in target_maps]
        else:
            targets = [self.global_target(m) for m in target_maps]
        locals_ = [self.local_embeddings(m) for m in online_maps]
        losses = torch.stack([self._pair_loss(locals_[i], targets[j], teacher_temperature)
                              for i, j in view_pairs(len(locals_), len(targets))])
        if self.kind == "dino":
            self._update_center(torch.cat(targets))
        reduced = losses.sum() if self.pair_reduction == "sum" else losses.mean()
        return self.loss_scale * reduced

    def combine(self, global_loss: torch.Tensor, online_maps: Sequence[torch.Tensor],
                target_maps: Sequence[torch.Tensor], epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Join the local term to the method's global loss.

        Args:
            global_loss: the method's loss L_g (a scalar with gradient).
            online_maps, target_maps: as for ``forward``.
            epoch: the current epoch (from 0): CO-DINO's teacher temperature follows it.

        Returns:
            (L_g + cfg.weight * L_l, L_l). With weight 0 the local term is not computed (L_l reported 0), so a
            CO method with weight 0 is its baseline exactly.
        """
        weight = self.cfg.weight
        if weight <= 0:
            return global_loss, torch.zeros((), device=global_loss.device)
        temperature = None if self.teacher_temperature is None else self.teacher_temperature.at(epoch)
        local = self(online_maps, target_maps, teacher_temperature=temperature)
        return global_loss + weight * local, local

    def after_backward(self, epoch: int, freeze_last_layer: int) -> None:
        """CO-DINO: no update of the local prototypes during the first ``freeze_last_layer`` epochs, as DINO
        does for its global prototypes (other losses: nothing).

        Args:
            epoch: the current epoch (from 0).
            freeze_last_layer: epochs during which the last layer's gradients are dropped.
        """
        if self.kind == "dino" and epoch < freeze_last_layer:
            for p in self.projector.last_layer.parameters():
                p.grad = None

    def _pair_loss(self, local, target, teacher_temperature):
        if self.kind == "byol":
            return local_global_byol_loss(local, target)
        if self.kind == "infonce":
            return local_global_infonce_loss(local, target, self.cfg.temperature)
        if teacher_temperature is None:
            raise ValueError("CO-DINO needs teacher_temperature (or the method's schedule, to combine)")
        return local_global_dino_loss(
            local, target, self.center, self.cfg.student_temperature, teacher_temperature
        )

    @torch.no_grad()
    def _update_center(self, teacher_out: torch.Tensor) -> None:
        batch_center = all_reduce_mean(upcast(teacher_out).mean(dim=0, keepdim=True))
        m = self.cfg.center_momentum
        self.center.mul_(m).add_(batch_center, alpha=1 - m)


def build_co_term(method: str, in_dim: int, co: COConfig,
                  teacher_temperature: TeacherTemperature | None = None) -> COTerm:
    """The COTerm of a CO method.

    Args:
        method: ``co_byol``, ``co_simclr``, ``co_mocov3`` or ``co_dino``.
        in_dim: channels of the backbone map at ``co.stage``.
        co: the complete co block (``resolve_co``), taken as it is.
        teacher_temperature: CO-DINO's schedule (``TeacherTemperature.of`` the method's kwargs).

    Returns:
        The term with the method's loss kind, momentum heads, pair reduction and scale (``SPECS``).
    """
    spec = SPECS[base_method(method)]
    scale = 2 * co.temperature if spec.scale_by_2t else 1.0
    return COTerm(in_dim, co, spec.loss, spec.momentum, spec.pair_reduction, scale,
                  teacher_temperature if spec.loss == "dino" else None)

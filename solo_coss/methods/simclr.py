"""SimCLR (Chen et al. 2020) and CO-SimCLR: NT-Xent between projections; the local term is its InfoNCE
form, each local embedding picking its own image's global embedding of the other view."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from solo_coss.core.distributed import gather_with_grad, world_info
from solo_coss.core.precision import float32_loss, upcast
from solo_coss.methods.base import MethodContext, MethodKwargs, SSLMethod
from solo_coss.methods.heads import simclr_projector


@float32_loss
def multiview_nt_xent(z: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """solo-learn's SimCLR loss for any number of views: every embedding (all views of all images,
    gathered over ranks) has as positives the other views of its image and as negatives the other images';
    loss = -mean log(sum_pos exp(s / T) / sum_{pos + neg} exp(s / T)). With two views this is NT-Xent.
    Computed with solo-learn's arithmetic (plain exp, no max subtraction), so both hosts round alike; it
    needs T > 1/88, where exp(1 / T) still fits in float32."""
    if temperature <= 1 / 88:
        raise ValueError(
            f"SimCLR temperature={temperature} is too small: exp(1 / T) overflows float32 (T > 1/88)"
        )
    b, views = z[0].shape[0], len(z)
    rank, world = world_info()
    local = F.normalize(upcast(torch.cat(z)), dim=-1)  # (V*B, D): view-major, as solo-learn concatenates
    # (world*V*B, D), rank-major; a distinct tensor even in one process, as solo-learn's gather returns, so
    # the gradients of its two paths add up in the same order
    everyone = gather_with_grad(local) if world > 1 else torch.cat([local])
    device = local.device
    image = torch.arange(b, device=device).repeat(views)
    image_all = (image[None, :] + b * torch.arange(world, device=device)[:, None]).flatten()
    image = image + rank * b
    sim = torch.exp(torch.einsum("if, jf -> ij", local, everyone) / temperature)
    n = local.shape[0]
    positive = image[:, None] == image_all[None, :]
    positive[:, rank * n:(rank + 1) * n].fill_diagonal_(False)  # not itself
    negative = image[:, None] != image_all[None, :]
    pos = torch.sum(sim * positive, 1)
    neg = torch.sum(sim * negative, 1)
    return -torch.mean(torch.log(pos / (pos + neg)))


@dataclass(kw_only=True)
class SimCLRKwargs(MethodKwargs):
    proj_hidden_dim: int
    proj_output_dim: int
    temperature: float


class SimCLR(SSLMethod):
    momentum = False
    Kwargs = SimCLRKwargs

    def __init__(self, backbone, kwargs: SimCLRKwargs, context: MethodContext):
        super().__init__(backbone, kwargs, context)
        self.temperature = kwargs.temperature
        self.projector = simclr_projector(
            backbone.num_features, kwargs.proj_hidden_dim, kwargs.proj_output_dim
        )

    def head_modules(self):
        return [("projector", self.projector)]

    def global_loss(self, online, target, epoch):
        return multiview_nt_xent([self.projector(f) for f in online], self.temperature)

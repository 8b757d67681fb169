"""Local heads: MLPs applied independently at every position of a feature map.

An MLP on the flattened (B*N, C) positions with BatchNorm1d is exactly a stack of 1x1 convolutions with
BatchNorm2d (statistics over batch and positions), and runs faster than the convolution form on CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C); (B, N, C) and (B, C) pass through ((B, C) becomes (B, 1, C))."""
    if x.ndim == 4:
        return x.flatten(2).transpose(1, 2)
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        return x[:, None]
    raise ValueError(f"expected (B, C, H, W), (B, N, C) or (B, C), got shape {tuple(x.shape)}")


class PositionwiseMLP(nn.Module):
    """Linear -> BN -> ReLU -> Linear, shared by all positions; input (..., in_dim) -> (..., out_dim)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        return self.net(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)


class PositionwiseDINOHead(nn.Module):
    """DINO head shared by all positions: MLP (GELU) -> L2-normalised bottleneck -> weight-normed prototypes."""

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, num_prototypes: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        self.prototypes = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, num_prototypes, bias=False))
        self.prototypes.parametrizations.weight.original0.data.fill_(1.0)
        self.prototypes.parametrizations.weight.original0.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(self.mlp(x), dim=-1))

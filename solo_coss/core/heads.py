"""Local heads: MLPs applied independently at every position of a feature map.

An MLP on the flattened (B*N, C) positions with BatchNorm1d is exactly a stack of 1x1 convolutions with
BatchNorm2d (statistics over batch and positions), and runs faster than the convolution form on CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C); (B, N, C) passes through; (B, C) becomes (B, 1, C)."""
    if x.ndim == 4:
        return x.flatten(2).transpose(1, 2)
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        return x[:, None]
    raise ValueError(f"expected (B, C, H, W), (B, N, C) or (B, C), got shape {tuple(x.shape)}")


class Positionwise(nn.Module):
    """A head built for (M, C) rows, applied to the last dimension of (..., C) inputs (every position a row,
    so BatchNorm statistics run over batch x positions)."""

    net: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        return self.forward_rows(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)

    def forward_rows(self, rows: torch.Tensor) -> torch.Tensor:
        return self.net(rows)


class PositionwiseMLP(Positionwise):
    """Linear -> BN -> ReLU -> Linear, shared by all positions; input (..., in_dim) -> (..., out_dim)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )


class WeightNormedLinear(nn.Module):
    """Linear layer without bias, weight = g * v / |v| row by row (Salimans & Kingma 2016).

    The parameters are ``weight_g`` (out, 1) and ``weight_v`` (out, in), as torch's classic weight_norm names
    them, and the weight comes from the same kernel; unlike that hook (no deepcopy) and the parametrization
    (no pickling), this module is deep-copied and pickled like any other.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        linear = nn.Linear(in_features, out_features, bias=False)
        self.weight_g = nn.Parameter(torch.ones(out_features, 1))
        self.weight_v = nn.Parameter(linear.weight.detach().clone())

    @property
    def weight(self) -> torch.Tensor:
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class PositionwiseDINOHead(Positionwise):
    """DINO's head, shared by all positions (and used as the global head on (B, C) inputs).

    3-layer MLP (GELU, BatchNorm if ``use_bn``) -> L2-normalised bottleneck -> weight-normalised prototypes
    (``last_layer``, no bias, norm g = 1, frozen when ``norm_last_layer``). Linear layers start from a
    truncated normal (std 0.02) and zero biases, as in DINO and solo-learn.
    """

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, num_prototypes: int,
                 use_bn: bool = False, norm_last_layer: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(
            [(in_dim, hidden_dim), (hidden_dim, hidden_dim), (hidden_dim, bottleneck_dim)]
        ):
            layers.append(nn.Linear(a, b))
            if i < 2:
                layers += [nn.BatchNorm1d(b)] if use_bn else []
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                nn.init.zeros_(m.bias)
        self.last_layer = WeightNormedLinear(bottleneck_dim, num_prototypes)
        self.last_layer.weight_g.requires_grad = not norm_last_layer

    def forward_rows(self, rows: torch.Tensor) -> torch.Tensor:
        return self.last_layer(F.normalize(self.mlp(rows), dim=-1))

"""The global heads, layer for layer as solo-learn builds them (so one YAML trains the same network in both
hosts), assembled from lightly's ProjectionHead blocks. DINO's head is core's (it is also the local head)."""

from __future__ import annotations

from lightly.models.modules.heads import ProjectionHead
from torch import nn


def byol_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> ProjectionHead:
    """BYOL projector / predictor: Linear -> BN -> ReLU -> Linear, biases everywhere."""
    return ProjectionHead([(in_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU(), True),
                           (hidden_dim, out_dim, None, None, True)])


def simclr_projector(in_dim: int, hidden_dim: int, out_dim: int) -> ProjectionHead:
    """SimCLR projector: Linear -> ReLU -> Linear, no BatchNorm."""
    return ProjectionHead(
        [(in_dim, hidden_dim, None, nn.ReLU(), True), (hidden_dim, out_dim, None, None, True)]
    )


def mocov3_mlp(
    num_layers: int, in_dim: int, hidden_dim: int, out_dim: int, last_bn: bool = True
) -> ProjectionHead:
    """MoCo v3 MLP: (Linear -> BN -> ReLU) x (num_layers - 1) -> Linear [-> BN without affine], no biases."""
    blocks = []
    for i in range(num_layers):
        a = in_dim if i == 0 else hidden_dim
        if i < num_layers - 1:
            blocks.append((a, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True), False))
        else:
            blocks.append(
                (a, out_dim, nn.BatchNorm1d(out_dim, affine=False) if last_bn else None, None, False)
            )
    return ProjectionHead(blocks)


def mocov3_heads(backbone_name: str, in_dim: int, hidden_dim: int, out_dim: int, pred_hidden_dim: int):
    """(projector, predictor). solo-learn gives backbones whose name contains "resnet" a 2-layer projector
    and a predictor without final BN; any other backbone (ViTs, but also e.g. bagnet33) a 3-layer projector
    and a predictor with final BN."""
    if "resnet" in backbone_name:
        return mocov3_mlp(2, in_dim, hidden_dim, out_dim), mocov3_mlp(
            2, out_dim, pred_hidden_dim, out_dim, False
        )
    return mocov3_mlp(3, in_dim, hidden_dim, out_dim), mocov3_mlp(2, out_dim, pred_hidden_dim, out_dim, True)

"""Backbones with local representations: the RF-ResNet family (timm-registered) and torchvision ResNets.

Every backbone follows the contract in docs/architecture.md (stage_features, forward_features,
forward_head, num_features, stage_channels, receptive_field).
"""

from __future__ import annotations

from torch import nn

from solo_coss.backbones.rf_resnet import RFResNet
from solo_coss.backbones.torchvision_resnet import TORCHVISION_RESNETS, TorchvisionResNet
from solo_coss.backbones.variants import VARIANTS, create_variant


def list_backbones() -> list[str]:
    return sorted(VARIANTS) + list(TORCHVISION_RESNETS)


def build_backbone(name: str, **kwargs) -> nn.Module:
    """Build a backbone by name; kwargs go to its constructor (e.g. in_chans, head_mlp_dim, cifar_stem)."""
    if name in VARIANTS:
        return create_variant(name, **kwargs)
    if name in TORCHVISION_RESNETS:
        return TorchvisionResNet(name, **kwargs)
    raise ValueError(f"unknown backbone {name!r}; choose from {list_backbones()}")


__all__ = ["RFResNet", "TorchvisionResNet", "VARIANTS", "build_backbone", "list_backbones"]

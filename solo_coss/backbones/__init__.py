"""Backbones with local representations: the RF-ResNet family (timm-registered), torchvision's ResNets and
every backbone family solo-learn ships (ViT, Swin, ConvNeXt, PoolFormer, WideResNet).

Every backbone follows the contract in docs/architecture.md (global_and_local, stage_features,
forward_features, num_features, stage_channels, receptive_field); its local map is read through timm's
``forward_intermediates`` contract, with the index of each stage defined once per family in ``families``.
"""

from __future__ import annotations

from torch import nn

from solo_coss.backbones import cifar_resnet  # noqa: F401  (registers the CIFAR-stem ResNets in timm)
from solo_coss.backbones.families import (
    FAMILIES,
    family_of,
    read_map,
    reading_maps,
    resolve_stage,
    stage_channels,
)
from solo_coss.backbones.rf_resnet import RFResNet
from solo_coss.backbones.solo_zoo import FAMILY_NAMES, build_solo_net, parameters, solo_net_kwargs
from solo_coss.backbones.torchvision_resnet import TORCHVISION_RESNETS, TorchvisionResNet
from solo_coss.backbones.variants import VARIANTS, create_variant
from solo_coss.backbones.wrapped import LocalMapBackbone
from solo_coss.core.keys import check_choice, check_keys


def backbones_by_family() -> dict[str, list[str]]:
    return {"ResNet": list(TORCHVISION_RESNETS), "RF-ResNet": sorted(VARIANTS), **FAMILY_NAMES}


def list_backbones() -> list[str]:
    return [name for names in backbones_by_family().values() for name in names]


def check_backbone_name(name) -> None:
    check_choice("backbone.name", name, list_backbones())


def backbone_kwargs(name: str, method: str | None = None) -> list[str]:
    """The keyword arguments ``build_backbone(name, method, ...)`` accepts (``backbone.kwargs``)."""
    check_backbone_name(name)
    if name in VARIANTS:
        return [p for p in parameters(RFResNet) if p != "num_classes"]  # a classifier has no place in SSL
    if name in TORCHVISION_RESNETS:
        return [p for p in parameters(TorchvisionResNet) if p != "name"]
    return solo_net_kwargs(name, method)


def check_backbone_kwargs(name: str, kwargs: dict, method: str | None = None) -> None:
    """Refuse a keyword argument ``name`` does not take, listing those it does, before anything is built
    (``method``, which picks a ViT, may be among ``kwargs``)."""
    method = kwargs.get("method", method)
    given = [k for k in kwargs if k != "method"]
    check_keys(f"backbone.kwargs of {name}", given, backbone_kwargs(name, method))


def build_backbone(name: str, method: str | None = None, **kwargs) -> nn.Module:
    """Build a backbone by name.

    Args:
        name: one of ``list_backbones()`` (RF-ResNets, torchvision ResNets, solo-learn's other families).
        method: the method it is built for; picks the ViT constructor as solo-learn does (mocov3 and
            co_mocov3: MoCo v3's ViT), unused by the other families.
        **kwargs: the constructor's arguments (e.g. in_chans, head_mlp_dim, cifar_stem, img_size, patch_size).

    Returns:
        The backbone: ``forward`` gives the (B, num_features) global representation, ``forward_features``
        the local map, ``receptive_field`` its size in pixels ("global" for a ViT, None where not computed).

    Raises:
        ValueError: an unknown name (the message lists the valid ones by family) or a bad constructor
            argument.
    """
    check_backbone_kwargs(name, kwargs, method)
    if name in VARIANTS:
        return create_variant(name, **kwargs)
    if name in TORCHVISION_RESNETS:
        return TorchvisionResNet(name, **kwargs)
    return LocalMapBackbone(build_solo_net(name, method, **kwargs), name)


__all__ = ["FAMILIES", "LocalMapBackbone", "RFResNet", "TorchvisionResNet", "VARIANTS",
           "backbone_kwargs", "backbones_by_family", "build_backbone", "build_solo_net",
           "check_backbone_kwargs", "check_backbone_name", "family_of", "list_backbones", "read_map",
           "reading_maps", "resolve_stage", "stage_channels"]

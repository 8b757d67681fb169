"""Where each backbone family keeps its local representations, and the one way both hosts read them.

Every family is read through timm's ``forward_intermediates(x, indices=..., norm=...)`` contract: timm's own
ViT, Swin and ConvNeXt have it, our RF-ResNets, torchvision wrapper, WideResNet and PoolFormer implement it,
and the networks solo-learn builds without it (torchvision's ResNet, its WideResNet and PoolFormer) get a thin
adapter of the same signature (``intermediates``). A family says which of those indices is stage k
(``co.stage``) and that the last stage is read with the final normalisation:

- ResNet (torchvision's, the RF-ResNets): the output of layer k (timm index k; 0 is the stem).
- WideResNet: the output of block k, and for the last stage the map after the final BatchNorm + LeakyReLU
  (timm index k; 0 is the stem convolution).
- ViT: the patch tokens after block k, after the final norm for the last stage; the class token and any other
  prefix token excluded; laid out on the patch grid (timm index k - 1).
- Swin: the map after stage k, after the final norm for the last (channels-last in timm, made channels-first).
- ConvNeXt: the map after stage k (the last one through ``norm_pre``, an identity unless the head norm comes
  first).
- PoolFormer: the map after stage k, after the final GroupNorm for the last.

``read_map(net, x, stage)`` is the reader: one forward of the network giving its global representation
(``forward_head`` of the final features: what ``net(x)`` returns) and the map. The standalone host calls it
(``global_and_local``); the solo-learn host, whose methods call the network themselves, routes those calls
through it for the length of a training step (``reading_maps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from timm.models.convnext import ConvNeXt
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from solo_coss.backbones.intermediates import adapter, poolformer_stages
from solo_coss.core.keys import refuse


def _last_conv_channels(module: nn.Module) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _is_resnet(net):
    return all(hasattr(net, f"layer{i}") for i in range(1, 5))


def _resnet_channels(net):
    if hasattr(net, "stage_channels"):
        return list(net.stage_channels)
    return [_last_conv_channels(getattr(net, f"layer{i}")[-1]) for i in range(1, 5)]


def _is_wide_resnet(net):
    return all(hasattr(net, a) for a in ("block1", "block2", "block3", "bn1", "relu"))


def _wide_resnet_channels(net):
    return [_last_conv_channels(net.block1), _last_conv_channels(net.block2), net.bn1.num_features]


def _vit_channels(net):
    return [net.embed_dim] * len(net.blocks)


def _feature_info_channels(net):
    return [int(info["num_chs"]) for info in net.feature_info]


def _is_poolformer(net):
    return isinstance(getattr(net, "network", None), nn.ModuleList) and hasattr(net, "patch_embed") \
        and hasattr(net, "norm")


def _poolformer_channels(net):
    return [_last_conv_channels(stage) for stage in poolformer_stages(net)]


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    detect: Callable[[nn.Module], bool]
    channels: Callable[[nn.Module], list[int]]   # channels of stage 1..n
    first_index: int  # the forward_intermediates index of stage 1 (1 where index 0 is the stem)
    stage_doc: str    # what stage k is
    local: str        # what the last stage's map is


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("vit", "ViT", lambda n: isinstance(n, VisionTransformer), _vit_channels, 0,
           "the patch tokens after block k", "the patch tokens after the final norm, prefix tokens excluded"),
    Family("swin", "Swin", lambda n: isinstance(n, SwinTransformer), _feature_info_channels, 0,
           "the map after stage k", "the map after the final norm, before pooling"),
    Family("convnext", "ConvNeXt", lambda n: isinstance(n, ConvNeXt), _feature_info_channels, 0,
           "the map after stage k", "the map after stage 4, before pooling"),
    Family("resnet", "ResNet", _is_resnet, _resnet_channels, 1,
           "the map after layer k", "the map after layer4, before pooling"),
    Family("wide_resnet", "WideResNet", _is_wide_resnet, _wide_resnet_channels, 1,
           "the map after block k (block 3: after the final BatchNorm and LeakyReLU)",
           "the map after the final BatchNorm and LeakyReLU, before pooling"),
    Family("poolformer", "PoolFormer", _is_poolformer, _poolformer_channels, 0,
           "the map after stage k", "the map after the final GroupNorm, before pooling"),
)}


def family_of(net: nn.Module, name: str = "") -> Family:
    """The family of ``net``; ValueError naming it and the families that work otherwise."""
    for family in FAMILIES.values():
        if family.detect(net):
            return family
    what = f"backbone {name!r} ({type(net).__name__})" if name else f"backbone {type(net).__name__}"
    raise ValueError(f"{what} exposes no local map CO-SSL can use; the families that work: "
                     f"{', '.join(f.title for f in FAMILIES.values())}")


def resolve_stage(net: nn.Module, stage: int | None, name: str = "") -> int:
    """``co.stage`` checked against the network's stages; None means the last one."""
    family = family_of(net, name)
    count = len(family.channels(net))
    if stage is None:
        return count
    if not 1 <= stage <= count:
        refuse("co.stage", stage, f"{name or type(net).__name__} ({family.title}, stage k = "
               f"{family.stage_doc}) has stages 1..{count}; or null for the last ({family.local})")
    return stage


def stage_channels(net: nn.Module, stage: int | None, name: str = "") -> int:
    """Channels of the map of ``stage`` (None: the last)."""
    return family_of(net, name).channels(net)[resolve_stage(net, stage, name) - 1]


def read_map(net: nn.Module, x: torch.Tensor, stage: int | None = None,
             name: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """One forward of ``net``: (its global representation, what ``net(x)`` returns; the (B, C, h, w) map of
    ``stage``, None for the last), through ``forward_intermediates`` and ``forward_head``."""
    family = family_of(net, name)
    k = resolve_stage(net, stage, name)
    api = adapter(family.name, net)
    final, (fmap,) = api.forward_intermediates(x, indices=[k - 1 + family.first_index],
                                               norm=k == len(family.channels(net)))
    return api.forward_head(final), fmap


@contextmanager
def reading_maps(net: nn.Module, stage: int | None = None, name: str = "") -> Iterator[list[torch.Tensor]]:
    """For a host that calls the network itself: within the block, ``net(x)`` runs ``read_map`` and returns
    the global representation as before, and the map of ``stage`` of each call is appended to the list this
    yields. The network's own ``forward`` is back when the block ends (even on an error)."""
    maps: list[torch.Tensor] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        out, fmap = read_map(net, x, stage, name)
        maps.append(fmap)
        return out

    resolve_stage(net, stage, name)
    net.forward = forward  # an instance attribute: nn.Module.__call__ finds it before the class's forward
    try:
        yield maps
    finally:
        del net.forward

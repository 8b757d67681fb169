"""Where each backbone family keeps its local representations: the one definition both hosts read.

A family says, for a network as solo-learn (or timm, or we) build it, which modules' outputs are its stage
maps and how such an output becomes a channels-first (B, C, h, w) map:

- ResNet (torchvision's, the RF-ResNets): the outputs of layer1..layer4.
- WideResNet: block1, block2, then the map after the final BatchNorm + LeakyReLU (before pooling).
- ViT: the patch tokens after block 1..depth-1, and after the final norm for the last stage; the class token
  and any other prefix token excluded; laid out on the patch grid.
- Swin: the outputs of stages 1..3 and, last, the final norm's output; channels-last in timm, permuted.
- ConvNeXt: the outputs of stages 1..4 (the last one through ``norm_pre``, an identity unless the head
  norm comes first).
- PoolFormer: the outputs of stages 1..3 and, last, the final GroupNorm's output.

The standalone host reads these modules' outputs off one forward of the whole network (``StageMaps``),
the solo-learn host keeps a hook on them while solo-learn's own forward runs; both convert with
``LocalTap.to_map``. The global representation is always what the network itself returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from timm.models.convnext import ConvNeXt
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from solo_coss.core.keys import refuse


def _last_conv_channels(module: nn.Module) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _is_resnet(net):
    return all(hasattr(net, f"layer{i}") for i in range(1, 5))


def _resnet_stages(net):
    return [net.layer1, net.layer2, net.layer3, net.layer4]


def _resnet_channels(net):
    if hasattr(net, "stage_channels"):
        return list(net.stage_channels)
    return [_last_conv_channels(stage[-1]) for stage in _resnet_stages(net)]


def _is_wide_resnet(net):
    return all(hasattr(net, a) for a in ("block1", "block2", "block3", "bn1", "relu"))


def _wide_resnet_stages(net):
    return [net.block1, net.block2, net.relu]


def _wide_resnet_channels(net):
    return [_last_conv_channels(net.block1), _last_conv_channels(net.block2), net.bn1.num_features]


def _vit_stages(net):
    return [*list(net.blocks)[:-1], net.norm]


def _vit_channels(net):
    return [net.embed_dim] * len(net.blocks)


def patch_grid(net: VisionTransformer, num_patches: int) -> tuple[int, int]:
    """(h, w) of the patch grid holding ``num_patches`` tokens: the model's grid, or a square one for a
    dynamic image size."""
    h, w = net.patch_embed.grid_size
    if h * w == num_patches:
        return h, w
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"{num_patches} patch tokens do not form the model's {h}x{w} grid nor a square one")
    return side, side


def _vit_to_map(net, tokens: torch.Tensor) -> torch.Tensor:
    patches = tokens[:, net.num_prefix_tokens:]
    b, n, c = patches.shape
    h, w = patch_grid(net, n)
    return patches.transpose(1, 2).reshape(b, c, h, w)


def _swin_stages(net):
    return [*list(net.layers)[:-1], net.norm]


def _feature_info_channels(net):
    return [int(info["num_chs"]) for info in net.feature_info]


def _channels_last_to_map(net, x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def _convnext_stages(net):
    return [*list(net.stages)[:-1], net.norm_pre]


def _is_poolformer(net):
    return isinstance(getattr(net, "network", None), nn.ModuleList) and hasattr(net, "patch_embed") \
        and hasattr(net, "norm")


def _poolformer_stage_blocks(net):
    return [m for m in net.network if isinstance(m, nn.Sequential)]


def _poolformer_stages(net):
    return [*_poolformer_stage_blocks(net)[:-1], net.norm]


def _poolformer_channels(net):
    return [_last_conv_channels(stage) for stage in _poolformer_stage_blocks(net)]


def _same(net, x):
    return x


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    detect: Callable[[nn.Module], bool]
    stages: Callable[[nn.Module], list[nn.Module]]
    channels: Callable[[nn.Module], list[int]]
    to_map: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    stage_doc: str   # what stage k is
    local: str       # what the last stage's map is


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("vit", "ViT", lambda n: isinstance(n, VisionTransformer), _vit_stages, _vit_channels, _vit_to_map,
           "the patch tokens after block k", "the patch tokens after the final norm, prefix tokens excluded"),
    Family("swin", "Swin", lambda n: isinstance(n, SwinTransformer), _swin_stages, _feature_info_channels,
           _channels_last_to_map, "the map after stage k", "the map after the final norm, before pooling"),
    Family("convnext", "ConvNeXt", lambda n: isinstance(n, ConvNeXt), _convnext_stages, _feature_info_channels,
           _same, "the map after stage k", "the map after stage 4, before pooling"),
    Family("resnet", "ResNet", _is_resnet, _resnet_stages, _resnet_channels, _same,
           "the map after layer k", "the map after layer4, before pooling"),
    Family("wide_resnet", "WideResNet", _is_wide_resnet, _wide_resnet_stages, _wide_resnet_channels, _same,
           "the map after block k (block 3: after the final BatchNorm and LeakyReLU)",
           "the map after the final BatchNorm and LeakyReLU, before pooling"),
    Family("poolformer", "PoolFormer", _is_poolformer, _poolformer_stages, _poolformer_channels, _same,
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
    count = len(family.stages(net))
    if stage is None:
        return count
    if not 1 <= stage <= count:
        refuse("co.stage", stage, f"{name or type(net).__name__} ({family.title}, stage k = "
               f"{family.stage_doc}) has stages 1..{count}; or null for the last ({family.local})")
    return stage


class LocalTap:
    """The module whose output holds stage ``stage`` of ``net``, and how to read its map. A plain object (a
    hook holds it): a deep copy or pickle of the model copies it along, pointing at the copy."""

    def __init__(self, net: nn.Module, stage: int | None = None, name: str = ""):
        self.net, self.family = net, family_of(net, name).name
        self.stage = resolve_stage(net, stage, name)

    @property
    def module(self) -> nn.Module:
        return FAMILIES[self.family].stages(self.net)[self.stage - 1]

    @property
    def channels(self) -> int:
        return FAMILIES[self.family].channels(self.net)[self.stage - 1]

    def to_map(self, output: torch.Tensor) -> torch.Tensor:
        return FAMILIES[self.family].to_map(self.net, output)


class MapRecorder:
    """A forward hook kept on a stage module (both hosts): appends the stage's map, converted by ``tap``, to
    ``owner.<attr>[key]`` while that dict exists and holds ``key``; otherwise does nothing. A plain object
    rather than a closure: a deep copy (or pickle) of the model copies it along, pointing at the copy.
    Converts in the hook: the map's autograd nodes then come before those of the later layers in both hosts,
    and autograd adds the gradients reaching the tapped output (3+ of them for a ViT block) in the same order,
    bit for bit."""

    def __init__(self, owner: object, attr: str, key, tap: LocalTap):
        self.owner, self.attr, self.key, self.tap = owner, attr, key, tap

    def __call__(self, module, inputs, output) -> None:
        maps = getattr(self.owner, self.attr)
        if maps is not None and self.key in maps:
            maps[self.key].append(self.tap.to_map(output))


class StageMaps:
    """Reads the stage maps of ``net`` off its own forward. The hooks are registered once, here, on every
    stage module, and record only while ``forward`` runs the network; registering them around each forward
    instead would break torch.compile's graph there (it cannot trace a hook's registration), while hooks
    already in place are traced with the rest of the forward (``performance.compile``). A plain object: a
    deep copy or pickle of the model copies it and its hooks along, pointing at the copy."""

    def __init__(self, net: nn.Module, name: str = ""):
        self.net = net
        self.recording: dict[int, list[torch.Tensor]] | None = None
        for k in range(1, len(family_of(net, name).stages(net)) + 1):
            tap = LocalTap(net, k, name)
            tap.module.register_forward_hook(MapRecorder(self, "recording", k, tap))

    def forward(self, x: torch.Tensor, stages: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One forward of the network: (its output, the map of each of ``stages``, 1-based)."""
        self.recording = {k: [] for k in stages}
        try:
            out = self.net(x)
            maps = self.recording
        finally:
            self.recording = None
        for k in stages:
            if len(maps[k]) != 1:
                raise RuntimeError(f"stage {k} of {type(self.net).__name__} ran {len(maps[k])} times in a forward")
        return out, [maps[k][0] for k in stages]

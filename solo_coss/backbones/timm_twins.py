"""Each backbone's twin in timm: the timm model (name and keyword arguments) that computes the same network,
and how our state-dict keys become that model's.

- ``resnet18|34|50`` with the ImageNet stem: timm's model of the same name (its keys are torchvision's:
  ``conv1``, ``bn1``, ``layer1.0.conv1``, ...); with solo-learn's CIFAR stem, ``resnet18_cifar_stem`` (...,
  ``cifar_resnet``: timm's class with that stem, registered by solo_coss). A head MLP has no twin.
- ViTs: timm's ``vit_<size>_patch16_224`` with the run's ``img_size`` and ``patch_size`` (MoCo v3's ViT also
  its 12 heads; ``vit_micro`` the tiny one resized); Swin: ``swin_<size>_patch4_window7_224``; ConvNeXt:
  timm's model of the same name. The network is timm's own class, so the keys are already timm's.
- PoolFormer: timm's ``poolformer_s12`` (..., the MetaFormer implementation): the stages are the same layers,
  renamed; the final GroupNorm's weights go where timm puts the original PoolFormer's (``head.norm``), a
  LayerNorm applied after pooling there: the stage maps match, the pooled features only where the last map is
  1x1.
- RF-ResNets and WideResNets: our own classes, registered in timm under our names when solo_coss is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solo_coss.backbones.poolformer import POOLFORMERS
from solo_coss.backbones.solo_zoo import CONVNEXTS, SWINS
from solo_coss.backbones.torchvision_resnet import TORCHVISION_RESNETS
from solo_coss.backbones.variants import VARIANTS
from solo_coss.backbones.vit import MOCOV3_SIZES, TIMM_SIZES
from solo_coss.backbones.wide_resnet import WIDE_RESNETS

POOLFORMER_NOTE = ("timm normalises after pooling (head.norm, a LayerNorm over channels) where this "
                   "PoolFormer normalises the map before pooling (a GroupNorm): the stage maps are the same, "
                   "the pooled features differ unless the last map is 1x1")


@dataclass(frozen=True)
class TimmTwin:
    model: str                          # timm.create_model's name
    kwargs: dict[str, Any]              # its keyword arguments besides pretrained_cfg_overlay
    classifier: str                     # the classifier's module in timm's model
    needs_solo_coss: bool = False       # the name is ours, registered in timm by importing solo_coss
    rename: Callable[[str], str] = field(default=lambda key: key, repr=False)  # our key -> timm's
    note: str = ""                      # what differs, if anything


def _resnet_key(key: str) -> str:
    for ours, theirs in (("stem.0.", "conv1."), ("stem.1.", "bn1.")):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    return key


def _poolformer_key(key: str) -> str:
    """Ours (solo-learn's layout: ``network`` alternating stages and downsampling convolutions) -> timm's
    MetaFormer (``stem``, ``stages.i.downsample``, ``stages.i.blocks.j``, the final norm in ``head``)."""
    if key.startswith("patch_embed."):
        return "stem.conv." + key[len("patch_embed."):]
    if key.startswith("norm."):
        return "head." + key
    match = re.fullmatch(r"network\.(\d+)\.(.*)", key)
    if match is None:
        raise ValueError(f"no timm name for PoolFormer entry {key!r}")
    index, rest = int(match.group(1)), match.group(2)
    if index % 2:  # the convolution between stage index // 2 and the next
        return f"stages.{index // 2 + 1}.downsample.conv.{rest}"
    block, name = rest.split(".", 1)
    name = re.sub(r"^layer_scale_(\d)$", r"layer_scale\1.scale", name)
    return f"stages.{index // 2}.blocks.{block}.{name}"


def _without(kwargs: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in names}


def timm_twin(name: str, kwargs: dict[str, Any]) -> TimmTwin | str:
    """The twin of ``build_backbone(name, **kwargs)``, or a sentence saying why there is none."""
    if name in VARIANTS or name in WIDE_RESNETS:
        return TimmTwin(name, dict(kwargs), "fc", needs_solo_coss=True)
    if name in TORCHVISION_RESNETS:
        if kwargs.get("head_mlp_dim"):
            return f"{name} with head_mlp_dim has no timm twin (timm's {name} has no MLP after pooling)"
        args = _without(kwargs, "cifar_stem", "head_mlp_dim")
        if kwargs.get("cifar_stem"):
            return TimmTwin(f"{name}_cifar_stem", args, "fc", needs_solo_coss=True, rename=_resnet_key)
        return TimmTwin(name, args, "fc", rename=_resnet_key)
    if name in MOCOV3_SIZES:
        method = str(kwargs.get("method") or "").removeprefix("co_")
        dim, depth, heads = (MOCOV3_SIZES if method == "mocov3" else TIMM_SIZES)[name]
        base = "vit_tiny" if name == "vit_micro" else name
        twin_dim, twin_depth, twin_heads = TIMM_SIZES[base]
        sizes = {k: v for k, v, t in (("embed_dim", dim, twin_dim), ("depth", depth, twin_depth),
                                      ("num_heads", heads, twin_heads)) if v != t}
        args = {"patch_size": 16, **_without(kwargs, "method"), **sizes}
        return TimmTwin(f"{base}_patch16_224", args, "head")
    if name in SWINS:
        return TimmTwin(f"{name}_patch4_window7_224", dict(kwargs), "head.fc")
    if name in CONVNEXTS:
        return TimmTwin(name, dict(kwargs), "head.fc")
    if name in POOLFORMERS:
        changed = sorted(set(kwargs) - {"drop_rate", "drop_path_rate"})
        if changed:
            return f"{name} with {changed} has no timm twin (timm's {name} takes none of them)"
        return TimmTwin(name, {}, "head.fc", rename=_poolformer_key, note=POOLFORMER_NOTE)
    return f"{name} has no timm twin"

"""Every backbone solo-learn ships, by solo-learn's name and keyword arguments, built as solo-learn builds it
(timm's constructors for ViT, Swin and ConvNeXt; our layer-for-layer WideResNet and PoolFormer), plus
``vit_micro``, a ViT small enough for a CPU.

The sizes a name fixes cannot be overridden (solo-learn's builders fail on them too); the other keyword
arguments go to the constructor. solo-learn applies no CIFAR rule to these families (its only one rewrites
the stem of ``resnet*``): a ViT on 32 px images needs ``img_size: 32`` and a small ``patch_size``.
"""

from __future__ import annotations

import inspect

from timm.models.convnext import ConvNeXt, _create_convnext
from timm.models.swin_transformer import SwinTransformer, _create_swin_transformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from solo_coss.backbones.poolformer import POOLFORMER_KWARGS, POOLFORMERS, PoolFormer
from solo_coss.backbones.vit import MOCOV3_SIZES, build_vit
from solo_coss.backbones.wide_resnet import WIDE_RESNET_KWARGS, WIDE_RESNETS, WideResNet
from solo_coss.core.keys import check_choice, check_keys, refuse

SWINS = {  # embed_dim, depths, num_heads; patch 4
    "swin_tiny": (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "swin_small": (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    "swin_base": (128, (2, 2, 18, 2), (4, 8, 16, 32)),
    "swin_large": (192, (2, 2, 18, 2), (6, 12, 24, 48)),
}
CONVNEXTS = {  # depths, dims
    "convnext_tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnext_small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "convnext_base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "convnext_large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
}


def parameters(constructor) -> list[str]:
    """The keyword arguments a class or function takes by name."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in inspect.signature(constructor).parameters.values() if p.kind in kinds
            and p.name not in ("self", "name", "method")]


def _refuse_fixed(name: str, kwargs: dict, fixed) -> None:
    for key in sorted(set(kwargs) & set(fixed)):
        refuse(f"backbone.kwargs.{key}", kwargs[key], f"{name} fixes it (solo-learn's builder refuses it "
               "too); remove it, or pick the name of another size")


def _only(name: str, kwargs: dict, valid) -> None:
    """solo-learn would silently ignore any other keyword argument: refuse it."""
    check_keys(f"backbone.kwargs of {name}", kwargs, valid)


def _timm(create, name: str, variant: str, **kwargs) -> nn.Module:
    try:
        return create(variant, pretrained=False, **kwargs)
    except TypeError as err:
        raise ValueError(f"{name}: {err}") from err


def _swin(name: str, method=None, window_size: int = 7, **kwargs) -> nn.Module:
    _refuse_fixed(name, kwargs, ("patch_size", "embed_dim", "depths", "num_heads", "num_classes"))
    dim, depths, heads = SWINS[name]
    return _timm(
        _create_swin_transformer,
        name,
        f"{name}_patch4_window7_224",
        patch_size=4,
        window_size=window_size,
        embed_dim=dim,
        depths=depths,
        num_heads=heads,
        num_classes=0,
        **kwargs,
    )


def _convnext(name: str, method=None, **kwargs) -> nn.Module:
    _refuse_fixed(name, kwargs, ("depths", "dims", "num_classes"))
    depths, dims = CONVNEXTS[name]
    return _timm(_create_convnext, name, name, num_classes=0, depths=depths, dims=dims, **kwargs)


def _wide_resnet(name: str, method=None, **kwargs) -> nn.Module:
    _refuse_fixed(name, kwargs, ("depth", "widen_factor"))
    _only(name, kwargs, WIDE_RESNET_KWARGS)
    return WideResNet(**WIDE_RESNETS[name], **kwargs)


def _poolformer(name: str, method=None, **kwargs) -> nn.Module:
    fixed = POOLFORMERS[name]
    _refuse_fixed(name, kwargs, (*fixed, "mlp_ratios", "downsamples", "num_classes"))
    _only(name, kwargs, POOLFORMER_KWARGS)
    return PoolFormer(**fixed, **kwargs)


def _vit(name: str, method=None, **kwargs) -> nn.Module:
    return build_vit(name, method, **kwargs)


BUILDERS = {
    **{n: _wide_resnet for n in WIDE_RESNETS},
    **{n: _vit for n in MOCOV3_SIZES},
    **{n: _swin for n in SWINS},
    **{n: _convnext for n in CONVNEXTS},
    **{n: _poolformer for n in POOLFORMERS},
}
FAMILY_NAMES = {"WideResNet": list(WIDE_RESNETS), "ViT": list(MOCOV3_SIZES), "Swin": list(SWINS),
                "ConvNeXt": list(CONVNEXTS), "PoolFormer": list(POOLFORMERS)}


def solo_net_kwargs(name: str, method: str | None = None) -> list[str]:
    """The keyword arguments ``build_solo_net(name, method, ...)`` accepts, the ones the name fixes included
    (refused by the builder with their own message)."""
    check_choice("solo-learn backbone", name, sorted(BUILDERS))
    if name in WIDE_RESNETS:
        return list(WIDE_RESNET_KWARGS)
    if name in POOLFORMERS:
        return list(POOLFORMER_KWARGS)
    if name in MOCOV3_SIZES:
        return parameters(VisionTransformer)
    return parameters(SwinTransformer if name in SWINS else ConvNeXt)


def build_solo_net(name: str, method: str | None = None, **kwargs) -> nn.Module:
    """The network solo-learn's factory ``name`` returns for ``method`` (ViTs depend on it)."""
    check_choice("solo-learn backbone", name, sorted(BUILDERS))
    return BUILDERS[name](name, method, **kwargs)

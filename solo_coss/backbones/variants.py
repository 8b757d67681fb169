"""Named RF-ResNet variants, registered in timm (``timm.create_model("rf29_resnet18")``).

The RF in a name is not typed in anywhere: tests check that ``model.receptive_field`` (computed from the
layers) and the measured gradient support both equal it.
"""

from __future__ import annotations

from timm.models import register_model

from solo_coss.backbones.rf_resnet import RFResNet
from solo_coss.core.keys import check_choice, refuse

R18 = dict(block="basic", layers=(2, 2, 2, 2))
# 1x1 blocks 1.75x wider inside: RF99-ResNet50 then has ResNet-50's parameter count (paper: 23.7M vs 23.5M).
R50 = dict(block="bottleneck", layers=(3, 4, 6, 3), pointwise_width=1.75)
# ResNet-18 family: 5x5 stride-2 stem without max-pool and total stride 8 (a 4x4 map at 32 px).
SMALL_STEM = dict(stem_kernel=5, stem_maxpool=False, strides=(1, 1, 2, 2))
# ResNet-50 family: ResNet-50's stem (7x7/2 + max-pool) and strides (total stride 32).
RESNET_STEM = dict(stem_kernel=7, stem_maxpool=True, strides=(1, 2, 2, 2))

VARIANTS: dict[str, dict] = {
    "rf29_resnet18": dict(**R18, **SMALL_STEM, spatial_blocks=(2, 1, 0, 0)),
    "rf49_resnet18": dict(**R18, **SMALL_STEM, spatial_blocks=(2, 2, 1, 0)),
    "rf65_resnet18": dict(**R18, **SMALL_STEM, spatial_blocks=(2, 2, 2, 0)),
    "rf89_resnet18": dict(**R18, **SMALL_STEM, spatial_blocks=(2, 2, 2, 1)),
    "rf43_resnet50": dict(**R50, **RESNET_STEM, spatial_blocks=(1, 1, 1, 0)),
    "rf59_resnet50": dict(**R50, **RESNET_STEM, spatial_blocks=(1, 1, 0, 1)),
    "rf75_resnet50": dict(**R50, **RESNET_STEM, spatial_blocks=(1, 1, 1, 1)),
    "rf99_resnet50": dict(**R50, **RESNET_STEM, spatial_blocks=(2, 2, 1, 1)),
    "rf131_resnet50": dict(**R50, **RESNET_STEM, spatial_blocks=(2, 2, 2, 1)),
    # BagNet-33: 3x3 stride-1 stem, one 3x3 block per layer, strides (2, 2, 2, 1), no max-pool, and (as in
    # BagNet) the 1x1 blocks keep ResNet-50's widths: 16.2M parameters, BagNet-33's count without its fc.
    "bagnet33": dict(**{**R50, "pointwise_width": 1.0}, stem_kernel=3, stem_stride=1, stem_maxpool=False,
                     strides=(2, 2, 2, 1), spatial_blocks=(1, 1, 1, 1)),
}

# Arguments timm.create_model may pass on; the backbones have no classifier and always average-pool.
_TIMM_ONLY_KWARGS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")
_HEADLESS = {"num_classes": (0, None), "global_pool": ("avg", "", None)}


def create_variant(name: str, **kwargs) -> RFResNet:
    if name not in VARIANTS:
        check_choice("RF-ResNet variant", name, sorted(VARIANTS))
    if kwargs.pop("pretrained", False):
        raise ValueError(f"{name}: no pretrained weights exist for RF-ResNets")
    for key in _TIMM_ONLY_KWARGS:
        kwargs.pop(key, None)
    for key, allowed in _HEADLESS.items():
        value = kwargs.pop(key, None)
        if value not in allowed:
            refuse(key, value, f"RF-ResNets are headless and average-pool: give one of {list(allowed)}, and "
                   "put a classifier on model(x) instead")
    return RFResNet(**{**VARIANTS[name], **kwargs})


def _register(name: str) -> None:
    def factory(pretrained: bool = False, **kwargs) -> RFResNet:
        return create_variant(name, pretrained=pretrained, **kwargs)

    factory.__name__ = name
    factory.__module__ = __name__
    factory.__doc__ = f"{name}: RF-ResNet variant {VARIANTS[name]}"
    register_model(factory)


for _name in VARIANTS:
    _register(_name)

"""Named RF-ResNet variants, registered in timm (``timm.create_model("rf29_resnet18")``).

The RF in a name is not typed in anywhere: tests check that ``model.receptive_field`` (computed from the
layers) and the measured gradient support both equal it.
"""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, register_model

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

# What a fresh model's pretrained_cfg says (timm.data.resolve_model_data_config); exports overlay the run's.
SIDES = {"resnet18": 64, "resnet50": 224, "bagnet33": 224}  # meant for 32-64 px / 224 px images
default_cfgs = {name: dict(url="", num_classes=0, input_size=(3,) + (SIDES[name.split("_")[-1]],) * 2,
                           crop_pct=0.875, interpolation="bilinear", mean=IMAGENET_DEFAULT_MEAN,
                           std=IMAGENET_DEFAULT_STD, first_conv="stem.0", classifier="fc", license="mit")
                for name in VARIANTS}
POOLS = ("avg",)


def has_weight_source(pretrained_cfg=None, pretrained_cfg_overlay=None) -> bool:
    """Whether timm would find weights to load: a file, URL, state dict or hub id in a cfg or overlay."""
    cfgs = [c if isinstance(c, dict) else getattr(c, "__dict__", {})
            for c in (pretrained_cfg, pretrained_cfg_overlay)]
    return any(c.get(k) for c in cfgs for k in ("file", "url", "state_dict", "hf_hub_id"))


def create_variant(name: str, pretrained: bool = False, **kwargs) -> RFResNet:
    """The RF-ResNet ``name`` as a timm model (``build_model_with_cfg``: pretrained_cfg, ``features_only``,
    weights from ``pretrained_cfg_overlay=dict(file=...)``); ``kwargs`` override the variant's arguments."""
    if name not in VARIANTS:
        check_choice("RF-ResNet variant", name, sorted(VARIANTS))
    source = has_weight_source(kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay"))
    if pretrained and not source:
        refuse("pretrained", True, f"no pretrained weights exist for {name}; load an export of yours with "
               "pretrained=True, pretrained_cfg_overlay=dict(file=...) (docs/export.md)")
    pool = kwargs.pop("global_pool", None)
    if pool is not None:
        check_choice("global_pool", pool, POOLS)
    return build_model_with_cfg(RFResNet, name, pretrained, feature_cfg=dict(feature_cls="getter"),
                                **{**VARIANTS[name], **kwargs})


def _register(name: str) -> None:
    def factory(pretrained: bool = False, **kwargs) -> RFResNet:
        return create_variant(name, pretrained=pretrained, **kwargs)

    factory.__name__ = name
    factory.__module__ = __name__
    factory.__doc__ = f"{name}: RF-ResNet variant {VARIANTS[name]}"
    register_model(factory)


for _name in VARIANTS:
    _register(_name)

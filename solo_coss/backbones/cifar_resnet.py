"""timm's ResNet-18/34/50 with solo-learn's CIFAR stem, registered in timm as ``resnet18_cifar_stem`` (and 34,
50): the timm twin of a CIFAR run's ResNet, so that its export loads with timm's own keys.

solo-learn (and ``build_backbone("resnet18", cifar_stem=True)``) replaces the 7x7 stride-2 stem convolution
by a 3x3 stride-1 one with padding 2 and drops the max-pool; timm's ResNet has no such stem, so this class is
timm's with those two modules swapped (every key stays timm's, as ``conv1``, ``bn1``, ``layer1.0.conv1``).
"""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

LAYOUTS = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
           "resnet50": (Bottleneck, (3, 4, 6, 3))}
CIFAR_STEM_NAMES = {f"{name}_cifar_stem": name for name in LAYOUTS}


class CifarStemResNet(ResNet):
    """timm's ResNet; stem: Conv2d(in_chans, 64, 3, stride 1, padding 2) -> BatchNorm -> ReLU, no max-pool."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = nn.Conv2d(self.in_chans, 64, 3, stride=1, padding=2, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.maxpool = nn.Identity()
        self.feature_info = [dict(info, reduction=max(1, info["reduction"] // (2 if i == 0 else 4)))
                             for i, info in enumerate(self.feature_info)]


# What a fresh model's pretrained_cfg says (timm.data.resolve_model_data_config); exports overlay the run's.
default_cfgs = {name: dict(url="", num_classes=0, input_size=(3, 32, 32), crop_pct=1.0,
                           interpolation="bilinear", mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
                           first_conv="conv1", classifier="fc", license="mit") for name in CIFAR_STEM_NAMES}


def _register(name: str) -> None:
    block, layers = LAYOUTS[CIFAR_STEM_NAMES[name]]

    def factory(pretrained: bool = False, **kwargs) -> CifarStemResNet:
        return build_model_with_cfg(CifarStemResNet, name, pretrained, block=block, layers=layers, **kwargs)

    factory.__name__ = name
    factory.__module__ = __name__
    factory.__doc__ = f"{name}: timm's {CIFAR_STEM_NAMES[name]} with solo-learn's CIFAR stem"
    register_model(factory)


for _name in CIFAR_STEM_NAMES:
    _register(_name)

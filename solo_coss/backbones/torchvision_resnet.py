"""torchvision's ResNets (random init) behind the solo-coss backbone contract."""

from __future__ import annotations

import torchvision
from torch import nn

from solo_coss.backbones.base import PooledHead, StagedBackbone
from solo_coss.core.keys import check_choice

TORCHVISION_RESNETS = ("resnet18", "resnet34", "resnet50")


class TorchvisionResNet(StagedBackbone):
    """A torchvision ResNet split into stem / layer1..4 / pooled head.

    ``cifar_stem`` swaps the 7x7/2 conv + max-pool for a 3x3/1 conv, as is usual for 32 px images. Its
    padding is 2, as solo-learn writes it (the last map is 5x5 at 32 px, not 4x4), so that both hosts build
    the same network.
    """

    def __init__(self, name: str = "resnet18", in_chans: int = 3, cifar_stem: bool = False,
                 head_mlp_dim: int | None = None):
        super().__init__()
        check_choice("torchvision ResNet", name, TORCHVISION_RESNETS)
        net = getattr(torchvision.models, name)(weights=None)
        self.in_chans = in_chans
        if cifar_stem:
            conv = nn.Conv2d(in_chans, 64, 3, stride=1, padding=2, bias=False)
            self.stem = nn.Sequential(conv, net.bn1, net.relu)
        else:
            conv = net.conv1
            if in_chans != 3:
                conv = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
            self.stem = nn.Sequential(conv, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.stage_channels = [_out_channels(stage) for stage in self.stages()]
        self.head = PooledHead(self.stage_channels[-1], head_mlp_dim)


def _out_channels(stage: nn.Sequential) -> int:
    last = stage[-1]
    return (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels

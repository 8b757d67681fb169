"""Residual blocks whose spatial kernel is a parameter: 3 (a normal ResNet block) or 1 (no RF growth)."""

from __future__ import annotations

from torch import nn


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]


def shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(*conv_bn(in_ch, out_ch, 1, stride))


class BasicBlock(nn.Module):
    """Two k x k convolutions (ResNet-18/34 block); the stride sits on the first."""

    expansion = 1

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, kernel: int = 3, inner_width: int | None = None
    ):
        super().__init__()
        out_ch = width * self.expansion
        inner = inner_width or width
        self.conv1, self.bn1 = conv_bn(in_ch, inner, kernel, stride)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = conv_bn(inner, out_ch, kernel)
        self.downsample = shortcut(in_ch, out_ch, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> k x k (carries the stride) -> 1x1 expansion (ResNet-50 block, torchvision's v1.5 layout)."""

    expansion = 4

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, kernel: int = 3, inner_width: int | None = None
    ):
        super().__init__()
        out_ch = width * self.expansion
        inner = inner_width or width
        self.conv1, self.bn1 = conv_bn(in_ch, inner, 1)
        self.conv2, self.bn2 = conv_bn(inner, inner, kernel, stride)
        self.conv3, self.bn3 = conv_bn(inner, out_ch, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_ch, out_ch, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}

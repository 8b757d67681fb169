"""solo-learn's WideResNet-28 (the FixMatch layout, for 32 px images): pre-activation basic blocks with
LeakyReLU(0.1), BatchNorm with momentum 0.001 and eps 0.001, biased convolutions, three blocks of widths
16k, 32k, 64k after a 3x3 stem, then BatchNorm + LeakyReLU and average pooling.

Written here so that the standalone host builds the same network, layer for layer, with the same
initialisation and random-number use as solo-learn (``solo/backbones/wide_resnet``). Registered in timm under
solo-learn's names (``timm.create_model("wide_resnet28w2")`` once solo_coss is imported), with timm's feature
API: ``forward_intermediates`` (index 0 the stem convolution, 1..3 the blocks), ``feature_info``
(``features_only=True``), a classifier ``fc`` (``num_classes``, ``reset_classifier``) and a pretrained_cfg.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, register_model
from torch import nn

from solo_coss.backbones.intermediates import wide_resnet_intermediates, wide_resnet_pool
from solo_coss.core.keys import check_choice


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=0.001, eps=0.001)


class WideBasicBlock(nn.Module):
    """BN -> LeakyReLU -> conv3x3 -> BN -> LeakyReLU -> [dropout] -> conv3x3, plus a shortcut (a strided 1x1
    convolution when the width changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_rate: float = 0.0,
                 activate_before_residual: bool = False):
        super().__init__()
        self.bn1, self.relu1 = _bn(in_ch), nn.LeakyReLU(0.1)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=True)
        self.bn2, self.relu2 = _bn(out_ch), nn.LeakyReLU(0.1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=True)
        self.same_width = in_ch == out_ch
        self.shortcut = None if self.same_width else nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=True)
        self.drop_rate, self.activate_before_residual = drop_rate, activate_before_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Where the width changes, the first block of block1 feeds the activated input to both branches; the
        # first blocks of block2 and block3 feed the raw input and leave BN1's output unused (its running
        # statistics still move). solo-learn computes it so, and so must we for the same network.
        if not self.same_width and self.activate_before_residual:
            x = self.relu1(self.bn1(x))
        else:
            activated = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(activated if self.same_width else x)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return torch.add(x if self.same_width else self.shortcut(x), out)


def _stack(blocks: int, in_ch: int, out_ch: int, stride: int, drop_rate: float, activate_first: bool = False):
    return nn.Sequential(
        *(
            WideBasicBlock(
                in_ch if i == 0 else out_ch, out_ch, stride if i == 0 else 1, drop_rate, activate_first
            )
            for i in range(blocks)
        )
    )


class WideResNet(nn.Module):
    def __init__(self, depth: int = 28, widen_factor: int = 2, first_stride: int = 1, drop_rate: float = 0.0,
                 num_classes: int = 0, in_chans: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.num_features = widths[3]
        self.in_chans = in_chans
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, stride=1, padding=1, bias=True)
        self.block1 = _stack(n, widths[0], widths[1], first_stride, drop_rate, activate_first=True)
        self.block2 = _stack(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = _stack(n, widths[2], widths[3], 2, drop_rate)
        self.bn1, self.relu = _bn(widths[3]), nn.LeakyReLU(0.1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.feature_info = [dict(num_chs=c, reduction=r, module=m) for c, r, m in zip(
            widths, (1, first_stride, 2 * first_stride, 4 * first_stride),
            ("conv1", "block1", "block2", "block3"))]
        self.reset_classifier(num_classes)

    def get_classifier(self, name_only: bool = False) -> nn.Module | str:
        return "fc" if name_only else self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        if global_pool is not None:
            check_choice("global_pool", global_pool, ["avg"])
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_intermediates(self, x: torch.Tensor, **kwargs):
        """timm's contract (``solo_coss.backbones.intermediates``); ``norm``: the last map after the final
        BatchNorm + LeakyReLU."""
        return wide_resnet_intermediates(self, x, **kwargs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn1(self.block3(self.block2(self.block1(self.conv1(x))))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        out = wide_resnet_pool(self, x)
        return out if pre_logits else self.fc(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


WIDE_RESNETS = {
    "wide_resnet28w2": dict(depth=28, widen_factor=2),
    "wide_resnet28w8": dict(depth=28, widen_factor=8),
}
WIDE_RESNET_KWARGS = ("first_stride", "drop_rate")
# What a fresh model's pretrained_cfg says (timm.data.resolve_model_data_config); exports overlay the run's.
default_cfgs = {name: dict(url="", num_classes=0, input_size=(3, 32, 32), crop_pct=1.0,
                           interpolation="bilinear", mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
                           first_conv="conv1", classifier="fc", license="mit") for name in WIDE_RESNETS}


def _register(name: str) -> None:
    def factory(pretrained: bool = False, **kwargs) -> WideResNet:
        features = dict(feature_cls="getter", out_indices=(0, 1, 2, 3))
        return build_model_with_cfg(WideResNet, name, pretrained, feature_cfg=features,
                                    **{**WIDE_RESNETS[name], **kwargs})

    factory.__name__ = name
    factory.__module__ = __name__
    factory.__doc__ = f"{name}: solo-learn's WideResNet {WIDE_RESNETS[name]}"
    register_model(factory)


for _name in WIDE_RESNETS:
    _register(_name)

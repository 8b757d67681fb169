"""solo-learn's ViT, Swin, ConvNeXt, PoolFormer and WideResNet networks behind the solo-coss backbone
contract (docs/architecture.md). The network is kept whole under ``net`` and runs as solo-learn runs it, so
``forward`` is solo-learn's global representation (the class token for ViTs, the pooled map otherwise);
``global_and_local`` reads the local map from that same forward (``families.read_map``)."""

from __future__ import annotations

import torch
from torch import nn

from solo_coss.backbones.families import FAMILIES, family_of, read_map, resolve_stage
from solo_coss.backbones.receptive_field import theoretical_receptive_field


def _spatial_path(family: str, net: nn.Module) -> nn.Module:
    """The layers the receptive-field walk follows, in forward order. A ConvNeXt stage's ``downsample`` is
    on its main path, not a residual shortcut: walk its depthwise convolutions explicitly."""
    if family == "convnext":
        return nn.Sequential(net.stem, *(nn.Sequential(s.downsample, *(b.conv_dw for b in s.blocks))
                                          for s in net.stages))
    return net


class LocalMapBackbone(nn.Module):
    def __init__(self, net: nn.Module, name: str):
        super().__init__()
        self.net, self.name = net, name
        self.family = family_of(net, name).name
        self.in_chans = 3

    @property
    def num_features(self) -> int:
        return int(self.net.num_features)

    @property
    def stage_channels(self) -> list[int]:
        return FAMILIES[self.family].channels(self.net)

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    @property
    def receptive_field(self) -> int | str | None:
        """Kernel arithmetic for convolutional families; "global" where attention reaches every token: a ViT,
        a Swin whose last-stage window covers its whole map (224 px with window 7); None for a Swin whose
        windows do not (not computed)."""
        if self.family == "vit":
            return "global"
        if self.family == "swin":
            last = self.net.layers[-1].blocks
            covered = all(b.window_size[i] >= b.input_resolution[i] for b in last for i in (0, 1))
            return "global" if covered else None
        return theoretical_receptive_field(_spatial_path(self.family, self.net))

    def resolve_stage(self, stage: int | None, name: str = "") -> int:
        return resolve_stage(self.net, stage, name or self.name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def global_and_local(
        self, x: torch.Tensor, stage: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(global representation (B, num_features), map of ``stage`` (B, C, h, w)) from one forward."""
        return read_map(self.net, x, stage, self.name)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The local representations: the last stage's map (B, C, h, w)."""
        return self.global_and_local(x)[1]

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The map of every stage (one forward each: a ViT normalises only its last)."""
        return [self.global_and_local(x, k)[1] for k in range(1, self.num_stages + 1)]

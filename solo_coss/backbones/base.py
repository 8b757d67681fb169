"""What every solo-coss backbone shares: stages, pooling head, RF property, input checks."""

from __future__ import annotations

import torch
from torch import nn

from solo_coss.backbones.families import resolve_stage
from solo_coss.backbones.receptive_field import theoretical_receptive_field
from solo_coss.core.heads import PositionwiseMLP


class PooledHead(nn.Module):
    """Global average pooling, optionally followed by an MLP (the paper's post-pooling MLP ablation)."""

    def __init__(self, in_dim: int, mlp_hidden_dim: int | None = None):
        super().__init__()
        self.mlp = PositionwiseMLP(in_dim, mlp_hidden_dim, in_dim) if mlp_hidden_dim else None

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        pooled = fmap.mean(dim=(2, 3))
        return pooled if self.mlp is None else self.mlp(pooled)


class StagedBackbone(nn.Module):
    """Subclasses set ``stem``, ``layer1``..``layer4``, ``head``, ``in_chans`` and ``stage_channels``."""

    in_chans: int
    stage_channels: list[int]

    @property
    def num_features(self) -> int:
        return self.stage_channels[-1]

    @property
    def receptive_field(self) -> int:
        return theoretical_receptive_field(nn.Sequential(self.stem, *self.stages()))

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def resolve_stage(self, stage: int | None, name: str = "") -> int:
        return resolve_stage(self, stage, name)

    def global_and_local(self, x: torch.Tensor, stage: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled features (B, num_features), map of layer ``stage`` (B, C, H, W)) from one forward.

        The ResNet family's map is a stage's output as it is (families.py), so it is read off the forward
        directly: no forward hook, which torch.compile would break the graph at (performance.compile)."""
        maps = self.stage_features(x)
        return self.forward_head(maps[-1]), maps[self.resolve_stage(stage) - 1]

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_chans}, H, W) input, got {tuple(x.shape)}"
            )

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of layer1..layer4, each (B, C_i, H_i, W_i)."""
        self._check_input(x)
        x = self.stem(x)
        out = []
        for stage in self.stages():
            x = stage(x)
            out.append(x)
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The local representations: last stage map (B, C, H, W)."""
        self._check_input(x)
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
        return x

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

"""What every solo-coss ResNet shares: stem, 4 stages, pooling head, classifier, timm's feature API."""

from __future__ import annotations

import torch
from timm.models._features import feature_take_indices
from torch import nn

from solo_coss.backbones.families import read_map, resolve_stage
from solo_coss.backbones.intermediates import check_fmt, resnet_intermediates
from solo_coss.backbones.receptive_field import theoretical_receptive_field, total_stride
from solo_coss.core.heads import PositionwiseMLP
from solo_coss.core.keys import check_choice, refuse

POOLS = ("avg",)


class PooledHead(nn.Module):
    """Global average pooling, optionally followed by an MLP (the paper's post-pooling MLP ablation)."""

    def __init__(self, in_dim: int, mlp_hidden_dim: int | None = None):
        super().__init__()
        self.mlp = PositionwiseMLP(in_dim, mlp_hidden_dim, in_dim) if mlp_hidden_dim else None

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        pooled = fmap.mean(dim=(2, 3))
        return pooled if self.mlp is None else self.mlp(pooled)


class StagedBackbone(nn.Module):
    """Subclasses set ``stem``, ``layer1``..``layer4``, ``head``, ``in_chans`` and ``stage_channels``,
    then call ``set_classifier`` last. The feature API is timm's ResNet's: ``forward_intermediates``
    (index 0 the stem before its max-pool, 1..4 the layers), ``feature_info``, ``forward_features`` /
    ``forward_head``, a classifier ``fc`` (an identity with ``num_classes=0``, the default)."""

    in_chans: int
    stage_channels: list[int]
    num_classes: int = 0

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

    def _stem_parts(self) -> tuple[list[nn.Module], list[nn.Module]]:
        """(the stem up to its activation, its max-pool if any): timm's feature 0 sits between them."""
        modules = list(self.stem)
        cut = next((i for i, m in enumerate(modules) if isinstance(m, nn.MaxPool2d)), len(modules))
        return modules[:cut], modules[cut:]

    def set_classifier(self, num_classes: int = 0) -> None:
        if not isinstance(num_classes, int) or num_classes < 0:
            refuse("num_classes", num_classes, "give a count >= 0 (0: no classifier)")
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        act, _ = self._stem_parts()
        stem_stride = total_stride(nn.Sequential(*act))
        self.feature_info = [dict(num_chs=_out_channels(act), reduction=stem_stride,
                                   module=f"stem.{len(act) - 1}")]
        for i, channels in enumerate(self.stage_channels, start=1):
            reduction = total_stride(nn.Sequential(self.stem, *self.stages()[:i]))
            self.feature_info.append(dict(num_chs=channels, reduction=reduction, module=f"layer{i}"))

    def get_classifier(self, name_only: bool = False) -> nn.Module | str:
        return "fc" if name_only else self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        if global_pool is not None:
            check_choice("global_pool", global_pool, POOLS)
        training = self.training
        self.set_classifier(num_classes)
        self.fc.train(training)

    def resolve_stage(self, stage: int | None, name: str = "") -> int:
        return resolve_stage(self, stage, name)

    def global_and_local(
        self, x: torch.Tensor, stage: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(global representation (B, num_features), map of layer ``stage`` (B, C, H, W)) from one forward."""
        return read_map(self, x, stage)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_chans}, H, W) input, got {tuple(x.shape)}"
            )

    def forward_intermediates(self, x: torch.Tensor, indices=None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False):
        """timm's ResNet contract: ``(last map, [maps at indices])`` or the maps alone; index 0 is the stem
        (after its activation), 1..4 the layers; ``norm`` has no effect (no final norm)."""
        check_fmt(output_fmt)
        self._check_input(x)
        # the stem as one module unless its feature (index 0) is asked for: its own forward (and hooks) run
        stem_map = 0 in feature_take_indices(1 + self.num_stages, indices)[0]
        act, pool = self._stem_parts() if stem_map else ([self.stem], [])
        return resnet_intermediates(act, pool, self.stages(), x, indices, stop_early, intermediates_only)

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of layer1..layer4, each (B, C_i, H_i, W_i)."""
        return self.forward_intermediates(x, indices=[1, 2, 3, 4], intermediates_only=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The local representations: last stage map (B, C, H, W)."""
        return self.forward_intermediates(x, indices=[self.num_stages])[0]

    def forward_head(self, fmap: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head(fmap)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _out_channels(modules: list[nn.Module]) -> int:
    return [m for m in modules if isinstance(m, nn.Conv2d)][-1].out_channels

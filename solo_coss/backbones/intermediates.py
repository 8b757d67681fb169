"""timm's ``forward_intermediates`` contract for the networks written without it: torchvision's ResNet (as
solo-learn builds it), the WideResNet and the PoolFormer (ours and solo-learn's, which share their layout).

``forward_intermediates(x, indices=None, norm=False, stop_early=False, output_fmt="NCHW",
intermediates_only=False)`` runs the network once and returns ``(final features, [maps at indices])``, or the
maps alone; ``forward_head(final)`` turns the final features into what the network's ``forward`` returns, so
``forward_head(forward_intermediates(x)[0])`` is ``net(x)`` computed by the same operations in the same
order. Indices follow timm's ResNet: 0 is the stem (before any pooling), 1.. the stages. ``norm`` applies the
final normalisation to the last stage's map (WideResNet: BatchNorm + LeakyReLU; PoolFormer: GroupNorm).
Each function is written once and used both as the method of our own class and, through ``adapter``, on
solo-learn's class of the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.models._features import feature_take_indices
from torch import nn

from solo_coss.core.keys import check_choice

Intermediates = list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]


def check_fmt(output_fmt) -> None:
    """timm passes its ``Format`` enum (a str subclass) or a plain string; only NCHW maps exist here."""
    check_choice("output_fmt", getattr(output_fmt, "value", output_fmt), ["NCHW"])


def resnet_intermediates(stem: Sequence[nn.Module], stem_pool: Sequence[nn.Module],
                         layers: Sequence[nn.Module], x: torch.Tensor, indices=None, stop_early: bool = False,
                         intermediates_only: bool = False) -> Intermediates:
    """A ResNet's maps as timm's ResNet reads them: index 0 after the stem's activation (before its
    max-pool), index i after layer i."""
    take, max_index = feature_take_indices(len(layers) + 1, indices)
    maps = []
    for module in stem:
        x = module(x)
    if 0 in take:
        maps.append(x)
    for module in stem_pool:
        x = module(x)
    for i, layer in enumerate(layers[:max_index] if stop_early else layers, start=1):
        x = layer(x)
        if i in take:
            maps.append(x)
    return maps if intermediates_only else (x, maps)


def wide_resnet_intermediates(net: nn.Module, x: torch.Tensor, indices=None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False) -> Intermediates:
    """conv1 (index 0), block1..block3 (1..3); the final BatchNorm + LeakyReLU runs once, after block3, when
    the final features or the normalised last map are asked for (its running statistics move once)."""
    check_fmt(output_fmt)
    take, max_index = feature_take_indices(4, indices)
    x = net.conv1(x)
    maps = [x] if 0 in take else []
    blocks = [net.block1, net.block2, net.block3]
    for i, block in enumerate(blocks[:max_index] if stop_early else blocks, start=1):
        x = block(x)
        normed = None
        if i == 3 and (norm or not intermediates_only):
            normed = net.relu(net.bn1(x))
        if i in take:
            maps.append(normed if i == 3 and norm else x)
        if normed is not None:
            x = normed
    return maps if intermediates_only else (x, maps)


def wide_resnet_pool(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pooled features (solo-learn's WideResNet returns them; ours puts its classifier after them)."""
    return F.adaptive_avg_pool2d(x, 1).view(-1, net.num_features)


def poolformer_stages(net: nn.Module) -> list[nn.Module]:
    """The four stages of ``net.network`` (between them: the downsampling convolutions)."""
    return [m for m in net.network if isinstance(m, nn.Sequential)]


def poolformer_intermediates(net: nn.Module, x: torch.Tensor, indices=None, norm: bool = False,
                             stop_early: bool = False, output_fmt: str = "NCHW",
                             intermediates_only: bool = False) -> Intermediates:
    """Stages 1..4 at indices 0..3; the final GroupNorm (``norm``) after the last one."""
    check_fmt(output_fmt)
    stages = poolformer_stages(net)
    take, max_index = feature_take_indices(len(stages), indices)
    x = net.patch_embed(x)
    maps, done = [], -1
    for module in net.network:
        if stop_early and done == max_index:
            break
        x = module(x)
        if isinstance(module, nn.Sequential):
            done += 1
            last = done == len(stages) - 1
            normed = net.norm(x) if last and (norm or not intermediates_only) else None
            if done in take:
                maps.append(normed if last and norm else x)
            if normed is not None:
                x = normed
    return maps if intermediates_only else (x, maps)


def poolformer_head(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pooled features, through solo-learn's ``head`` (an identity without classes) where there is one."""
    out = x.mean([-2, -1])
    return net.head(out) if hasattr(net, "head") else out


class Adapter:
    """timm's two methods for a network written without them; a plain object made per call, holding only
    the network (nothing stays attached to it)."""

    def __init__(self, net: nn.Module, intermediates, head):
        self.net, self._intermediates, self._head = net, intermediates, head

    def forward_intermediates(self, x: torch.Tensor, **kwargs) -> Intermediates:
        return self._intermediates(self.net, x, **kwargs)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self._head(self.net, x)


def _torchvision_intermediates(net: nn.Module, x: torch.Tensor, indices=None, norm: bool = False,
                               stop_early: bool = False, output_fmt: str = "NCHW",
                               intermediates_only: bool = False) -> Intermediates:
    check_fmt(output_fmt)
    return resnet_intermediates([net.conv1, net.bn1, net.relu], [net.maxpool],
                                [net.layer1, net.layer2, net.layer3, net.layer4], x, indices, stop_early,
                                intermediates_only)


def _torchvision_head(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net.fc(torch.flatten(net.avgpool(x), 1))


def adapter(family: str, net: nn.Module):
    """``net`` itself where it has ``forward_intermediates`` (timm's models, ours), else its adapter."""
    if hasattr(net, "forward_intermediates") and hasattr(net, "forward_head"):
        return net
    functions = {"resnet": (_torchvision_intermediates, _torchvision_head),
                 "wide_resnet": (wide_resnet_intermediates, wide_resnet_pool),
                 "poolformer": (poolformer_intermediates, poolformer_head)}
    if family not in functions:
        raise ValueError(f"{type(net).__name__} has no forward_intermediates and no adapter ({family})")
    return Adapter(net, *functions[family])

"""Receptive field of one position of a backbone's last feature map: from the layers, and measured.

`theoretical_receptive_field` walks the module tree in registration order (which is forward order for
ResNets), applying r += (k - 1) * dilation * jump and jump *= stride at every Conv2d / MaxPool2d /
AvgPool2d. A module with a residual shortcut (a child named ``downsample`` or ``shortcut``) has two
branches from the same input: both are walked and the RF is the larger of the two (their strides must
agree, or the sum would not be defined). Global pooling and Linear layers are ignored.

`empirical_receptive_field` measures the side length of the input region whose pixels influence the
centre position of ``forward_features``: the bounding box of the non-zero input gradient, on a copy of the
model made monotone (absolute conv weights, reset BatchNorm, positive input) so no gradient can cancel or
die in a ReLU. Max-pools become average pools of the same geometry in that copy: a max-pool sends gradient
to one input of its window only, which would make the measured support depend on the input.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_SHORTCUT_NAMES = ("downsample", "shortcut")


def _pair(v) -> int:
    if isinstance(v, tuple):
        if v[0] != v[1]:
            raise ValueError(f"only square kernels/strides are supported, got {v}")
        return int(v[0])
    return int(v)


def _walk(module: nn.Module, rf: int, jump: int) -> tuple[int, int]:
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s = _pair(module.kernel_size), _pair(module.stride)
        dilation = _pair(getattr(module, "dilation", 1))
        return rf + (k - 1) * dilation * jump, jump * s
    children = list(module.named_children())
    shortcuts = [child for name, child in children if name in _SHORTCUT_NAMES]
    rf_in, jump_in = rf, jump
    for name, child in children:
        if name not in _SHORTCUT_NAMES:
            rf, jump = _walk(child, rf, jump)
    for branch in shortcuts:
        rf_short, jump_short = _walk(branch, rf_in, jump_in)
        if jump_short != jump:
            raise ValueError(f"{type(module).__name__}: shortcut stride {jump_short // jump_in} differs from "
                             f"the main branch's {jump // jump_in}")
        rf = max(rf, rf_short)
    return rf, jump


def theoretical_receptive_field(module: nn.Module) -> int:
    """RF (px) of one output position of ``module``'s spatial layers, from kernel sizes and strides."""
    return _walk(module, 1, 1)[0]


def total_stride(module: nn.Module) -> int:
    """Input pixels between two neighbouring positions of the output map."""
    return _walk(module, 1, 1)[1]


@torch.no_grad()
def _make_monotone(model: nn.Module) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):
                if _pair(child.dilation) != 1:
                    raise ValueError(f"dilated max-pool {name!r} is not supported")
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                   ceil_mode=child.ceil_mode))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.abs_().add_(1e-3)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()
            m.reset_running_stats()


def input_gradient_map(model: nn.Module, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """|d features[:, :, row, col].sum() / d x| summed over channels: (B, H_in, W_in)."""
    x = x.clone().requires_grad_(True)
    fmap = model.forward_features(x)
    fmap[:, :, row, col].sum().backward()
    return x.grad.abs().sum(dim=1)


def gradient_support_extent(grad: torch.Tensor) -> tuple[int, int]:
    """Height and width of the bounding box of the non-zero entries of a (H, W) map."""
    rows = torch.nonzero(grad.sum(dim=1) > 0).flatten()
    cols = torch.nonzero(grad.sum(dim=0) > 0).flatten()
    if rows.numel() == 0:
        return 0, 0
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def empirical_receptive_field(model: nn.Module, input_size: int | None = None, in_chans: int = 3) -> int:
    """Measured RF side length (px) of the centre position of ``model.forward_features``.

    ``input_size`` defaults to twice the theoretical RF plus a stride, so the window is not clipped by the
    border; a clipped window would be reported smaller than the RF.
    """
    probe = copy.deepcopy(model).eval().float()
    _make_monotone(probe)
    if input_size is None:
        stride = total_stride(probe)
        input_size = 2 * theoretical_receptive_field(probe) + 2 * stride
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, in_chans, input_size, input_size, generator=generator) + 0.1
    with torch.no_grad():
        h, w = probe.forward_features(x).shape[-2:]
    grad = input_gradient_map(probe, x, h // 2, w // 2)[0]
    height, width = gradient_support_extent(grad)
    if height != width:
        raise RuntimeError(f"non-square gradient support {height}x{width}")
    return height

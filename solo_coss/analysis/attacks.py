"""L-inf FGSM and PGD on images in [0, 1] (Goodfellow et al. 2015; Madry et al. 2018).

Written here rather than taken from torchattacks, whose 3.5.1 wheel pins an old ``requests`` it never
imports; the arithmetic is torchattacks' own (tests/test_attacks.py checks equality where it is installed):
the cross-entropy's input gradient sign, steps clipped to the eps-ball around the clean image and to [0, 1],
PGD's random start drawn from torch's global generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: one step of size ``eps`` along the sign of the cross-entropy's input gradient.

    Args:
        model: images in [0, 1] -> logits.
        x: (B, C, H, W) clean images in [0, 1]; y: (B,) their labels.
        eps: the L-inf step (in [0, 1] pixel units).

    Returns:
        The adversarial images, clipped to [0, 1].
    """
    return (x.detach() + eps * _input_gradient(model, x, y).sign()).clamp(0, 1)


def pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int
) -> torch.Tensor:
    """PGD: ``steps`` signed-gradient steps from a uniform random start in the eps-ball around ``x``.

    Args:
        model: images in [0, 1] -> logits.
        x: (B, C, H, W) clean images in [0, 1]; y: (B,) their labels.
        eps: radius of the L-inf ball; alpha: size of each step; steps: how many.

    Returns:
        The adversarial images: each step projected back onto the eps-ball around ``x`` and onto [0, 1].
    """
    clean = x.detach()
    adv = (clean + torch.empty_like(clean).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv = adv + alpha * _input_gradient(model, adv, y).sign()
        adv = (clean + (adv - clean).clamp(-eps, eps)).clamp(0, 1)
    return adv

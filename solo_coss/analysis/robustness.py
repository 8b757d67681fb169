"""Accuracy of a frozen backbone + linear head under corruptions and attacks.

Every condition maps images in [0, 1] pixel space (B, 3, H, W) to corrupted images; the model normalises
inside (``NormalizedClassifier``) so attacks and corruptions act on pixels, as in ImageNet-C and the usual
adversarial evaluations. Conditions, each with a level (level 0 = clean):

- noise (ImageNet-C definitions, corrupt-tta): gaussian_noise, shot_noise, impulse_noise, speckle_noise,
  severities 1-5;
- occlusion: one grey (0.5) square per image at a random position covering ``level`` of the image area;
- patch_shuffle: the image cut into a g x g grid whose patches are randomly permuted, g = level;
- fgsm / pgd: L-inf attacks (``analysis.attacks``) with eps = level / 255; PGD: 10 steps of 2.5 * eps / 10,
  random start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from solo_coss.core.keys import check_choice

NOISES = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")
SEVERITIES = (1, 2, 3, 4, 5)
OCCLUSION_AREAS = (0.1, 0.2, 0.3, 0.4, 0.5)
SHUFFLE_GRIDS = (2, 4, 8)
EPSILONS = (0.5, 1, 2, 4, 8)  # in 1/255
PGD_STEPS = 10


class NormalizedClassifier(nn.Module):
    """[0, 1] images -> normalise -> backbone -> linear head -> logits."""

    def __init__(self, backbone: nn.Module, head: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone((x - self.mean) / self.std))


@dataclass(frozen=True)
class Condition:
    """One test condition: ``apply(images, labels, model, generator)`` returns the corrupted images."""

    family: str
    level: float
    apply: Callable[[torch.Tensor, torch.Tensor, nn.Module, torch.Generator], torch.Tensor]


def noise(name: str, severity: int):
    """The ImageNet-C noise ``name`` (one of ``NOISES``) at ``severity`` 1-5, as a ``Condition.apply``."""
    from corrupt_tta import corruption_dict

    fn = corruption_dict[name]

    def apply(x, y, model, gen):
        np.random.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))  # corrupt-tta uses np.random
        out = []
        for img in x:
            arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            out.append(
                torch.from_numpy(np.asarray(fn(arr, severity), dtype=np.float32) / 255).permute(2, 0, 1)
            )
        return torch.stack(out).clamp(0, 1)

    return apply


def occlusion(area: float):
    """One grey square per image covering ``area`` of it at a random position, as a ``Condition.apply``."""
    def apply(x, y, model, gen):
        b, _, h, w = x.shape
        side = int(round((area * h * w) ** 0.5))
        out = x.clone()
        if side == 0:
            return out
        for i in range(b):
            top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
            out[i, :, top:top + side, left:left + side] = 0.5
        return out

    return apply


def patch_shuffle(grid: int):
    """The patches of a ``grid`` x ``grid`` cut randomly permuted per image, as a ``Condition.apply``."""
    def apply(x, y, model, gen):
        b, c, h, w = x.shape
        ph, pw = h // grid, w // grid
        out = x.clone()
        core = x[:, :, : ph * grid, : pw * grid]
        patches = (
            core.reshape(b, c, grid, ph, grid, pw)
            .permute(0, 2, 4, 1, 3, 5)
            .reshape(b, grid * grid, c, ph, pw)
        )
        for i in range(b):
            patches[i] = patches[i][torch.randperm(grid * grid, generator=gen)]
        shuffled = (
            patches.reshape(b, grid, grid, c, ph, pw)
            .permute(0, 3, 1, 4, 2, 5)
            .reshape(b, c, ph * grid, pw * grid)
        )
        out[:, :, : ph * grid, : pw * grid] = shuffled
        return out

    return apply


def attack(kind: str, eps255: float):
    """An L-inf ``fgsm`` or ``pgd`` attack with eps = ``eps255`` / 255, as a ``Condition.apply``."""
    from solo_coss.analysis.attacks import fgsm, pgd

    def apply(x, y, model, gen):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        eps = eps255 / 255
        if kind == "fgsm":
            return fgsm(model, x, y, eps)
        return pgd(model, x, y, eps, alpha=2.5 * eps / PGD_STEPS, steps=PGD_STEPS)

    return apply


def build_conditions(families: Sequence[str] = ("noise", "occlusion", "patch_shuffle", "fgsm", "pgd"),
                     noises: Sequence[str] = NOISES) -> list[Condition]:
    """The conditions of the robustness evaluation.

    Args:
        families: among ``noise``, ``occlusion``, ``patch_shuffle``, ``fgsm``, ``pgd``.
        noises: the noise kinds of the ``noise`` family.

    Returns:
        ``clean`` first, then every level of every family (the module docstring lists them).

    Raises:
        ValueError: an unknown family (the message lists the valid ones).
    """
    known = ("noise", "occlusion", "patch_shuffle", "fgsm", "pgd")
    for family in families:
        check_choice("--families", family, known)
    conds = [Condition("clean", 0, lambda x, y, m, g: x)]
    for fam in families:
        if fam == "noise":
            conds += [Condition(n, s, noise(n, s)) for n in noises for s in SEVERITIES]
        elif fam == "occlusion":
            conds += [Condition(fam, a, occlusion(a)) for a in OCCLUSION_AREAS]
        elif fam == "patch_shuffle":
            conds += [Condition(fam, g, patch_shuffle(g)) for g in SHUFFLE_GRIDS]
        else:
            conds += [Condition(fam, e, attack(fam, e)) for e in EPSILONS]
    return conds


def evaluate(model: nn.Module, loader, conditions: Sequence[Condition], seed: int = 0,
             desc: str = "robustness") -> list[dict]:
    """Top-1 accuracy of ``model`` under each condition.

    Args:
        model: images in [0, 1] -> logits (``NormalizedClassifier``); put in eval mode.
        loader: yields (images in [0, 1], labels).
        conditions: from ``build_conditions``.
        seed: the conditions' randomness; the same seed gives every model the same corruptions.
        desc: the progress bar's label.

    Returns:
        One row {family, level, accuracy (%)} per condition, in order.
    """
    model.eval()
    batches = list(loader)
    rows = []
    for cond in tqdm(conditions, desc=desc, disable=None):
        gen = torch.Generator().manual_seed(seed)
        correct = total = 0
        for x, y in batches:
            xc = cond.apply(x, y, model, gen)
            with torch.no_grad():
                correct += (model(xc).argmax(1) == y).sum().item()
            total += len(y)
        rows.append({"family": cond.family, "level": cond.level, "accuracy": 100.0 * correct / max(total, 1)})
    return rows

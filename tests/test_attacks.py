"""FGSM / PGD: the defining properties, and equality with torchattacks where it is installed."""

import pytest
import torch
from torch import nn

from solo_coss.analysis.attacks import fgsm, pgd


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    ).eval()


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 3, 8, 8, generator=g), torch.randint(0, 3, (6,), generator=g)


def test_fgsm_moves_every_pixel_by_eps_along_the_gradient_sign_within_the_image_range():
    model, (x, y) = tiny_model(), batch()
    adv = fgsm(model, x, y, eps=0.03)
    moved = (adv - x).abs()[(x > 0.03) & (x < 0.97)]
    assert bool(((moved - 0.03).abs() < 1e-6).logical_or(moved == 0).all())  # 0 where the gradient is 0
    assert (moved > 0).float().mean() > 0.5
    assert adv.min() >= 0 and adv.max() <= 1
    loss = nn.functional.cross_entropy
    assert loss(model(adv), y) > loss(model(x), y)


def test_pgd_stays_in_the_eps_ball_and_hurts_more_than_fgsm():
    model, (x, y) = tiny_model(), batch()
    torch.manual_seed(3)
    adv = pgd(model, x, y, eps=0.05, alpha=0.0125, steps=10)
    assert (adv - x).abs().max() <= 0.05 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    loss = nn.functional.cross_entropy
    assert loss(model(adv), y) >= loss(model(fgsm(model, x, y, 0.05)), y) - 1e-4


def test_same_adversarial_images_as_torchattacks():
    torchattacks = pytest.importorskip(
        "torchattacks",
        reason="torchattacks not installed (scripts/install.sh installs it as the reference of this test)",
    )
    model, (x, y) = tiny_model(), batch()
    assert torch.equal(fgsm(model, x, y, 0.03), torchattacks.FGSM(model, eps=0.03)(x, y))
    torch.manual_seed(9)
    ours = pgd(model, x, y, eps=0.05, alpha=0.0125, steps=10)
    torch.manual_seed(9)
    theirs = torchattacks.PGD(model, eps=0.05, alpha=0.0125, steps=10, random_start=True)(x, y)
    assert torch.equal(ours, theirs)

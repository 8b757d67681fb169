"""Robustness conditions with known answers, on a fixed linear model over synthetic images."""

import pytest
import torch
from torch import nn

from solo_coss.analysis import robustness as rob
from solo_coss.experiments.robustness import write_robustness


class Flatten(nn.Module):
    def forward(self, x):
        return x.flatten(1)


def linear_problem(n=120, seed=0, signal=0.2, spread=0.3):
    """Two classes told apart by the mean brightness of the left vs right half; a fixed linear model."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 3, 8, 8, generator=g) * spread + 0.35
    x[y == 0, :, :, :4] += signal
    x[y == 1, :, :, 4:] += signal
    w = torch.zeros(2, 3 * 8 * 8)
    mask = torch.zeros(3, 8, 8)
    mask[:, :, :4] = 1
    w[0] = (mask - (1 - mask)).flatten()
    w[1] = -w[0]
    head = nn.Linear(3 * 64, 2)
    with torch.no_grad():
        head.weight.copy_(w)
        head.bias.zero_()
    model = rob.NormalizedClassifier(Flatten(), head, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return model, [(x[:60], y[:60]), (x[60:], y[60:])]


def acc(rows, family, level):
    return next(r["accuracy"] for r in rows if r["family"] == family and r["level"] == level)


def test_clean_accuracy_and_level_zero_conditions():
    model, loader = linear_problem()
    conds = [
        rob.Condition("clean", 0, lambda x, y, m, g: x),
        rob.Condition("occlusion", 0.0, rob.occlusion(0.0)),
        rob.Condition("patch_shuffle", 1, rob.patch_shuffle(1)),
    ]
    rows = rob.evaluate(model, loader, conds)
    assert acc(rows, "clean", 0) == 100.0
    assert acc(rows, "occlusion", 0.0) == 100.0
    assert acc(rows, "patch_shuffle", 1) == 100.0


def test_pgd_never_beats_fgsm_and_attacks_hurt_monotonically():
    model, loader = linear_problem()
    conds = [rob.Condition(k, e, rob.attack(k, e)) for k in ("fgsm", "pgd") for e in (2, 8, 32)]
    rows = rob.evaluate(model, loader, conds)
    for e in (2, 8, 32):
        assert acc(rows, "pgd", e) <= acc(rows, "fgsm", e)
    assert acc(rows, "fgsm", 32) < acc(rows, "fgsm", 2)
    assert acc(rows, "pgd", 32) < 50


def test_noise_severity_hurts_and_is_reproducible():
    model, loader = linear_problem(signal=0.03, spread=0.0)  # a weak signal that strong noise drowns
    conds = [rob.Condition("gaussian_noise", s, rob.noise("gaussian_noise", s)) for s in (1, 5)]
    a = rob.evaluate(model, loader, conds, seed=3)
    b = rob.evaluate(model, loader, conds, seed=3)
    assert a == b
    assert acc(a, "gaussian_noise", 5) < acc(a, "gaussian_noise", 1)


def test_occlusion_area_and_shuffle_permute_pixels():
    x = torch.rand(4, 3, 16, 16)
    gen = torch.Generator().manual_seed(0)
    occluded = rob.occlusion(0.25)(x, None, None, gen)
    assert ((occluded == 0.5).all(dim=1).sum(dim=(1, 2)) == 64).all()  # an 8x8 square = 25% of 16x16
    shuffled = rob.patch_shuffle(4)(x, None, None, gen)
    assert torch.equal(shuffled.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    assert not torch.equal(shuffled, x)


def test_bad_family_and_tables(tmp_path, saved_figures):
    with pytest.raises(ValueError, match="patch_shuffle"):
        rob.build_conditions(["blur"])
    assert len(rob.build_conditions()) == 1 + 4 * 5 + 5 + 3 + 5 + 5
    rows = [
        {"family": "clean", "level": 0, "accuracy": 80.0},
        {"family": "fgsm", "level": 1, "accuracy": 50.5},
        {"family": "occlusion", "level": 0.3, "accuracy": 61.0},
    ]
    other = [{**r, "accuracy": r["accuracy"] - 10} for r in rows]
    table = write_robustness({"a": rows, "b": other}, tmp_path)
    assert "| fgsm | 1 | 50.50 | 40.50 |" in table
    assert (tmp_path / "robustness.png").is_file()
    # the figure: a panel per family, a line per run from its clean accuracy (level 0) through the levels
    fgsm, occlusion = saved_figures["robustness.png"].axes
    assert (fgsm.get_title(), occlusion.get_title()) == ("fgsm", "occlusion")
    assert [line.get_label() for line in fgsm.lines] == ["a", "b"]
    assert [line.get_xydata().tolist() for line in fgsm.lines] == [
        [[0, 80.0], [1, 50.5]],
        [[0, 70.0], [1, 40.5]],
    ]
    assert occlusion.lines[1].get_xydata().tolist() == [[0, 70.0], [0.3, 51.0]]

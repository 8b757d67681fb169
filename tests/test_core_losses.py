"""The local<->global losses against straightforward loop computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from solo_coss.core import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss


def _cos(a, b):
    return float((a @ b) / (a.norm() * b.norm()))


def test_byol_loss_matches_loops():
    torch.manual_seed(0)
    local, target = torch.randn(3, 5, 2, 2), torch.randn(3, 5)  # (B, D, H, W), (B, D)
    expected = 0.0
    for b in range(3):
        for h in range(2):
            for w in range(2):
                expected += 2 - 2 * _cos(local[b, :, h, w], target[b])
    expected /= 3 * 4
    assert local_global_byol_loss(local, target).item() == pytest.approx(expected, rel=1e-5)
    tokens = local.flatten(2).transpose(1, 2)  # (B, N, D) form gives the same value
    assert local_global_byol_loss(tokens, target).item() == pytest.approx(expected, rel=1e-5)


def test_byol_loss_is_zero_when_aligned_and_four_when_opposite():
    target = torch.randn(4, 8)
    aligned = target[:, None].expand(4, 6, 8) * 3.0
    assert local_global_byol_loss(aligned, target).item() == pytest.approx(0.0, abs=1e-6)
    assert local_global_byol_loss(-aligned, target).item() == pytest.approx(4.0, abs=1e-5)


def test_infonce_matches_loops():
    torch.manual_seed(1)
    local, glob, t = torch.randn(4, 3, 6), torch.randn(4, 6), 0.3
    expected = 0.0
    for b in range(4):
        for n in range(3):
            sims = torch.tensor([_cos(local[b, n], glob[m]) / t for m in range(4)])
            expected += -(sims[b] - torch.logsumexp(sims, 0)).item()
    expected /= 12
    assert local_global_infonce_loss(local, glob, t).item() == pytest.approx(expected, rel=1e-5)


def test_infonce_single_image_is_zero():
    assert local_global_infonce_loss(torch.randn(1, 4, 8), torch.randn(1, 8)).item() == pytest.approx(0.0)


def test_infonce_lower_for_own_image():
    glob = F.normalize(torch.randn(8, 16), dim=1)
    own = glob[:, None].repeat(1, 4, 1)
    other = glob.roll(1, 0)[:, None].repeat(1, 4, 1)
    assert (
        local_global_infonce_loss(own, glob, 0.1) < math.log(8) < local_global_infonce_loss(other, glob, 0.1)
    )


def test_dino_matches_loops():
    torch.manual_seed(2)
    student, teacher, center = torch.randn(2, 3, 5), torch.randn(2, 5), torch.randn(1, 5)
    st, tt = 0.1, 0.04
    expected = 0.0
    for b in range(2):
        p_t = torch.softmax((teacher[b] - center[0]) / tt, 0)
        for n in range(3):
            expected += -(p_t * torch.log_softmax(student[b, n] / st, 0)).sum().item()
    expected /= 6
    got = local_global_dino_loss(student, teacher, center, st, tt)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(B, D, H, W\) or \(B, N, D\)"):
        local_global_byol_loss(torch.randn(3, 5), torch.randn(3, 5))

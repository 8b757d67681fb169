import numpy as np
import pytest
import torch

from solo_coss.analysis.redundancy import intra_image_similarity, pair_similarities, pearson, redundancy
from solo_coss.backbones import build_backbone


def test_constant_over_space_gives_similarity_one():
    vec = torch.randn(5, 8, 1, 1)
    local = vec.expand(5, 8, 3, 3)
    torch.testing.assert_close(intra_image_similarity(local), torch.ones(5))
    g, loc = pair_similarities(local, vec.flatten(1))
    torch.testing.assert_close(g, loc)  # every local vector equals the global one
    assert pearson(g, loc) == pytest.approx(1.0)


def test_all_pairs_and_same_position_match_loops():
    torch.manual_seed(0)
    local, glob = torch.randn(3, 4, 2, 2), torch.randn(3, 4)
    g, all_pairs = pair_similarities(local, glob, "all_pairs")
    _, same = pair_similarities(local, glob, "same_position")
    cos = torch.nn.functional.cosine_similarity
    u = local.flatten(2)
    expected_all, expected_same = [], []
    for i in range(3):
        for j in range(i + 1, 3):
            expected_all.append(
                np.mean([cos(u[i, :, p], u[j, :, q], dim=0).item() for p in range(4) for q in range(4)])
            )
            expected_same.append(np.mean([cos(u[i, :, p], u[j, :, p], dim=0).item() for p in range(4)]))
    np.testing.assert_allclose(all_pairs.numpy(), expected_all, rtol=1e-5)
    np.testing.assert_allclose(same.numpy(), expected_same, rtol=1e-5)
    with pytest.raises(ValueError, match="same_position"):
        pair_similarities(local, glob, "diagonal")


def test_pearson_equals_numpy():
    a, b = torch.randn(50), torch.randn(50)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.numpy(), b.numpy())[0, 1], rel=1e-9)


def test_redundancy_on_a_backbone():
    out = redundancy(build_backbone("rf29_resnet18", widths=(8, 16, 32, 64)), torch.rand(6, 3, 32, 32))
    assert out["num_pairs"] == 15 and -1 <= out["pearson"] <= 1 and 0 < out["intra_image_similarity"] <= 1

import pytest
import torch

from solo_coss.analysis.erf import effective_receptive_fields, erf_figure, map_index
from solo_coss.backbones import build_backbone


def test_map_index_floors_and_refuses_one():
    assert [map_index(c, 4) for c in (0.0, 0.5, 0.99)] == [0, 2, 3]
    with pytest.raises(ValueError):
        map_index(1.0, 4)


def test_rf29_erf_is_zero_outside_its_window(tmp_path):
    model = build_backbone("rf29_resnet18")
    erfs = effective_receptive_fields(model, torch.randn(2, 3, 64, 64))  # 8x8 map, stride 8
    assert erfs.shape == (2, 4, 64, 64)
    # (0.5, 0.5) -> map position (4, 4): its window is centred on pixel 32, pixels 18..46
    centre = erfs[:, 3]
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[18:47, 18:47] = False
    assert centre[:, outside].abs().max() == 0
    assert centre[:, 18:47, 18:47].max() == 1.0
    # (0, 0) -> position (0, 0): window clipped by the border, pixels 0..14
    assert erfs[:, 0, 15:, :].abs().max() == 0 and erfs[:, 0, :, 15:].abs().max() == 0
    path = erf_figure(torch.rand(2, 3, 64, 64), {"rf29": erfs}, tmp_path / "erf.png")
    assert path.stat().st_size > 5000

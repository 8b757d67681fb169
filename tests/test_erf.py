import numpy as np
import pytest
import torch

from solo_coss.analysis.erf import effective_receptive_fields, erf_figure, map_index
from solo_coss.backbones import build_backbone


def test_map_index_floors_and_refuses_one():
    assert [map_index(c, 4) for c in (0.0, 0.5, 0.99)] == [0, 2, 3]
    with pytest.raises(ValueError):
        map_index(1.0, 4)


def test_rf29_erf_is_zero_outside_its_window(tmp_path, saved_figures):
    model = build_backbone("rf29_resnet18", widths=(8, 16, 32, 64))  # the widths do not change the RF
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
    images = torch.rand(2, 3, 64, 64)
    path = erf_figure(images, {"rf29": erfs}, tmp_path / "erf.png")
    assert path.is_file()
    # the figure: per image a row, the image then the ERF of each of the 4 coordinates, titled by run and
    # coordinate
    axes = saved_figures["erf.png"].axes
    assert len(axes) == 2 * 5
    for i in range(2):
        row = axes[5 * i: 5 * (i + 1)]
        np.testing.assert_array_equal(row[0].images[0].get_array(), images[i].permute(1, 2, 0).numpy())
        for k in range(4):
            np.testing.assert_array_equal(row[1 + k].images[0].get_array(), erfs[i, k].numpy())
    assert [ax.get_title() for ax in axes[1:5]] == [
        "rf29\n(0.0,0.0)",
        "rf29\n(0.0,0.5)",
        "rf29\n(0.5,0.0)",
        "rf29\n(0.5,0.5)",
    ]

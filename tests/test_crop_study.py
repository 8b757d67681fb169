import csv
from pathlib import Path

import numpy as np
import pytest

from solo_coss.experiments.crop_study import c_min_overrides, write_study
from solo_coss.hosts.standalone.config import load_config

FMNIST = Path(__file__).resolve().parents[1] / "scripts/pretrain/fashion-mnist"


def test_c_min_overrides_set_every_pipeline():
    overrides = c_min_overrides(FMNIST, "byol", 0.4, [])
    cfg = load_config(str(FMNIST), "byol.yaml", overrides)
    assert [p.rrc.crop_min_scale for p in cfg.augmentations] == [0.4] * len(cfg.augmentations)
    assert all(p.rrc.enabled for p in cfg.augmentations) and cfg.augmentations[0].rrc.crop_max_scale == 1.0
    with pytest.raises(ValueError, match="c_min"):
        c_min_overrides(FMNIST, "byol", 0.0, [])


def test_write_study_mean_std_csv_plot(tmp_path, saved_figures):
    rows = [{"method": m, "c_min": c, "seed": s, "knn_top1": 50 + 10 * c + (5 if m == "co_byol" else 0) + s}
            for m in ("byol", "co_byol") for c in (0.08, 0.4) for s in (0, 2)]
    table = write_study(rows, tmp_path)
    # byol at 0.08: 50.8 and 52.8 -> mean 51.80, sample std 1.41
    assert "| 0.08 | 51.80 ± 1.41 (n=2) | 56.80 ± 1.41 (n=2) |" in table
    with open(tmp_path / "crop_study.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    assert (tmp_path / "crop_study.png").is_file()
    # the figure: one error-bar line per method, kNN mean against c_min, the sample std as the bars
    ax = saved_figures["crop_study.png"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["byol", "co_byol"]
    assert len(ax.containers) == 2
    for container, offset in zip(ax.containers, (0, 5)):
        line, _, (bars,) = container.lines
        assert list(line.get_xdata()) == [0.08, 0.4]
        np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), [51.8 + offset, 55.0 + offset])
        half_heights = [abs(seg[1][1] - seg[0][1]) / 2 for seg in bars.get_segments()]
        np.testing.assert_allclose(half_heights, [2 ** 0.5] * 2)

import csv

import pytest

from solo_coss.experiments.crop_study import with_c_min, write_study


def test_with_c_min_sets_every_pipeline_and_copies():
    cfg = {"name": "x", "augmentations": [{"rrc": {"enabled": True, "crop_min_scale": 0.08, "crop_max_scale": 1.0}},
                                          {"crop_size": 32}]}
    new = with_c_min(cfg, 0.4, "x-cmin0.4")
    assert [p["rrc"]["crop_min_scale"] for p in new["augmentations"]] == [0.4, 0.4]
    assert new["augmentations"][0]["rrc"]["crop_max_scale"] == 1.0 and new["name"] == "x-cmin0.4"
    assert cfg["augmentations"][0]["rrc"]["crop_min_scale"] == 0.08  # the input is untouched
    with pytest.raises(ValueError, match="c_min"):
        with_c_min(cfg, 0.0, "bad")


def test_write_study_table_csv_plot(tmp_path):
    rows = [{"method": m, "c_min": c, "knn_top1": 50 + 10 * c + (5 if m == "co_byol" else 0)}
            for m in ("byol", "co_byol") for c in (0.08, 0.4)]
    table = write_study(rows, tmp_path)
    assert "| 0.08 | 50.80 | 55.80 |" in table and "| 0.4 | 54.00 | 59.00 |" in table
    with open(tmp_path / "crop_study.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (tmp_path / "crop_study.png").stat().st_size > 5000

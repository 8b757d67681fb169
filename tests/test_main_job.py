"""The README's main job, end to end (slow: ~10-15 min on 2 cores)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing")
def test_compare_co_byol_beats_random_init(tmp_path):
    """CO-BYOL must beat the random-init backbone on kNN and linear top-1. BYOL is only checked to train:
    at this CPU budget it lands within about +-2 points of random init (runs: 74.2, 71.3 kNN vs 71.9), so
    "BYOL beats random init" is not asserted -- see the README and the issue note."""
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", "scripts/compare.sh", "fashion-mnist", "byol", "co_byol", "--out", str(tmp_path)],
                   cwd=ROOT, env=env, check=True)
    with open(tmp_path / "compare.csv") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"random init", "byol", "co_byol"}
    chance = 10.0
    random_knn = float(rows["random init"]["knn_top1"])
    assert random_knn > chance
    assert float(rows["co_byol"]["knn_top1"]) > random_knn, rows
    assert float(rows["co_byol"]["linear_top1"]) > float(rows["random init"]["linear_top1"]), rows
    for method in ("byol", "co_byol"):
        assert float(rows[method]["knn_top1"]) != random_knn and float(rows[method]["train_seconds"]) > 0
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert "| co_byol |" in (tmp_path / "compare.md").read_text()

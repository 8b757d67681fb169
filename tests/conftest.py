"""Fixtures shared across test files: one tiny trained run per session, and the figures a test makes."""

import os
import shutil
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run

if os.environ.get("PYTEST_XDIST_WORKER"):  # `-n 2` on 2 cores: a worker per core, one thread each
    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")
TINY_NAME = "co_byol-fashion-mnist"
# The one tiny end-to-end run of the default suite: CO-BYOL, 1 epoch of 7 steps over 240 Fashion-MNIST images,
# a quarter-width rf29_resnet18, every step logged, the online probes scored on 1000 test images (a few
# seconds on 2 cores).
TINY_VAL_IMAGES = 1000
TINY_RUN_ARGS = [
    "--config-path",
    str(ROOT / "scripts/pretrain/fashion-mnist"),
    "--config-name",
    "co_byol.yaml",
    *TINY_OVERRIDES,
    "data.val_fraction=0.1",
    "max_epochs=1",
    "log_every_n_steps=1",
]
TINY_STEPS = 7  # 240 images, batch 32, drop_last


@pytest.fixture(scope="session")
def trained_tiny_run(tmp_path_factory) -> Path:
    """The session's tiny run, trained once through the CLI; its checkpoint.dir is the returned folder's
    grandparent. Read it only: tests that write into a run take ``tiny_run`` (a copy)."""
    if not FMNIST.is_dir():
        pytest.skip("dataset-fashion-mnist missing")
    from solo_coss.hosts import cli

    out = tmp_path_factory.mktemp("tiny_run")
    cli.pretrain([*TINY_RUN_ARGS, f"checkpoint.dir={out}"])
    return latest_run(out, TINY_NAME)


@pytest.fixture
def tiny_run(trained_tiny_run, tmp_path) -> Path:
    """A private copy of the session's tiny run (its whole checkpoint.dir, ``latest`` included), under
    ``tmp_path / "runs"``; returns the run folder."""
    source = trained_tiny_run.parents[1]
    shutil.copytree(source, tmp_path / "runs", symlinks=True)
    return tmp_path / "runs" / TINY_NAME / trained_tiny_run.name


@pytest.fixture
def saved_figures(monkeypatch) -> dict:
    """Every matplotlib figure the test saves, by file name: its axes hold the data it shows."""
    from matplotlib.figure import Figure

    figures: dict = {}
    original = Figure.savefig

    def record(self, fname, *args, **kwargs):
        figures[Path(fname).name] = self
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures

"""A normal run's output: the summary names the method as the config does, and Lightning's tip, torch's
LeafSpec deprecation, the short-epoch log_every_n_steps warning and the FLOPs column are gone."""

import logging
from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES

from solo_coss.hosts import cli

ROOT = Path(__file__).resolve().parents[1]
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


@pytest.mark.slow
@pytest.mark.skipif(not Path(FMNIST).is_file(), reason="dataset-fashion-mnist not installed")
def test_a_tiny_run_prints_no_lightning_noise(tmp_path, recwarn, caplog, capfd):
    caplog.set_level(logging.INFO)
    cli.pretrain(
        [
            "--config-path",
            str(ROOT / "scripts/pretrain/fashion-mnist"),
            "--config-name",
            "co_simclr.yaml",
            f"checkpoint.dir={tmp_path}",
            "max_epochs=1",
            "log_every_n_steps=50",
            *(o for o in TINY_OVERRIDES if not o.startswith("method_kwargs.pred_")),
        ]
    )
    out = capfd.readouterr()
    text = out.out + out.err + caplog.text + "\n".join(str(w.message) for w in recwarn)
    for noise in ("litlogger", "LeafSpec", "smaller than the logging interval", "FLOPs",
                  "not supported by the model summary", "Skipping setting a default"):
        assert noise not in text, noise
    summary = next(line for line in out.out.splitlines() if " method " in line)
    assert "co_simclr" in summary and "SimCLR" not in summary
    run = tmp_path / "co_simclr-fashion-mnist"
    assert f"new run {run}/" in out.out
    last = out.out.strip().splitlines()[-1]
    assert last.startswith(f"run folder: {run}/") and f"{run / 'latest'} points at it" in last, last

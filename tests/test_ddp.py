"""A real Lightning DDP run of the standalone host: 2 CPU processes (gloo), launched by the console script.

tests/test_distributed.py checks the loss/gradient arithmetic across ranks; this checks the host around it:
the launcher, the per-rank data split, the gathered SimCLR/CO losses inside Trainer.fit, rank-0
checkpointing and a resume into a new run with more epochs.
"""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run

from solo_coss.experiments.compare_plots import read_metrics

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")
SCRIPT = Path(sys.executable).parent / "solo-coss-pretrain"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not FMNIST.is_dir(), reason="dataset-fashion-mnist not installed"),
              pytest.mark.skipif(not SCRIPT.is_file(), reason=f"{SCRIPT} not installed (pip install -e .)")]

IMAGES, BATCH = 480, 32  # data.fraction=0.008 of the 60k training images


PRINTED: list[str] = []  # what each launch printed, stdout and stderr


def pretrain(out: Path, devices: int, epochs: int, *extra: str) -> dict:
    overrides = [o for o in TINY_OVERRIDES if not o.startswith(("data.fraction", "method_kwargs.pred_"))]
    cmd = [str(SCRIPT), "--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
           "co_simclr.yaml", f"checkpoint.dir={out}", f"max_epochs={epochs}", "data.fraction=0.008",
           "accelerator=cpu", f"devices={devices}", "+strategy=ddp" if devices > 1 else "+strategy=auto",
           "knn_eval.enabled=false", "log_every_n_steps=1", *overrides, *extra]
    done = subprocess.run(cmd, cwd=ROOT, timeout=600, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    PRINTED.append(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:]
    return torch.load(
        latest_run(out, "co_simclr-fashion-mnist") / "last.ckpt", map_location="cpu", weights_only=False
    )


def test_two_process_ddp_pretrain_splits_data_and_resumes(tmp_path):
    single = pretrain(tmp_path / "single", devices=1, epochs=1)
    assert single["global_step"] == IMAGES // BATCH

    ddp = pretrain(tmp_path / "ddp", devices=2, epochs=1)
    # each rank sees half the images: half the optimizer steps per epoch
    assert ddp["global_step"] == IMAGES // 2 // BATCH
    run = latest_run(tmp_path / "ddp", "co_simclr-fashion-mnist")
    metrics = read_metrics(run)
    losses = [v for _, v in metrics.get("train/loss_step", [])]
    assert losses and all(math.isfinite(v) for v in losses)
    # the CO term was active: the local loss is logged and positive
    local = [v for _, v in metrics.get("train/local_loss_step", [])]
    assert local and min(local) > 0

    # max_epochs is an identifying key: a longer run starts a new run folder, from the 1-epoch checkpoint
    resumed = pretrain(tmp_path / "ddp", 2, 2, f"+resume_from_checkpoint={run / 'last.ckpt'}")
    assert resumed["global_step"] == 2 * ddp["global_step"]
    assert resumed["epoch"] == 1
    second = latest_run(tmp_path / "ddp", "co_simclr-fashion-mnist")
    assert (
        second != run
        and torch.load(run / "last.ckpt", weights_only=False)["global_step"] == ddp["global_step"]
    )
    assert sorted(p.name for p in (tmp_path / "ddp" / "co_simclr-fashion-mnist").iterdir()) == sorted(
        [run.name, second.name, "latest"])  # rank 1 created no folder of its own

    # issue #30, case 6: what the DDP launches print is true of them: the losses are logged as the mean over
    # the ranks (sync_dist, as solo-learn), the new run from another run's checkpoint is announced once,
    # and the lr scaling line counts both processes
    ddp_output = "\n".join(PRINTED[1:])
    assert "sync_dist" not in ddp_output and "dirpath has changed" not in ddp_output, ddp_output[-3000:]
    assert PRINTED[1].count("new run ") == 1 and PRINTED[2].count(f"new run {second}, starting from") == 1
    assert "x batch_size 32 x 2 process(es) (devices 2 x num_nodes 1) / 256" in PRINTED[1]

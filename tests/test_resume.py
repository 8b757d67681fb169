"""A run killed mid-epoch (SIGKILL or SIGTERM) and restarted ends with the uninterrupted run's weights."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH = 9  # 300 images (fraction 0.005), batch 32, drop_last


def command(run_dir: Path) -> list[str]:
    return [sys.executable, "-c", "from solo_coss.hosts.cli import pretrain; pretrain()",
            "--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name", "co_byol.yaml",
            f"checkpoint.dir={run_dir}", *TINY_OVERRIDES, "data.fraction=0.005", "max_epochs=2",
            "checkpoint.every_n_steps=2", "knn_eval.enabled=false"]


def step_of(path: Path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["global_step"]
    except Exception:  # not written yet
        return -1


def backbone(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("method.")}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_resumes_to_the_same_weights(tmp_path, sig):
    subprocess.run(command(tmp_path / "full"), check=True, capture_output=True)
    reference = backbone(tmp_path / "full" / "co_byol-fashion-mnist" / "last.ckpt")

    last = tmp_path / "killed" / "co_byol-fashion-mnist" / "last.ckpt"
    proc = subprocess.Popen(command(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while step_of(last) < STEPS_PER_EPOCH + 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed mid-epoch"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    killed_at = step_of(last)
    assert STEPS_PER_EPOCH < killed_at < 2 * STEPS_PER_EPOCH  # mid second epoch

    subprocess.run(command(tmp_path / "killed"), check=True, capture_output=True)  # same command again
    resumed = backbone(last)
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 2 * STEPS_PER_EPOCH
    assert resumed.keys() == reference.keys()
    for k in reference:
        torch.testing.assert_close(resumed[k], reference[k], rtol=0, atol=0, msg=f"{k} differs")

"""Pretraining runs killed with SIGKILL and restarted with the same command (tests/test_resume.py,
tests/test_soak.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from helpers import TINY_OVERRIDES

from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.standalone.run_folder import read_train_time, runs_under

ROOT = Path(__file__).resolve().parents[1]
# Lightning starts the other DDP ranks by re-running the command line, which `python -c` cannot be.
SCRIPT = Path(sys.executable).parent / "solo-coss-pretrain"
RUN = "co_byol-fashion-mnist"
# One thread per process, as Lightning gives each DDP rank on 2 cores: a 2-thread process on a shared
# 2-core machine spends most of its time in OpenMP barriers (8x slower measured).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def command(out: Path, devices: int, *overrides: str, every_n_steps: int = 1) -> list[str]:
    """A tiny resumable co_byol run on 480 Fashion-MNIST images, a step checkpoint every ``every_n_steps``."""
    tiny = [o for o in TINY_OVERRIDES if not o.startswith("data.fraction")]
    launcher = [str(SCRIPT)] if devices > 1 else [sys.executable, "-c",
                                                   "from solo_coss.hosts.cli import pretrain; pretrain()"]
    return [*launcher, "--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
            "co_byol.yaml", f"checkpoint.dir={out}", *tiny, "data.fraction=0.008", "knn_eval.enabled=false",
            f"checkpoint.every_n_steps={every_n_steps}", "accelerator=cpu", f"devices={devices}",
            f"+strategy={'ddp' if devices > 1 else 'auto'}", *overrides]


def last_ckpt(out: Path) -> Path:
    """The run's last.ckpt (through the ``latest`` link: it exists once the run has started)."""
    return out / RUN / "latest" / "last.ckpt"


def run_folders(out: Path) -> list[Path]:
    return runs_under(out / RUN)


def step_of(path: Path) -> int:
    """global_step of the checkpoint, -1 when there is none yet."""
    return safe_load(path)["global_step"] if path.is_file() else -1


def weights(path: Path) -> dict[str, torch.Tensor]:
    return safe_load(path)["state_dict"]


def run_to_end(cmd: list[str]) -> None:
    subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=900)


def kill_at(cmd: list[str], last: Path, step: int, delay: float = 0.0, sig: int = signal.SIGKILL,
            timeout: float = 600) -> int:
    """Start ``cmd``, send ``sig`` to its whole process group (every rank) ``delay`` s after ``last``
    reaches ``step``, wait for it to end; returns the step of the checkpoint it left behind."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline, seen = time.time() + timeout, None
    try:
        while proc.poll() is None and time.time() < deadline:
            stamp = last.stat().st_mtime_ns if last.is_file() else None
            if stamp != seen:
                seen = stamp
                if step_of(last) >= step:
                    break
            time.sleep(0.05)
        time.sleep(delay)
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before step {step}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
    return step_of(last)


def assert_one_run_resumed(out: Path, launches: int) -> None:
    """Every restart continued the one run folder: one train_time.json part per launch, seconds summed."""
    assert len(run_folders(out)) == 1
    record = read_train_time(run_folders(out)[0])
    assert len(record["parts"]) == launches and record["finished"]
    # a launch killed by SIGKILL had no last word: the next one marked it (issue #30)
    statuses = [p["status"] for p in record["parts"]]
    assert "running" not in statuses and statuses[-1] == "finished"
    assert record["seconds"] == sum(p["seconds"] for p in record["parts"])


def assert_same_weights(resumed: dict, reference: dict) -> float:
    """Bit-identical state dicts; returns the largest absolute difference (0.0)."""
    assert resumed.keys() == reference.keys()
    for k in reference:
        torch.testing.assert_close(resumed[k], reference[k], rtol=0, atol=0, msg=f"{k} differs")
    return max(
        float((resumed[k].double() - reference[k].double()).abs().max()) if reference[k].numel() else 0.0
        for k in reference
    )

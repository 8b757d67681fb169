"""A run killed mid-epoch (SIGKILL or SIGTERM) and restarted ends with the uninterrupted run's weights,
with one process and with two DDP processes (gloo) accumulating gradients over two batches."""

import signal
from pathlib import Path

import killing
import pytest
from killing import SCRIPT, assert_same_weights, command, kill_at, last_ckpt, run_to_end, step_of, weights

from solo_coss.hosts.safe_load import safe_load

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                                 reason="dataset-fashion-mnist missing")]
STEPS_PER_EPOCH = 15  # 480 images (fraction 0.008), batch 32, drop_last


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_resumes_to_the_same_weights(tmp_path, sig):
    run_to_end(command(tmp_path / "full", 1, "max_epochs=2", every_n_steps=2))
    reference = weights(last_ckpt(tmp_path / "full"))

    cmd = command(tmp_path / "killed", 1, "max_epochs=2", every_n_steps=2)
    killed_at = kill_at(cmd, last_ckpt(tmp_path / "killed"), STEPS_PER_EPOCH + 2, sig=sig)
    assert STEPS_PER_EPOCH < killed_at < 2 * STEPS_PER_EPOCH  # mid second epoch

    run_to_end(cmd)  # the same command again
    assert step_of(last_ckpt(tmp_path / "killed")) == 2 * STEPS_PER_EPOCH
    assert_same_weights(weights(last_ckpt(tmp_path / "killed")), reference)
    killing.assert_one_run_resumed(tmp_path / "killed", launches=2)


@pytest.mark.skipif(not SCRIPT.is_file(), reason=f"{SCRIPT} not installed (pip install -e .)")
def test_ddp_run_killed_mid_epoch_with_accumulation_resumes_exactly(tmp_path):
    # 2 ranks x 240 images, batch 32: 7 batches per epoch and rank; accumulating 2 -> 4 optimizer steps
    steps_per_epoch, epochs = 4, 3
    args = ("max_epochs=3", "+accumulate_grad_batches=2")
    run_to_end(command(tmp_path / "full", 2, *args))
    assert step_of(last_ckpt(tmp_path / "full")) == epochs * steps_per_epoch
    reference = weights(last_ckpt(tmp_path / "full"))

    cmd = command(tmp_path / "killed", 2, *args)
    killed_at = kill_at(cmd, last_ckpt(tmp_path / "killed"), steps_per_epoch + 1)
    assert killed_at % steps_per_epoch and killed_at < epochs * steps_per_epoch, f"killed at step {killed_at}"
    # the resumed ranks skip (killed_at mod 4) x 2 batches x 32 images of their own share of the epoch
    run_to_end(cmd)
    resumed = safe_load(last_ckpt(tmp_path / "killed"))
    assert (resumed["global_step"], resumed["epoch"]) == (epochs * steps_per_epoch, epochs - 1)
    assert_same_weights(resumed["state_dict"], reference)
    killing.assert_one_run_resumed(tmp_path / "killed", launches=2)

"""Soak: a pretraining run SIGKILLed at 5 random steps, restarted with the same command after each kill,
ends bit-identical to the uninterrupted run, with 1 process and with 2 DDP processes (gloo).

The steps are drawn one per fifth of the run, and each kill lands a random 0-0.3 s after that step's
checkpoint appeared (mid-step, mid-validation or mid-write). SOAK_SEED=<int> replays a draw.
"""

import os
import random
import time
from pathlib import Path

import killing
import pytest
from killing import SCRIPT, assert_same_weights, command, kill_at, last_ckpt, run_to_end, step_of, weights

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                                 reason="dataset-fashion-mnist missing")]
KILLS = 5


@pytest.mark.parametrize(
    "devices,epochs,steps_per_epoch", [(1, 2, 15), (2, 3, 7)], ids=["1-process", "2-ddp"]
)
def test_five_kills_end_bit_identical(tmp_path, devices, epochs, steps_per_epoch):
    if devices > 1 and not SCRIPT.is_file():
        pytest.skip(f"{SCRIPT} not installed (pip install -e .)")
    seed = int(os.environ.get("SOAK_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    total = epochs * steps_per_epoch
    run_to_end(command(tmp_path / "full", devices, f"max_epochs={epochs}"))
    reference = weights(last_ckpt(tmp_path / "full"))

    start = time.perf_counter()
    cmd, last = command(tmp_path / "killed", devices, f"max_epochs={epochs}"), last_ckpt(tmp_path / "killed")
    # one kill per fifth of steps 1 .. total - 4: a kill lands up to ~2 steps after its target
    bounds = [1 + (total - 4) * i // KILLS for i in range(KILLS + 1)]
    killed = []
    for lo, hi in zip(bounds, bounds[1:]):
        target = max(rng.randrange(lo, hi), killed[-1] + 1 if killed else 1)
        assert target < total, f"SOAK_SEED={seed}: no step left to kill at after {killed}"
        killed.append(kill_at(cmd, last, target, delay=rng.uniform(0.0, 0.3)))
    run_to_end(cmd)
    seconds = time.perf_counter() - start

    where = f"SOAK_SEED={seed}, killed at steps {killed}"
    assert len(set(killed)) == KILLS and all(0 < k < total for k in killed), where
    assert step_of(last) == total, where
    assert [p.name for p in last.parent.glob("last*.ckpt")] == ["last.ckpt"]  # no last-vN.ckpt per restart
    killing.assert_one_run_resumed(tmp_path / "killed", launches=KILLS + 1)
    diff = assert_same_weights(weights(last), reference)
    print(f"\nsoak {devices} process(es), SOAK_SEED={seed}: killed at steps {killed} of {total}, "
          f"max |weight difference| {diff}, {seconds:.0f} s for the 6 killed/resumed runs")

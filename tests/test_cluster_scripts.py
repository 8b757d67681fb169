"""The SLURM and torchrun launch scripts size their jobs from the config, as the lr scaling counts them
(the scripts print what they would submit / run with DRY_RUN=1; the 2-node run itself: test_multinode.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "DRY_RUN": "1",
    "SOLO_COSS_BIN": str(Path(sys.executable).parent),
    "PYTHONPATH": str(ROOT),
}


def dry_run(script: str, *args: str, dataset: str = "imagenet", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts/pretrain" / script), dataset, "co_byol", *args],
                          env={**ENV, **env}, capture_output=True, text=True, timeout=400)


@pytest.mark.slow  # the printed jobs of docs/scaling.md: tests/test_docs_commands.py, default suite
def test_slurm_job_has_the_configs_nodes_and_gpus():
    job = dry_run("slurm.sh", "+num_nodes=4", "data.train_path=/data/image net")
    assert job.returncode == 0, job.stderr
    lines = job.stdout.splitlines()
    for line in (
        "#SBATCH --nodes=4",
        "#SBATCH --ntasks-per-node=2",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --cpus-per-task=4",
    ):
        assert line in lines  # imagenet/co_byol.yaml: devices [0, 1], data.num_workers 4
    assert lines[-1].startswith("srun ") and lines[-1].endswith(
        "solo-coss-pretrain --config-path scripts/pretrain/imagenet --config-name co_byol.yaml +num_nodes=4 "
        "data.train_path=/data/image\\ net")


@pytest.mark.slow
def test_torchrun_command_has_the_configs_shape():
    run = dry_run("torchrun.sh", "+num_nodes=2", MASTER_ADDR="node0", NODE_RANK="1")
    assert run.returncode == 0, run.stderr
    assert (
        "torchrun --nnodes=2 --nproc-per-node=2 --node-rank=1 --master-addr=node0 --master-port=29500 "
        in run.stdout
    )
    assert dry_run("torchrun.sh", MASTER_ADDR="node0").returncode != 0  # NODE_RANK is required


@pytest.mark.slow  # each dry run imports Lightning in a fresh process (~6 s of CPU)
def test_an_ambiguous_device_count_is_refused():
    run = dry_run("slurm.sh", "devices=auto")
    assert run.returncode != 0 and "devices='auto'" in run.stderr and "#SBATCH" not in run.stdout


def test_a_bad_override_stops_the_launch_with_one_line():
    """issue #30, case 2: a Hydra error is the launcher's one line, not a traceback."""
    run = dry_run("slurm.sh", "optimizer.lrr=1")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == ("slurm.sh: error: Could not override 'optimizer.lrr'. To append to your "
                                  "config use +optimizer.lrr=1")


def test_the_launch_shape_resolves_the_config_first(capsys):
    """What cluster_shape.sh reads (torchrun.sh and slurm.sh both source it); a bad value is one line."""
    from solo_coss.hosts.launch_shape import main

    config = ["--config-path", str(ROOT / "scripts/pretrain/imagenet"), "--config-name", "co_byol.yaml"]
    main([*config, "+num_nodes=3"])
    assert capsys.readouterr().out == "3 2 4 gpu\n"
    with pytest.raises(SystemExit) as err:
        main([*config, "--prog", "torchrun.sh", "optimizer.lr=abc"])
    assert str(err.value) == "torchrun.sh: error: optimizer.lr='abc' is not valid; give a number"


def test_a_cpu_config_asks_for_no_gpu():
    """issue #30, case 7: fashion-mnist/co_byol.yaml trains on accelerator: cpu."""
    job = dry_run("slurm.sh", dataset="fashion-mnist")
    assert job.returncode == 0, job.stderr
    assert not [line for line in job.stdout.splitlines() if "gpu" in line]
    assert "#SBATCH --ntasks-per-node=1" in job.stdout and "#SBATCH --cpus-per-task=2" in job.stdout


@pytest.mark.parametrize(
    ("nodes", "accumulate", "batch", "lr"), [(1, 16, 2048, 3.6), (4, 16, 8192, 14.4), (4, 4, 2048, 3.6)]
)
def test_the_scaling_out_numbers_of_the_readme(nodes, accumulate, batch, lr):
    cfg = resolve_pretrain_config(
        load_config(
            str(ROOT / "scripts/pretrain/imagenet"),
            "co_byol.yaml",
            [
                f"+num_nodes={nodes}",
                f"accumulate_grad_batches={accumulate}",
                "data.train_path=/x",
                "data.val_path=/x",
            ],
        )
    )
    opt = cfg["optimizer"]
    assert opt["batch_size"] * len(cfg["devices"]) * nodes * accumulate == batch
    assert opt["lr"] * accumulate == pytest.approx(lr)  # the module multiplies the scaled lr by accumulation

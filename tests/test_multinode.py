"""Two nodes x one process on localhost (gloo), through Lightning's own multi-node support: its environment
variables (MASTER_ADDR / MASTER_PORT / NODE_RANK, what a cluster without SLURM sets) and torchrun. Checks what
a solo-learn user relies on: lr scaled by num_nodes, the data split over the ranks without overlap, and one
model on every node."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES

from solo_coss.hosts.safe_load import safe_load

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")
TORCHRUN = Path(sys.executable).parent / "torchrun"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FMNIST.is_dir(), reason="dataset-fashion-mnist not installed"),
]
IMAGES, BATCH, NODES = 480, 32, 2  # data.fraction=0.008 of the 60k training images


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_commands(launcher: str, runs: Path, port: int) -> list[tuple[list[str], dict]]:
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("data.fraction")]
    args = [
        "--config-path",
        str(ROOT / "scripts/pretrain/fashion-mnist"),
        "--config-name",
        "co_byol.yaml",
        f"checkpoint.dir={runs}",
        "max_epochs=1",
        f"data.fraction={IMAGES / 60000}",
        "+data.augment_on=sample",
        "accelerator=cpu",
        "devices=1",
        f"+num_nodes={NODES}",
        "+strategy=ddp",
        "knn_eval.enabled=false",
        *overrides,
    ]
    driver = str(ROOT / "tests/multinode_driver.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    commands = []
    for node in range(NODES):
        if launcher == "lightning":
            cmd = [sys.executable, driver, *args]
            node_env = {**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "NODE_RANK": str(node)}
        else:
            cmd = [str(TORCHRUN), f"--nnodes={NODES}", "--nproc-per-node=1", f"--node-rank={node}",
                   "--master-addr=127.0.0.1", f"--master-port={port}", driver, *args]
            node_env = env
        commands.append((cmd, node_env))
    return commands


@pytest.mark.parametrize("launcher", ["lightning", "torchrun"])
def test_two_nodes_scale_lr_split_data_and_agree(tmp_path, launcher):
    if launcher == "torchrun" and not TORCHRUN.is_file():
        pytest.skip(f"{TORCHRUN} not installed")
    runs, tap = tmp_path / "runs", tmp_path / "tap"
    tap.mkdir()
    port = free_port()
    nodes = [
        subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env={**env, "TAP_DIR": str(tap)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for cmd, env in node_commands(launcher, runs, port)
    ]
    outputs = [node.communicate(timeout=900)[0] for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]

    run = (runs / "co_byol-fashion-mnist" / "latest").resolve()
    # node 1 wrote nothing
    assert sorted(p.name for p in run.parent.iterdir()) == sorted([run.name, "latest"])
    # issue #30, case 6: node 1 names no folder (its own id would never exist), node 0 names the one that does
    # and how many processes the lr scaling counted; no sync_dist warning (the logged values are synced)
    assert "new run" not in outputs[1] and "run folder" not in outputs[1], outputs[1][-3000:]
    assert f"new run {run}" in outputs[0] and f"run folder: {run}" in outputs[0]
    assert "x batch_size 32 x 2 process(es) (devices 1 x num_nodes 2) / 256 = 0.025" in outputs[0]
    assert "sync_dist" not in "".join(outputs)
    cfg = json.loads((run / "config.json").read_text())
    scaled = 0.1 * BATCH * 1 * NODES / 256  # solo-learn: lr x batch_size x len(devices) x num_nodes / 256
    assert cfg["num_nodes"] == NODES and cfg["optimizer"]["lr"] == pytest.approx(scaled)
    ckpt = safe_load(run / "last.ckpt")
    # what the optimizer was given: every group at the scaled lr, the online classifier at classifier_lr 0.2,
    # scaled
    given = sorted(group["initial_lr"] for group in ckpt["optimizer_states"][0]["param_groups"])
    assert given == pytest.approx([scaled] * (len(given) - 1) + [0.2 * BATCH * NODES / 256])

    seen = [json.loads((tap / f"seen-{rank}.json").read_text()) for rank in range(NODES)]
    steps = IMAGES // NODES // BATCH
    assert ckpt["global_step"] == steps  # each node trained on its half: 7 steps, not 15
    assert [len(s) for s in seen] == [steps * BATCH] * NODES and all(len(set(s)) == len(s) for s in seen)
    assert not set(seen[0]) & set(seen[1])  # no image on both nodes

    weights = [torch.load(tap / f"weights-{rank}.pt", weights_only=True) for rank in range(NODES)]
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 50
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name  # one model: DDP kept the ranks in step
        torch.testing.assert_close(value, ckpt["state_dict"][name], rtol=0, atol=0)
    shutil.rmtree(tap)

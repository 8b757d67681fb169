"""NaN guard, atomic checkpoints, bad input through the CLI: each a line, no traceback."""

import csv
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run
from PIL import Image

from solo_coss.hosts import cli
from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO, load_backbone
from solo_coss.hosts.standalone.run_folder import read_train_time, runs_under
from solo_coss.methods.base import SSLMethod

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "scripts/pretrain/fashion-mnist")
TINY = TINY_OVERRIDES
needs_fmnist = pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                                  reason="dataset-fashion-mnist missing")


def poison(monkeypatch, call: int) -> None:
    """The ``call``-th training loss of the process becomes NaN."""
    real, calls = SSLMethod.training_loss, {"n": 0}

    def poisoned(self, views, epoch=0):
        out = real(self, views, epoch)
        calls["n"] += 1
        if calls["n"] == call:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(SSLMethod, "training_loss", poisoned)


@pytest.mark.slow
@needs_fmnist
def test_nan_loss_is_one_line_naming_the_kept_checkpoint_and_the_run_resumes_with_its_history(
    tmp_path, monkeypatch
):
    args = ["--config-path", CONFIGS, "--config-name", "co_byol.yaml", f"checkpoint.dir={tmp_path}", *TINY,
            "max_epochs=2", "log_every_n_steps=1"]
    steps = 7  # per epoch: 240 images (fraction 0.004), batch 32, drop_last
    poison(monkeypatch, steps + 3)  # the third step of the second epoch
    with pytest.raises(SystemExit) as err:
        cli.pretrain(args)
    run = latest_run(tmp_path, "co_byol-fashion-mnist")
    message = str(err.value)
    assert "\n" not in message and message.startswith("solo-coss-pretrain: error: non-finite ['train/loss']")
    assert f"at step {steps + 2} (epoch 1); last finite values: {{'train/loss': " in message
    assert f"The last checkpoint, {run / 'last.ckpt'}, predates it and was kept" in message
    assert safe_load(run / "last.ckpt")["global_step"] == steps
    backbone, _ = load_backbone(run / "last.ckpt")
    assert all(torch.isfinite(p).all() for p in backbone.state_dict().values())

    monkeypatch.undo()
    cli.pretrain(args)  # the same command continues that run from its last.ckpt
    assert runs_under(tmp_path / "co_byol-fashion-mnist") == [run]
    record = read_train_time(run)
    assert [(p["status"], p["from_step"], p["to_step"]) for p in record["parts"]] == [
        ("stopped (NonFiniteLossError)", 0, steps + 2), ("finished", steps, 2 * steps)]
    assert record["finished"] and record["global_step"] == 2 * steps
    assert (
        record["seconds"] == sum(p["seconds"] for p in record["parts"])
        and min(p["seconds"] for p in record["parts"]) > 0
    )
    with open(run / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    # every step logged once (the stopped launch's rows after the checkpoint were dropped), both epochs'
    # probes
    assert sorted(int(r["step"]) for r in rows if r["train/loss_step"]) == list(range(2 * steps))
    assert [r["epoch"] for r in rows if r["val/online_linear_acc"]] == ["0", "1"]


@pytest.mark.slow
@needs_fmnist
def test_nan_loss_before_any_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    poison(monkeypatch, 2)
    with pytest.raises(SystemExit) as err:
        cli.pretrain(
            [
                "--config-path",
                CONFIGS,
                "--config-name",
                "co_byol.yaml",
                f"checkpoint.dir={tmp_path}",
                *TINY,
                "max_epochs=1",
            ]
        )
    message = str(err.value)
    assert "\n" not in message and "at step 1 (epoch 0)" in message
    assert "No checkpoint of this run was written before it" in message and "kept" not in message
    assert not (latest_run(tmp_path, "co_byol-fashion-mnist") / "last.ckpt").exists()


def test_atomic_checkpoint_keeps_previous_file_on_failed_write(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, target)
    assert torch.load(target, weights_only=False) == {"step": 1}

    def dies_midway(obj, path, *a, **k):
        Path(path).write_bytes(b"trunc")  # a partial write, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=False) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.parametrize("override,expected", [
    ("method=byool", "method='byool' is not valid; choose from"),
    ("backbone.name=rf30", "backbone.name='rf30' is not valid; choose from"),
    ("data.dataset=mnist", "data.dataset='mnist' is not valid; choose from"),
    ("+optimizer.lrr=1", "unknown key(s) ['lrr'] in optimizer"),
])
def test_bad_input_is_one_line_naming_the_choice(tmp_path, override, expected):
    with pytest.raises(SystemExit) as err:
        cli.pretrain(["--config-path", CONFIGS, "--config-name", "byol.yaml", f"checkpoint.dir={tmp_path}",
                      *TINY, override])
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_co_key_typo_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SystemExit) as err:
        cli.pretrain(["--config-path", CONFIGS, "--config-name", "co_byol.yaml", f"checkpoint.dir={tmp_path}",
                      *TINY, "+method_kwargs.co.wieght=1"])
    assert "unknown key(s) ['wieght'] in method_kwargs.co; valid keys: [" in str(err.value)
    assert "\n" not in str(err.value) and list(tmp_path.iterdir()) == []


@needs_fmnist
def test_a_wrong_fashion_mnist_path_is_named_as_a_wrong_path(tmp_path):
    with pytest.raises(SystemExit) as err:
        cli.pretrain(
            [
                "--config-path",
                CONFIGS,
                "--config-name",
                "byol.yaml",
                f"checkpoint.dir={tmp_path}",
                *TINY,
                "data.train_path=/nonexistent/fmnist",
            ]
        )
    message = str(err.value)
    assert message == ("solo-coss-pretrain: error: data.train_path='/nonexistent/fmnist' is not valid; no "
                       "such folder: fix the path, or remove it to read the installed Fashion-MNIST in "
                       "/usr/share/datasets/fashion-mnist")
    assert "apt-get" not in message and "\n" not in message and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("override,expected", [
    ("knn.k=[0]", "knn.k=0 is not valid; give a positive integer (the number of neighbours)"),
    ("knn.k=[-5]", "knn.k=-5 is not valid"),
    ("knn.k=[2.5]", "knn.k=2.5 is not valid"),
    ("knn.T=[0]", "knn.T=0 is not valid; give a positive number (the temperature)"),
    ("knn.distance_func=[manhattan]", "knn.distance_func='manhattan' is not valid; choose from"),
])
def test_bad_knn_k_or_t_is_one_line_before_any_work(tmp_path, override, expected):
    # the checkpoint does not exist: the kNN block is checked before it is read
    with pytest.raises(SystemExit) as err:
        cli.knn(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "knn.yaml",
                 f"pretrained_feature_extractor={tmp_path / 'missing.ckpt'}", override])
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_a_one_class_training_folder_is_warned_about(tmp_path):
    (tmp_path / "data" / "only").mkdir(parents=True)
    for i in range(16):
        Image.new("RGB", (24, 24), (40 + 10 * i, 80, 120)).save(tmp_path / "data" / "only" / f"{i}.png")
    with pytest.warns(
        UserWarning,
        match=r"data.train_path=.*data holds a single class folder: the online linear "
        r"probe and kNN have one label to predict and report 100%",
    ):
        cli.pretrain(
            [
                "--config-path",
                CONFIGS,
                "--config-name",
                "byol.yaml",
                f"checkpoint.dir={tmp_path / 'runs'}",
                *TINY,
                "data.dataset=custom",
                f"data.train_path={tmp_path / 'data'}",
                "data.val_path=null",
                "data.fraction=-1",
                "optimizer.batch_size=8",
                "max_epochs=1",
                "knn_eval.enabled=false",
            ]
        )

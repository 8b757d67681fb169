"""NaN guard, atomic checkpoints, bad input through the CLI."""

from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES

from solo_coss.hosts import cli
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO, load_backbone
from solo_coss.hosts.standalone.module import NonFiniteLossError
from solo_coss.methods.base import SSLMethod

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "scripts/pretrain/fashion-mnist")
TINY = TINY_OVERRIDES
needs_fmnist = pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                                  reason="dataset-fashion-mnist missing")


@needs_fmnist
def test_nan_loss_stops_with_step_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    args = ["--config-path", CONFIGS, "--config-name", "co_byol.yaml", f"checkpoint.dir={tmp_path}", *TINY]
    cli.pretrain([*args, "max_epochs=1"])
    last = tmp_path / "co_byol-fashion-mnist" / "last.ckpt"
    before = torch.load(last, map_location="cpu", weights_only=False)

    real = SSLMethod.training_loss
    calls = {"n": 0}

    def poisoned(self, views, epoch=0):
        out = real(self, views, epoch)
        calls["n"] += 1
        if calls["n"] == 3:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(SSLMethod, "training_loss", poisoned)
    with pytest.raises(NonFiniteLossError) as err:
        cli.pretrain([*args, "max_epochs=2"])  # resumes from last.ckpt, then hits NaN at its 3rd step
    message = str(err.value)
    assert f"at step {before['global_step'] + 2}" in message and "last finite values" in message
    assert "train/loss" in message
    after = torch.load(last, map_location="cpu", weights_only=False)
    assert after["global_step"] == before["global_step"]
    backbone, _ = load_backbone(last)
    assert all(torch.isfinite(p).all() for p in backbone.state_dict().values())


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
    ("method=byool", "unknown method 'byool'; choose from"),
    ("backbone.name=rf30", "unknown backbone 'rf30'; choose from"),
    ("data.dataset=mnist", "unknown dataset 'mnist'"),
    ("+optimizer.lrr=1", "unknown key(s) ['lrr'] in optimizer"),
    ("data.train_path=/nonexistent/fmnist", "/nonexistent/fmnist"),
])
def test_bad_input_is_one_line_naming_the_choice(tmp_path, override, expected):
    with pytest.raises(SystemExit) as err:
        cli.pretrain(["--config-path", CONFIGS, "--config-name", "byol.yaml", f"checkpoint.dir={tmp_path}",
                      *TINY, override])
    assert expected in str(err.value) and "\n" not in str(err.value)

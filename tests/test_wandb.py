"""wandb and auto_umap as solo-learn users run them, offline: no account, no network. The run's .wandb file
is read back (its record log: wandb's LevelDB-style framing of protobuf records) and compared with
logs/metrics.csv."""

import json
import struct
from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES

from solo_coss.experiments.compare_plots import read_metrics
from solo_coss.hosts import cli

wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
ROOT = Path(__file__).resolve().parents[1]
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
pytestmark = pytest.mark.skipif(not Path(FMNIST).is_file(), reason="dataset-fashion-mnist not installed")
BLOCK, HEADER = 32768, 7  # record-log block size; file and record header sizes


def wandb_records(path: Path):
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb record log"
    pos, payload = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        if left < HEADER or (length, kind) == (0, 0):  # block trailer / padding
            pos += left
            continue
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        payload = chunk if kind in (1, 2) else payload + chunk  # FULL, FIRST start; MIDDLE, LAST continue
        if kind in (1, 4):
            record = wandb_pb.Record()
            record.ParseFromString(payload)
            yield record


def args(tmp_path, *extra, epochs=1):
    return [
        "--config-path",
        str(ROOT / "scripts/pretrain/fashion-mnist"),
        "--config-name",
        "co_byol.yaml",
        f"checkpoint.dir={tmp_path}",
        f"max_epochs={epochs}",
        "log_every_n_steps=1",
        *TINY_OVERRIDES,
        *extra,
    ]


@pytest.mark.slow  # 2 tiny epochs, wandb's service and UMAP's first compilation: about 50 s of CPU
def test_offline_run_writes_the_logged_losses_and_umaps(tmp_path, monkeypatch, capsys):
    pytest.importorskip("umap")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "")  # no account
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    cli.pretrain(args(tmp_path, "+wandb.enabled=true", "+wandb.offline=true", "+wandb.project=co-tests",
                      "+wandb.tags=[tiny,co]", "+auto_umap.enabled=true", "+auto_umap.frequency=2", epochs=2))
    import wandb

    wandb.teardown()  # what the process's exit does: wandb's service finishes writing the run's files
    run = (tmp_path / "co_byol-fashion-mnist" / "latest").resolve()
    logs = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 1, list((run / "wandb").iterdir())
    history, runs, config = [], [], {}
    for record in wandb_records(logs[0]):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            )
        elif kind == "run":
            runs.append(record.run)
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in record.config.update})
    assert runs and runs[0].display_name == "co_byol-fashion-mnist" and runs[0].project == "co-tests"
    assert list(runs[0].tags) == ["tiny", "co"]
    # the resolved config at the top level, as solo-learn logs it (lr scaled by batch 32 / 256)
    assert config["method"] == "co_byol" and config["optimizer"]["lr"] == pytest.approx(0.1 / 8)

    csv = read_metrics(run)
    for key in ("train/loss_step", "train/local_loss_step", "train/global_loss_step"):
        logged = [(h["trainer/global_step"], h[key]) for h in history if key in h]
        assert len(logged) == len(csv[key]) == 14  # one per step: 2 epochs of 240 images / batch 32
        for (step_w, value_w), (step_c, value_c) in zip(logged, csv[key]):
            assert step_w == step_c and value_w == pytest.approx(value_c, rel=1e-6)
    assert all(v > 0 for _, v in csv["train/local_loss_step"])

    # auto_umap (issue #30, case 1): epochs 0, 2, 4, ... (frequency 2) into RUN/auto_umap/, said in one line,
    # nothing in the current directory; and to wandb as solo-learn
    assert sorted(p.name for p in (run / "auto_umap").iterdir()) == ["co_byol-fashion-mnist-ep=0.png"]
    png = run / "auto_umap" / "co_byol-fashion-mnist-ep=0.png"
    assert f"auto_umap: epoch 0's validation UMAP written to {png}" in capsys.readouterr().out
    assert list((tmp_path / "cwd").iterdir()) == []
    images = [h for h in history if "validation_umap/_type" in h]
    assert len(images) == 1 and images[0]["validation_umap/_type"] == "images/separated"
    assert images[0]["validation_umap/count"] == 1 and images[0]["trainer/global_step"] == 7
    assert (logs[0].parent / "files" / images[0]["validation_umap/filenames"][0]).is_file()


def test_failed_wandb_setup_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc: online mode has no key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "home" / "wandb"))
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as exit_info:
        cli.pretrain(args(runs, "+wandb.enabled=true"))
    message = str(exit_info.value.code)
    assert (
        message.startswith("solo-coss-pretrain: error: wandb setup failed")
        and "wandb.offline=true" in message
    )
    assert not runs.exists()


def test_bad_wandb_tags_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="wandb.tags"):
        cli.pretrain(
            args(tmp_path / "runs", "+wandb.enabled=true", "+wandb.offline=true", "+wandb.tags=oops")
        )
    assert not (tmp_path / "runs").exists()

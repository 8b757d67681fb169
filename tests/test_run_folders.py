"""Run folders: every run its own folder, auto_resume only into the same config (solo-learn's SHOULD_MATCH and
ours), history kept across resumes, linear runs in their own folder, nothing written elsewhere."""

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run
from PIL import Image

from solo_coss.hosts import cli
from solo_coss.hosts.pretrained import RUN_ID, checkpoint_of, run_label
from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.standalone.run_folder import (
    HistoryCSVLogger,
    choose_run,
    differences,
    open_run,
    point_latest,
    read_train_time,
    runs_under,
)

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name", "co_byol.yaml"]
NAME = "co_byol-fashion-mnist"
CFG = {
    "name": "run",
    "method": "co_byol",
    "max_epochs": 2,
    "seed": 5,
    "optimizer": {"name": "sgd", "lr": 0.05},
    "data": {"dataset": "fashion_mnist", "num_workers": 2},
}
RESUME = {"enabled": True, "max_hours": 36}


def earlier_run(base: Path, cfg: dict, checkpoint: bool = True, finished: bool = False) -> Path:
    run = choose_run(base, cfg, {"enabled": False}, None)
    open_run(run, cfg)
    if checkpoint:
        torch.save({"global_step": 0}, run.path / "last.ckpt")
        point_latest(run.path)  # what the first checkpoint's save does
    if finished:
        (run.path / "train_time.json").write_text(json.dumps({"seconds": 3.0, "finished": True, "parts": []}))
    return run.path


def test_run_ids_sort_in_start_order_within_one_second_and_are_never_reused(tmp_path):
    started = []
    for _ in range(6):
        started.append(earlier_run(tmp_path, CFG))
    assert len(set(started)) == 6 and runs_under(tmp_path) == started
    assert RUN_ID.match(started[0].name) and run_label(started[0]) == tmp_path.name


def test_auto_resume_continues_only_a_run_of_the_same_identifying_keys(tmp_path):
    first = earlier_run(tmp_path, CFG)
    assert (tmp_path / "latest").resolve() == first and json.loads((first / "config.json").read_text()) == CFG

    same = choose_run(tmp_path, {**CFG, "data": {**CFG["data"], "num_workers": 0}}, RESUME, None)
    assert (same.path, same.resume_from) == (first, str(first / "last.ckpt"))
    assert same.changed == ["data.num_workers"] and "auto_resume: continuing" in same.note

    for key, value in (("optimizer", {"name": "sgd", "lr": 500000.0}), ("max_epochs", 3), ("seed", 6),
                       ("data", {"dataset": "custom", "num_workers": 2})):
        other = choose_run(tmp_path, {**CFG, key: value}, RESUME, None)
        assert other.path.parent == tmp_path and other.path != first and other.resume_from is None
        assert f"{first.name} has {key}" in other.note, other.note
    assert (
        "optimizer.lr: 0.05 -> 500000.0"
        in choose_run(tmp_path, {**CFG, "optimizer": {"name": "sgd", "lr": 5e5}}, RESUME, None).note
    )

    assert choose_run(tmp_path, CFG, {"enabled": False}, None).path != first  # no auto_resume: a new run
    old = time.time() - 40 * 3600
    os.utime(first / "last.ckpt", (old, old))
    stale = choose_run(tmp_path, CFG, RESUME, None)
    assert stale.path != first and "last.ckpt is 40.0 h old (auto_resume.max_hours=36)" in stale.note


def test_finished_runs_and_explicit_resumes(tmp_path):
    first = earlier_run(tmp_path, CFG, finished=True)
    done = choose_run(tmp_path, CFG, RESUME, None)
    assert done.finished and done.path == first and "already finished" in done.note

    own = choose_run(tmp_path, CFG, {"enabled": False}, str(tmp_path / "latest" / "last.ckpt"))
    assert (own.path, own.resume_from) == (first, str(first / "last.ckpt"))  # its own run: continued there
    longer = choose_run(tmp_path, {**CFG, "max_epochs": 4}, RESUME, str(first / "last.ckpt"))
    assert longer.path != first and longer.resume_from == str(first / "last.ckpt")
    assert "max_epochs: 2 -> 4" in longer.note
    with pytest.raises(FileNotFoundError, match="resume_from_checkpoint='nope.ckpt' does not exist"):
        choose_run(tmp_path, CFG, RESUME, "nope.ckpt")


def test_identifying_keys_include_solo_learns_should_match():
    assert differences(CFG, {**CFG, "wandb": {"project": "x"}}) == ['wandb.project: null -> "x"']
    assert differences(CFG, {**CFG, "pretrained_feature_extractor": "a.ckpt"}) == [
        'pretrained_feature_extractor: null -> "a.ckpt"']
    assert differences(CFG, {**CFG, "devices": 2, "precision": 32}) == []


def test_a_name_folder_designates_its_latest_run(tmp_path):
    first, second = earlier_run(tmp_path / NAME, CFG), earlier_run(tmp_path / NAME, CFG)
    assert runs_under(tmp_path / NAME) == [first, second]
    assert checkpoint_of(tmp_path / NAME) == second / "last.ckpt"
    assert (
        run_label(second) == run_label(tmp_path / NAME / "latest") == run_label(second / "last.ckpt") == NAME
    )
    assert run_label(tmp_path / NAME) == NAME


def test_the_csv_logger_appends_across_launches(tmp_path):
    for launch, metrics in enumerate(({"a": 1.0}, {"a": 2.0, "b": 3.0})):
        logger = HistoryCSVLogger(str(tmp_path), name="logs", version="")
        logger.log_metrics(metrics, step=launch)
        logger.save()
    lines = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    assert lines == ["a,b,step", "1.0,,0", "2.0,3.0,1"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_another_config_in_the_same_checkpoint_dir_leaves_the_first_run_unchanged(tiny_run, tmp_path, capsys):
    out, run = tiny_run.parents[1], tiny_run
    files = ("last.ckpt", "config.json", "train_time.json", "logs/metrics.csv")
    before = {f: sha(run / f) for f in files}
    # the case: 2 classes of a custom folder
    for c, colour in enumerate(((220, 30, 30), (30, 30, 220))):
        (tmp_path / "data" / f"class{c}").mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (20, 20), colour).save(tmp_path / "data" / f"class{c}" / f"{i}.png")
    capsys.readouterr()
    cli.pretrain(
        [
            *PRETRAIN,
            f"checkpoint.dir={out}",
            *TINY_OVERRIDES,
            "max_epochs=1",
            "data.dataset=custom",
            f"data.train_path={tmp_path / 'data'}",
            f"data.val_path={tmp_path / 'data'}",
            "data.fraction=-1",
            "data.val_fraction=-1",
            "optimizer.batch_size=8",
        ]
    )
    printed = capsys.readouterr().out
    second = latest_run(out, NAME)
    assert second != run and second.parent == run.parent
    assert f"{run.name} has data.dataset: \"fashion_mnist\" -> \"custom\"" in printed
    assert f"run folder: {second}" in printed
    assert {f: sha(run / f) for f in files} == before  # checkpoint, config, history and metrics untouched
    assert json.loads((second / "config.json").read_text())["data"]["num_classes"] == 2
    assert tuple(safe_load(second / "last.ckpt")["state_dict"]["classifier.weight"].shape) == (2, 64)
    assert read_train_time(second)["finished"] and read_train_time(run)["finished"]


@pytest.mark.slow
def test_linear_runs_get_their_own_folders_beside_the_checkpoint_and_nothing_else(tiny_run, tmp_path,
                                                                                    monkeypatch):
    run = tiny_run
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    results = []
    for epochs in (1, 2):
        results.append(
            cli.invoke(
                "linear",
                [
                    "--config-path",
                    str(ROOT / "scripts/linear/fashion-mnist"),
                    "--config-name",
                    "linear.yaml",
                    f"pretrained_feature_extractor={run}",
                    "data.fraction=0.01",
                    "data.val_fraction=0.02",
                    "data.num_workers=0",
                    f"max_epochs={epochs}",
                    "+enable_progress_bar=false",
                ],
            )
        )
    assert list((tmp_path / "cwd").iterdir()) == []  # nothing written in the current directory
    folders = runs_under(run / "linear-fashion-mnist")
    assert len(folders) == 2 and [
        json.loads((f / "config.json").read_text())["max_epochs"] for f in folders
    ] == [1, 2]
    head = safe_load(run / "linear_head.pt")  # the newest head, copied beside the checkpoint
    assert head["run"] == str(folders[1]) and results[1]["head"] == str(run / "linear_head.pt")
    assert torch.equal(
        head["state_dict"]["weight"], safe_load(folders[1] / "linear_head.pt")["state_dict"]["weight"]
    )
    assert head["source"]["checkpoint"] == str(run / "last.ckpt") and head["source"]["global_step"] == 7
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        # each folder's metrics are its own head's (after one or two epochs no accuracy is above chance yet)
        assert metrics["checkpoint"] == head["source"]
        assert metrics["val_acc1"] == safe_load(folder / "linear_head.pt")["metrics"]["val_acc1"]
        assert (folder / "logs" / "metrics.csv").is_file()

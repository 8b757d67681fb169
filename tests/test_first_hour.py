"""A newcomer's first hour (issue #30): every output inside the run (or --out) folder it belongs to, a run
folder only once it holds a checkpoint, and every mistake one line that names the key. Each numbered case of
the issue has a test here (or, for the launch scripts, in test_cluster_scripts.py; for DDP, in test_ddp.py
and test_multinode.py); the messages asserted are the ones docs/troubleshooting.md shows."""

import json
import warnings
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run, written_run
from PIL import Image

from solo_coss.experiments import report, robustness, umap_run
from solo_coss.hosts import cli
from solo_coss.hosts.errors import one_line
from solo_coss.hosts.pretrained import checkpoint_of
from solo_coss.hosts.standalone.config import load_config, lr_scaling_line, resolve_pretrain_config
from solo_coss.hosts.standalone.run_folder import (
    RunHistory,
    choose_run,
    open_run,
    read_train_time,
    runs_under,
)

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not FMNIST.is_dir(), reason="dataset-fashion-mnist missing")
PRETRAIN = ["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name", "co_byol.yaml"]
KNN = ["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "knn.yaml"]
NAME = "co_byol-fashion-mnist"


def error_of(call, argv) -> str:
    """The one line a console script exits with."""
    with pytest.raises(SystemExit) as err:
        call(argv)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ---------------------------------------------------------------------------------------------- case 1

@needs_fmnist
def test_umap_and_robustness_of_one_run_write_into_its_folder(tmp_path, monkeypatch, capsys):
    """solo-coss-umap of a name folder wrote into the name folder, robustness into the cwd (the report:
    test_readme_walk_leaves_no_file_outside_the_run_folders)."""
    run = written_run(tmp_path / "runs" / NAME, head=True)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    # umap-learn's first call compiles for seconds; where the plot goes is what is tested
    monkeypatch.setattr("solo_coss.analysis.umap_plot.umap_2d", lambda feats, seed=0: feats[:, :2])
    capsys.readouterr()
    umap_run.main([str(tmp_path / "runs" / NAME), "--num-images", "20", "--batch-size", "20",
                   "--val-path", str(FMNIST)])
    assert capsys.readouterr().out.splitlines()[-1] == f"UMAP written to {run / 'umap-val.png'}"
    robustness.main(["--run", f"co={run / 'linear_head.pt'}", "--num-images", "8", "--families", "occlusion"])
    outputs = [run / "robustness" / f"robustness.{e}" for e in ("md", "csv", "png", "json")]
    assert capsys.readouterr().out.splitlines()[-1] == f"1 run(s); outputs: {', '.join(map(str, outputs))}"
    assert all(p.is_file() for p in outputs) and list((tmp_path / "cwd").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "runs" / NAME).iterdir()) == sorted([run.name, "latest"])
    assert error_of(report.main, [str(run), str(run)]) == (
        "solo-coss-report: error: --out=None is not valid; give a folder for the report of 2 runs (it "
        "belongs to none of them)")


# ---------------------------------------------------------------------------------------------- case 2

@pytest.mark.parametrize(("override", "expected"), [
    ("+backbone.kwargs.widthz=[1]",
     "unknown key(s) ['widthz'] in backbone.kwargs of rf29_resnet18; valid keys: ['block', 'head_mlp_dim', "
     "'in_chans', 'kernel', 'layers', 'pointwise_width', 'spatial_blocks', 'stem_kernel', 'stem_maxpool', "
     "'stem_stride', 'strides', 'widths']"),
    ("backbone.name=resnet18",
     "unknown key(s) ['widths'] in backbone.kwargs of resnet18; valid keys: ['cifar_stem', 'head_mlp_dim', "
     "'in_chans']"),
])
def test_bad_backbone_arguments_are_one_line_before_anything_is_written(tmp_path, capsys, override, expected):
    message = error_of(cli.pretrain, [*PRETRAIN, f"checkpoint.dir={tmp_path}", override])
    assert message == f"solo-coss-pretrain: error: {expected}"
    assert "new run" not in capsys.readouterr().out and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- case 3

@needs_fmnist
def test_a_launch_stopped_by_a_corrupt_image_leaves_no_run_and_names_skip_corrupt(tmp_path, capsys):
    data = tmp_path / "data"
    for c, colour in enumerate(((200, 40, 40), (40, 40, 200))):
        (data / f"class{c}").mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (20, 20), colour).save(data / f"class{c}" / f"{i}.png")
    (data / "class0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    runs = tmp_path / "runs"
    message = error_of(cli.pretrain, [*PRETRAIN, f"checkpoint.dir={runs}", *TINY_OVERRIDES, "max_epochs=1",
                                      "data.dataset=custom", f"data.train_path={data}",
                                      f"data.val_path={data}", "data.fraction=-1", "data.val_fraction=-1",
                                      "optimizer.batch_size=8"])
    broken = data / "class0" / "broken.jpg"
    assert message.startswith(f"solo-coss-pretrain: error: cannot decode image file {broken}")
    assert message.endswith("; delete or replace it, or set data.skip_corrupt=true to skip undecodable "
                            "images (they are counted and logged)")
    assert not runs.exists()  # no run id folder, no name folder, no latest


def test_a_launch_killed_before_its_first_checkpoint_is_skipped_by_latest_resume_and_the_tools(tmp_path):
    run = written_run(tmp_path, step=3, planned=7)  # an unfinished run of the same config, with its last.ckpt
    cfg = json.loads((run / "config.json").read_text())
    killed = choose_run(tmp_path, cfg, {"enabled": False}, None)
    open_run(killed, cfg)  # a later launch that was SIGKILLed before its first checkpoint: config.json only
    assert (tmp_path / "latest").resolve() == run and runs_under(tmp_path) == [run]
    assert checkpoint_of(tmp_path) == run / "last.ckpt"
    resumed = choose_run(tmp_path, cfg, {"enabled": True, "max_hours": 36}, None)
    assert resumed.path == run and resumed.note == f"auto_resume: continuing {run} from last.ckpt"
    with pytest.raises(FileNotFoundError, match=f"{killed.path} holds no checkpoint: its launch stopped "
                                                "before writing one, so it is not a run"):
        checkpoint_of(killed.path)


class FakeTrainer:
    is_global_zero, loggers, global_step, estimated_stepping_batches = True, [], 0, 14


def test_a_killed_launch_is_marked_killed_once_the_run_resumes(tmp_path):
    run = choose_run(tmp_path, {"name": "r"}, {"enabled": False}, None)
    open_run(run, {"name": "r"})
    first = RunHistory(run)
    first.on_train_start(FakeTrainer(), None)
    first.on_save_checkpoint(FakeTrainer(), None, {"global_step": 5})  # then SIGKILL: no last word
    assert [p["status"] for p in read_train_time(run.path)["parts"]] == ["running"]
    second = RunHistory(run)
    second.on_load_checkpoint(FakeTrainer(), None, {"global_step": 5})
    second.write(FakeTrainer(), 14, "finished")
    record = read_train_time(run.path)
    assert [(p["status"], p["from_step"], p["to_step"], p.get("planned_steps")) for p in record["parts"]] == [
        ("killed", 0, 5, 14), ("finished", 5, 14, None)]
    assert record["finished"]


# ---------------------------------------------------------------------------------------------- case 4

@pytest.mark.parametrize(("override", "expected"), [
    ("optimizer.lr=abc", "optimizer.lr='abc' is not valid; give a number"),
    ("max_epochs=-1", "max_epochs=-1 is not valid; give a positive integer (solo-learn's schedules are "
                      "counted in epochs), or set max_steps to a positive number of steps"),
    ("precision=bf32", "precision='bf32' is not valid; give one of [64, 32, 16, 'transformer-engine', "
                       "'transformer-engine-float16', '16-true', '16-mixed', 'bf16-true', 'bf16-mixed', "
                       "'32-true', '64-true', '64', '32', '16', 'bf16', 'auto'] or null"),
    ("+method_kwargs.co.wieght=1",
     "unknown key(s) ['wieght'] in method_kwargs.co; valid keys: ['center_momentum', 'norm_last_layer', "
     "'num_positions', 'num_prototypes', 'pred_hidden_dim', 'proj_hidden_dim', 'proj_output_dim', 'stage', "
     "'student_temperature', 'target', 'temperature', 'use_bn_in_head', 'weight']"),
])
def test_a_bad_config_value_is_one_line_naming_the_key_and_no_run_is_announced(tmp_path, capsys, override,
                                                                               expected):
    message = error_of(cli.pretrain, [*PRETRAIN, f"checkpoint.dir={tmp_path}", *TINY_OVERRIDES, override])
    assert message == f"solo-coss-pretrain: error: {expected}"
    assert "new run" not in capsys.readouterr().out and list(tmp_path.iterdir()) == []


def test_a_file_given_as_a_data_folder_is_named(tmp_path):
    (tmp_path / "images.zip").write_bytes(b"PK\x03\x04")
    message = error_of(cli.pretrain, [*PRETRAIN, f"checkpoint.dir={tmp_path / 'runs'}",
                                      f"data.train_path={tmp_path / 'images.zip'}"])
    assert message == (f"solo-coss-pretrain: error: data.train_path='{tmp_path / 'images.zip'}' is not "
                       "valid; it is a file: give the folder holding the split (ImageFolder <class>/<image> "
                       "files, a torchvision layout, or Fashion-MNIST's idx files)")


@pytest.mark.parametrize(("content", "expected"), [
    (b"a note, not weights\n",
     "not a readable checkpoint: a text file (it starts with 'a note, not weights')"),
    (b"", "not a readable checkpoint: an empty file (0 bytes)"),
    ("truncated", "not a readable checkpoint: cut short (101 bytes of a zip archive, which a torch "
                  "checkpoint is, whose end is missing: an interrupted copy or download?)"),
])
def test_a_broken_checkpoint_is_one_line_saying_what_it_is(tmp_path, content, expected):
    path = tmp_path / "model.ckpt"
    if content == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(1000)}}, tmp_path / "whole.ckpt")
        content = (tmp_path / "whole.ckpt").read_bytes()[:101]
    path.write_bytes(content)
    message = error_of(cli.knn, [*KNN, f"pretrained_feature_extractor={path}"])
    assert message == f"solo-coss-knn: error: pretrained_feature_extractor='{path}' is not valid; {expected}"
    message = error_of(cli.pretrain, [*PRETRAIN, f"checkpoint.dir={tmp_path / 'runs'}", *TINY_OVERRIDES,
                                      f"+resume_from_checkpoint={path}"])
    assert message == f"solo-coss-pretrain: error: resume_from_checkpoint='{path}' is not valid; {expected}"
    assert not (tmp_path / "runs").exists()


def test_a_missing_linear_head_is_named_as_one(tmp_path):
    head = tmp_path / "run" / "linear_head.pt"
    message = error_of(robustness.main, ["--run", f"co={head}"])
    assert message == (f"solo-coss-robustness: error: --run='co={head}' is not valid; the linear head {head} "
                       "does not exist: train one with solo-coss-linear (it writes RUN/linear_head.pt beside "
                       "the pretrained checkpoint)")


def test_an_error_from_a_dataloader_worker_is_its_own_message():
    """With data.num_workers > 0, torch re-raises a worker's error with its traceback in the message."""
    from torch._utils import ExceptionWrapper

    from solo_coss.data.image_folder import CorruptImageError

    try:
        raise CorruptImageError("cannot decode image file /d/x.jpg: broken data stream; delete or replace it")
    except CorruptImageError:
        import sys

        wrapped = ExceptionWrapper(sys.exc_info(), where="in DataLoader worker process 0")
    with pytest.raises(CorruptImageError) as err:
        wrapped.reraise()
    assert "Traceback" in str(err.value)
    expected = "cannot decode image file /d/x.jpg: broken data stream; delete or replace it"
    assert one_line(err.value) == expected


# ---------------------------------------------------------------------------------------------- case 5

@needs_fmnist
def test_knn_refuses_k_above_the_bank_and_keeps_one_result_per_k_and_t(tmp_path, capsys):
    run = written_run(tmp_path / NAME, step=2, planned=7)
    tiny = [f"pretrained_feature_extractor={tmp_path / NAME}", "data.fraction=0.004",
            "data.val_fraction=0.01", "data.num_workers=0"]
    assert error_of(cli.knn, [*KNN, *tiny, "knn.k=[100000]"]) == (
        "solo-coss-knn: error: knn.k=100000 is not valid; at most the bank's size: 240 training images "
        "(data.fraction=0.004); a larger k weighs every image of the bank")
    first = cli.invoke("knn", [*KNN, *tiny, "knn.k=[5,20]"])
    assert capsys.readouterr().out.splitlines()[-1] == (f"kNN results written to {run / 'knn.json'} (step "
                                                        "2, an unfinished run of 7 steps)")
    again = cli.invoke("knn", [*KNN, *tiny, "knn.k=[20]", "knn.T=[0.07,0.5]"])
    assert again["k=20,T=0.07,cosine"] == first["k=20,T=0.07,cosine"]
    assert capsys.readouterr().out.splitlines()[-1].endswith("; kept 1 earlier result(s) of this checkpoint)")
    record = json.loads((run / "knn.json").read_text())
    assert sorted(record["top1"]) == ["k=20,T=0.07,cosine", "k=20,T=0.5,cosine", "k=5,T=0.07,cosine"]
    assert record["checkpoint"]["global_step"] == 2 and record["checkpoint"]["run_finished"] is False
    assert record["checkpoint"]["planned_steps"] == 7

    state = torch.load(run / "last.ckpt", weights_only=False)  # the run trains on: another checkpoint
    state["global_step"], state["state_dict"] = 4, {k: v + 0.01 if v.is_floating_point() else v
                                                    for k, v in state["state_dict"].items()}
    torch.save(state, run / "last.ckpt")
    cli.knn([*KNN, *tiny, "knn.k=[20]"])
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith("; dropped 2 earlier result(s) of another checkpoint (step 2))")
    record = json.loads((run / "knn.json").read_text())
    assert list(record["top1"]) == ["k=20,T=0.07,cosine"] and record["checkpoint"]["global_step"] == 4


# ---------------------------------------------------------------------------------------------- case 6

def test_the_lr_scaling_line_counts_the_processes():
    cfg = resolve_pretrain_config(load_config(str(ROOT / "scripts/pretrain/imagenet"), "co_byol.yaml",
                                              ["+num_nodes=2", "data.train_path=/x", "data.val_path=/x"]))
    assert lr_scaling_line(cfg, 4) == (
        "lr scaling: optimizer.lr 0.45 x batch_size 64 x 4 process(es) (devices 2 x num_nodes 2) / 256 = "
        "0.45; x accumulate_grad_batches 16 = 7.2, the optimizer's lr")
    mismatch = (r"devices=\[0, 1\] is not valid; the lr is scaled for 2 device\(s\) x 2 node\(s\) = 4 "
                r"processes, but the Trainer runs 2")
    with pytest.raises(ValueError, match=mismatch):
        lr_scaling_line(cfg, 2)


@needs_fmnist
@pytest.mark.slow  # three tiny trainings
def test_resumed_runs_warn_of_nothing_that_is_not_true_of_them(tmp_path, monkeypatch, capsys):
    """Lightning's "dataloader is not resumable" (checkpoint.every_n_steps makes the resume exact) and "The
    dirpath has changed" (a new run from another run's checkpoint writes its own folder) are by design."""
    from solo_coss.methods.base import SSLMethod

    real, calls = SSLMethod.training_loss, {"n": 0}

    def nan_at_step_5(self, views, epoch=0):
        out = real(self, views, epoch)
        calls["n"] += 1
        out["loss"] = out["loss"] * (float("nan") if calls["n"] == 5 else 1.0)
        return out

    args = [*PRETRAIN, f"checkpoint.dir={tmp_path}", *TINY_OVERRIDES, "max_epochs=1",
            "checkpoint.every_n_steps=2"]
    monkeypatch.setattr(SSLMethod, "training_loss", nan_at_step_5)
    error_of(cli.pretrain, args)  # stops in the middle of the epoch (7 steps); last.ckpt at step 4
    monkeypatch.undo()
    run = latest_run(tmp_path, NAME)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cli.pretrain(args)  # the same command continues the run mid-epoch, exactly
        # a new, longer run from its checkpoint
        cli.pretrain([*args, "max_epochs=2", f"+resume_from_checkpoint={run / 'last.ckpt'}"])
    longer = latest_run(tmp_path, NAME)
    printed = capsys.readouterr().out
    assert f"auto_resume: continuing {run} from last.ckpt" in printed
    assert f"new run {longer}, starting from {run / 'last.ckpt'} (not its run: max_epochs: 1 -> 2)" in printed
    assert ("lr scaling: optimizer.lr 0.1 x batch_size 32 x 1 process(es) (devices 1 x num_nodes 1) / 256 = "
            "0.0125") in printed
    messages = [str(w.message) for w in seen]
    assert not [m for m in messages if "not resumable" in m or "dirpath has changed" in m], messages
    assert [(p["status"], p["to_step"]) for p in read_train_time(run)["parts"]] == [
        ("stopped (NonFiniteLossError)", 4), ("finished", 7)]
    assert torch.load(longer / "last.ckpt", weights_only=False)["global_step"] == 14


# ---------------------------------------------------------------------------------------------- case 8

@needs_fmnist
@pytest.mark.slow  # one step of the small ViT
def test_a_run_shorter_than_its_warmup_trains(tmp_path):
    """fashion-mnist/co_mocov3_vit.yaml with the README's tiny overrides: 1 step, warm-up 0.5 epoch."""
    cli.pretrain(["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                  "co_mocov3_vit.yaml", f"checkpoint.dir={tmp_path}", "max_epochs=1", "data.fraction=0.004",
                  "data.val_fraction=0.01", "data.num_workers=0", "+enable_progress_bar=false"])
    run = latest_run(tmp_path, "co_mocov3_vit-fashion-mnist")
    ckpt = torch.load(run / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 1 and read_train_time(run)["finished"]
    # solo-learn's schedule: the one step at warmup_start_lr, and after it the recurrence's other branch
    lrs = [g["lr"] for g in ckpt["optimizer_states"][0]["param_groups"]]
    assert len(lrs) > 1 and lrs == pytest.approx([3e-5] * len(lrs))

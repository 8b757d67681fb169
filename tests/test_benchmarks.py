"""The benchmark scripts cannot rot: gpu_check runs its CPU version, and the sizes they hard-code are the
configs'."""

import importlib.util
import sys
from pathlib import Path

import pytest

from solo_coss.hosts.standalone.config import load_config, record, resolve_pretrain_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402
import step_time  # noqa: E402


def composed(dataset: str, name: str) -> dict:
    return record(resolve_pretrain_config(load_config(str(ROOT / "scripts" / "pretrain" / dataset), name,
                                                      ["++accelerator=cpu", "++devices=1", "++strategy=auto",
                                                       "++sync_batchnorm=false", "++precision=32"])))


@pytest.mark.parametrize(
    "dataset, sizes, names",
    [
        ("imagenet-100", gpu_check.IN100, ["byol", "simclr", "mocov3", "dino"]),
        (
            "fashion-mnist",
            {"batch": 128, "size": 32, "heads": step_time.FASHION_MNIST_HEADS},
            ["byol", "simclr", "dino"],
        ),
    ],
)
def test_hard_coded_sizes_are_the_configs(dataset, sizes, names):
    for name in names:
        cfg = composed(dataset, f"{name}.yaml")
        assert cfg["optimizer"]["batch_size"] == sizes["batch"]
        assert cfg["augmentations"][0]["crop_size"] == sizes["size"]
        used = step_time.method_kwargs(name, sizes["heads"])
        assert {k: cfg["method_kwargs"][k] for k in used} == used, (dataset, name)
    main_job = composed("fashion-mnist", "co_byol.yaml")
    case = step_time.CASES["main-job"]
    assert (main_job["backbone"]["name"], main_job["backbone"]["kwargs"]) == (
        case.backbone,
        case.backbone_kwargs,
    )


@pytest.mark.slow
def test_gpu_check_passes_its_cpu_sections(capsys):
    """The CPU version of every section: ratios measured, loaders timed, a CLI run with finite losses and a
    checkpoint; sections that need what is not installed (solo-learn here, DALI where absent) say so."""
    status = gpu_check.main(["--device", "cpu", "--quick", "--pairs", "byol"])
    out = capsys.readouterr().out
    status_of = {
        line[9:].split(":")[0]: line[:8].strip() for line in out.split("## summary")[1].strip().splitlines()
    }
    assert status == 0, status_of
    assert status_of["step ratios resnet18"] == status_of["step ratios rf29_resnet18"] == "PASS"
    assert status_of["step ratios vit_small"] == "PASS"
    assert all(status_of[f"step ratios {rel}"] == "PASS" for rel in gpu_check.SHIPPED_CONFIGS)
    assert status_of["loaders torchvision"] == status_of["standalone CLI run"] == "PASS"
    assert "last.ckpt written" in out and "| resnet18 | byol |" in out
    has_dali = importlib.util.find_spec("nvidia.dali") is not None
    assert status_of["loaders DALI-cpu" if has_dali else "loaders DALI"] == (
        "PASS" if has_dali else "SKIPPED"
    )
    has_solo = importlib.util.find_spec("solo") is not None
    assert status_of["solo-learn CLI run"] == ("PASS" if has_solo else "SKIPPED")


def test_gpu_check_requires_a_gpu_when_asked(monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert gpu_check.main(["--require-gpu"]) == 2
    assert "no CUDA device (--require-gpu)" in capsys.readouterr().out


@pytest.mark.slow
def test_checkout_comparison_runs_both_checkouts_side_by_side(capsys):
    """main_job_vs_checkout trains the shipped config in two pinned processes at once (here this checkout
    twice, tiny, the base in fp32 NCHW) and reports each side's setup as its own process saw it."""
    import os

    import main_job_vs_checkout

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("--side-by-side needs 2 cores")
    cores = [str(c) for c in sorted(os.sched_getaffinity(0))[:2]]
    tiny = ["backbone.kwargs.widths=[8,8,8,16]", "optimizer.batch_size=16", "data.fraction=0.01",
            "method_kwargs.proj_hidden_dim=32", "method_kwargs.pred_hidden_dim=32"]
    main_job_vs_checkout.main(["--base", str(ROOT), "--rounds", "1", "--steps", "3", "--warmup", "1",
                               "--side-by-side", "--cores", *cores, "--overrides", *tiny, "precision=32-true",
                               "--base-overrides", *tiny, "precision=32-true",
                               "+performance.disable_channel_last=true"])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| base (")
            or line.startswith("| this (")]
    assert [(r[2].strip(), r[3].strip()) for r in rows] == [("32-true", "False"), ("32-true", "True")]
    assert all(float(r[4]) > 0 for r in rows) and rows[0][5].strip() == "1.00x"

"""solo-coss-compare over seeds: paired statistics recomputed from compare.csv, and a rerun resumes instead of
training again (slow: tiny runs, about 2 minutes)."""

import csv
from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES

from solo_coss.experiments import compare
from solo_coss.experiments.compare_plots import read_metrics
from solo_coss.experiments.statistics import t_interval

ROOT = Path(__file__).resolve().parents[1]
TINY = [o for o in TINY_OVERRIDES if not o.startswith("+enable_progress_bar")] + ["max_epochs=1",
                                                                               "+enable_progress_bar=false",
                                                                               "log_every_n_steps=1"]


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing"
)
def test_two_seed_comparison_and_resume(tmp_path, saved_figures):
    argv = ["fashion-mnist", "byol", "co_byol", "--seeds", "5", "6", "--out", str(tmp_path), "--config-root",
            str(ROOT / "scripts/pretrain"), "--eval-fraction", "0.01", "--eval-val-fraction", "0.05",
            "--linear-epochs", "3", "--robust-images", "16", *TINY]
    compare.main(argv)
    rows = read(tmp_path / "compare.csv")
    assert sorted((r["method"], r["seed"]) for r in rows) == sorted(
        (m, s) for m in ("byol", "co_byol", "random init") for s in ("5", "6"))
    by = {(r["method"], int(r["seed"])): r for r in rows}
    for metric in ("knn_top1", "linear_top1", "robust_pgd_eps4", "redundancy_intra_sim"):
        diffs = [float(by[("co_byol", s)][metric]) - float(by[("byol", s)][metric]) for s in (5, 6)]
        mean, low, high = t_interval(diffs)
        paired = next(r for r in read(tmp_path / "paired.csv") if r["metric"] == metric)
        assert (paired["method"], paired["baseline"], paired["n"]) == ("co_byol", "byol", "2")
        assert [float(paired[k]) for k in ("mean_diff", "ci_low", "ci_high")] == pytest.approx(
            [mean, low, high]
        )
        values = [float(by[("byol", s)][metric]) for s in (5, 6)]
        summary = next(
            r for r in read(tmp_path / "summary.csv") if r["method"] == "byol" and r["metric"] == metric
        )
        assert float(summary["mean"]) == pytest.approx(sum(values) / 2) and summary["n"] == "2"
    assert by[("byol", 5)]["knn_top1"] != by[("byol", 6)]["knn_top1"]  # the seed changes the run
    # the figures show these runs: each method's global-loss curve is the mean over its two seeds' logged
    # losses, and the Gaussian-noise panel its mean accuracies, clean then severity 3 and 5
    global_loss, local_loss, _ = saved_figures["curves.png"].axes
    assert len(global_loss.lines) == 2
    for line, method in zip(global_loss.lines, ("byol", "co_byol")):
        assert line.get_label() == f"{method} (n=2)"
        series = [dict(read_metrics(next((tmp_path / "runs" / f"{method}-seed{s}").glob("2*")))
                       ["train/global_loss_step"]) for s in (5, 6)]
        steps = sorted(series[0])
        assert list(line.get_xdata()) == steps
        assert list(line.get_ydata()) == pytest.approx([(series[0][k] + series[1][k]) / 2 for k in steps])
    assert [line.get_label() for line in local_loss.lines] == ["co_byol (n=2)"]  # BYOL has no local loss
    noise = saved_figures["robustness.png"].axes[0]
    summary = {(r["method"], r["metric"]): float(r["mean"]) for r in read(tmp_path / "summary.csv")}
    assert len(noise.containers) == 3
    for container, method in zip(noise.containers, ("byol", "co_byol", "random init")):
        assert list(container.lines[0].get_ydata()) == pytest.approx(
            [
                summary[(method, m)]
                for m in ("robust_clean", "robust_gaussian_noise_s3", "robust_gaussian_noise_s5")
            ]
        )
    assert "co_byol − byol" in (tmp_path / "compare.md").read_text()

    # A rerun skips every finished run and evaluation: nothing is rewritten, the tables are the same.
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.suffix in (".json", ".ckpt")}
    compare.main(argv)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert read(tmp_path / "compare.csv") == rows


def test_a_run_folder_of_another_config_is_refused(tmp_path):
    from solo_coss.experiments.training import train_standalone

    folder = tmp_path / "runs" / "byol-seed5" / "20250101-120000-abcd"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"method": "byol", "max_epochs": 99}')
    (folder / "last.ckpt").write_bytes(b"")  # a run: it holds a checkpoint
    with pytest.raises(ValueError, match=r"another config \(keys .*max_epochs"):
        train_standalone(ROOT / "scripts/pretrain/fashion-mnist", "byol", 5, tmp_path / "runs", TINY)


def test_the_study_folder_may_be_spelled_relative_or_absolute():
    from solo_coss.experiments.training import _same_run

    run = {"method": "byol", "max_epochs": 2, "checkpoint": {"dir": "runs/study/runs", "frequency": 1}}
    moved = {**run, "checkpoint": {"dir": "/home/me/runs/study/runs", "frequency": 1}}
    assert _same_run(run, moved) == []
    other = {**run, "checkpoint": {"dir": "runs/study/runs", "frequency": 2}}
    assert _same_run(run, other) == ["checkpoint"]
    assert _same_run(run, {**run, "max_epochs": 3}) == ["max_epochs"]

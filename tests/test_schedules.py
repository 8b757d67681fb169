"""The lr schedule of real runs: continued with a larger max_epochs (a new run started from the first one's
checkpoint) it is rebuilt for the new total; bounded by max_steps alone, an epoch is the loader's length (not
the whole run)."""

import csv
from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES, latest_run

from solo_coss.hosts import cli
from solo_coss.hosts.standalone.optim import warmup_cosine_lr

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH = 9  # 300 images (fraction 0.005), batch 32, drop_last
needs_fmnist = pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                                  reason="dataset-fashion-mnist missing")


def pretrain(out: Path, *extra) -> None:
    cli.invoke("pretrain", ["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                            "byol.yaml", f"checkpoint.dir={out}", *TINY_OVERRIDES, "data.fraction=0.005",
                            "knn_eval.enabled=false", "scheduler.warmup_epochs=0.5", "log_every_n_steps=1",
                            "precision=32", *extra])


def logged_lrs(run: Path) -> dict[int, float]:
    with open(run / "logs" / "metrics.csv") as f:
        return {
            int(r["step"]): float(r["lr-SGD/backbone"]) for r in csv.DictReader(f) if r.get("lr-SGD/backbone")
        }


def expected(step: int, total: int) -> float:
    base = 0.1 * 32 / 256  # lr x batch_size / 256
    return warmup_cosine_lr(step, base, 0.5 * STEPS_PER_EPOCH, total, 3e-5, 0.0)


@pytest.mark.slow
@needs_fmnist
def test_resume_with_more_epochs_follows_the_new_total(tmp_path):
    pretrain(tmp_path, "max_epochs=1", "auto_resume.enabled=true")
    first = logged_lrs(latest_run(tmp_path, "byol-fashion-mnist"))
    assert first[3] == pytest.approx(expected(3, STEPS_PER_EPOCH))
    last = latest_run(tmp_path, "byol-fashion-mnist") / "last.ckpt"
    pretrain(tmp_path, "max_epochs=2", f"+resume_from_checkpoint={last}")  # the README's way to train longer
    lrs = logged_lrs(latest_run(tmp_path, "byol-fashion-mnist"))
    resumed = {s: lr for s, lr in lrs.items() if s >= STEPS_PER_EPOCH}
    assert sorted(resumed) == list(range(STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH))
    for step, lr in resumed.items():
        assert lr == pytest.approx(expected(step, 2 * STEPS_PER_EPOCH), rel=1e-6), step
    assert all(b <= a for a, b in zip(list(resumed.values()), list(resumed.values())[1:]))  # still decreasing


@pytest.mark.slow
@needs_fmnist
def test_max_steps_run_counts_epochs_from_the_loader(tmp_path):
    pretrain(tmp_path, "max_epochs=null", "+max_steps=14")
    lrs = logged_lrs(latest_run(tmp_path, "byol-fashion-mnist"))
    assert max(lrs) == 13
    for step in (2, 4, 5, 13):
        assert lrs[step] == pytest.approx(expected(step, 14), rel=1e-6), step

"""The README's commands, one after the other in an empty directory as a newcomer types them (tiny sizes):
every file they write lands in a run folder or in the --out folder the command names, and nothing else
appears (issue #30: auto_umap wrote into the current directory, solo-coss-umap into the name folder)."""

from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES

from solo_coss.experiments import compare, report, robustness, umap_run
from solo_coss.hosts import cli, export

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path("/usr/share/datasets/fashion-mnist")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not FMNIST.is_dir(), reason="dataset-fashion-mnist missing")]
LINEAR = ["data.fraction=0.01", "data.val_fraction=0.02", "data.num_workers=0", "max_epochs=1",
          "+enable_progress_bar=false"]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_readme_walk_leaves_no_file_outside_the_run_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    name = Path("trained_models/co_byol-fashion-mnist")
    cli.pretrain(["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                  "co_byol.yaml", "max_epochs=1", *TINY_OVERRIDES, "+auto_umap.enabled=true"])
    run = (name / "latest").resolve()
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"run folder: {name / run.name}")
    cli.linear(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "linear.yaml",
                f"pretrained_feature_extractor={name / 'latest'}", *LINEAR])
    cli.knn(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "knn.yaml",
             f"pretrained_feature_extractor={name / 'latest'}", "data.fraction=0.01",
             "data.val_fraction=0.02", "data.num_workers=0"])
    umap_run.main([str(name), "--num-images", "200"])
    robustness.main(["--run", f"co_byol={name / 'latest' / 'linear_head.pt'}", "--out", "robustness",
                     "--num-images", "16", "--families", "occlusion"])
    # one run's report goes into its folder; two runs' where --out says
    report.main([str(name), "--num-images", "16", "--erf-images", "1", "--families", "occlusion"])
    assert capsys.readouterr().out.splitlines()[-1] == (f"report written to {run / 'report' / 'report.md'} "
                                                        "(figures beside it: redundancy.png, erf.png, "
                                                        "robustness.png)")
    report.main([str(name), str(name / "latest"), "--out", "report", "--num-images", "16", "--erf-images",
                 "1", "--families"])
    export.main([str(name), "--out", "backbone.safetensors"])
    compare.main(["fashion-mnist", "byol", "co_byol", "--config-root", str(ROOT / "scripts/pretrain"),
                  "--out", "compare", "--eval-fraction", "0.01", "--eval-val-fraction", "0.01",
                  "--linear-epochs", "1", "--robust-images", "8", "--no-random-init", "max_epochs=1",
                  *TINY_OVERRIDES])

    # the current directory: the runs, and what each command was told to write with --out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backbone.json", "backbone.safetensors", "compare",
                                                          "report", "robustness", "trained_models"]
    assert sorted(p.name for p in (tmp_path / "trained_models").iterdir()) == ["co_byol-fashion-mnist"]
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted([run.name, "latest"])
    inside = files_under(run)
    for expected in ("last.ckpt", "config.json", "train_time.json", "logs/metrics.csv", "knn.json",
                     "linear_head.pt", "umap-val.png", "auto_umap/co_byol-fashion-mnist-ep=0.png",
                     "report/report.md", "report/erf.png", "report/robustness.md"):
        assert expected in inside, sorted(inside)
    linear_runs = list((run / "linear-fashion-mnist").iterdir())
    assert [p for p in linear_runs if not p.is_symlink()]  # the linear run, and its latest
    assert (run / "linear-fashion-mnist" / "latest").is_symlink()
    assert files_under(tmp_path / "robustness") == {f"robustness.{e}" for e in ("md", "csv", "png", "json")}
    assert {"report.md", "report.json", "redundancy.png", "erf.png"} <= files_under(tmp_path / "report")
    study = files_under(tmp_path / "compare")
    assert {"compare.md", "compare.csv", "summary.csv", "paired.csv"} <= study
    assert all(f.startswith(("runs/byol-seed5/", "runs/co_byol-seed5/", "results/")) for f in study
               if "/" in f), sorted(study)

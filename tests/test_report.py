"""solo-coss-report and solo-coss-robustness on a tiny real run."""

from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES

from solo_coss.experiments import report, robustness
from solo_coss.hosts import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = [*TINY_OVERRIDES, "max_epochs=1"]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing")
def test_report_and_robustness(tmp_path):
    runs = []
    for method in ("byol", "co_byol"):
        cli.pretrain(["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                      f"{method}.yaml", f"checkpoint.dir={tmp_path}", *TINY])
        run = tmp_path / f"{method}-fashion-mnist"
        cli.linear(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "linear.yaml",
                    f"pretrained_feature_extractor={run / 'last.ckpt'}", "data.fraction=0.01",
                    "data.val_fraction=0.02", "max_epochs=2", "data.num_workers=0"])
        runs.append(run)
    text = report.build_report(runs, tmp_path / "report", num_images=24, erf_images=2, families=["occlusion"])
    for run in runs:
        assert f"| {run.name} | linear top-1 |" in text
        assert f"| {run.name} | " in text.split("## Local redundancy")[1]
    for image in ("redundancy.png", "erf.png", "robustness.png"):
        assert f"]({image})" in text and (tmp_path / "report" / image).stat().st_size > 5000
    assert "| occlusion | 0.5 |" in text

    with pytest.raises(SystemExit, match="no checkpoint or run folder at .*nope"):
        report.main([str(tmp_path / "nope")])
    with pytest.raises(SystemExit, match="NAME=LINEAR_HEAD"):
        robustness.main(["--run", "justapath.pt"])
    robustness.main(["--run", f"co={runs[1] / 'linear_head.pt'}", "--out", str(tmp_path / "rob"),
                             "--num-images", "16", "--families", "occlusion"])
    assert (tmp_path / "rob" / "robustness.csv").read_text().splitlines()[0] == "family,level,co"

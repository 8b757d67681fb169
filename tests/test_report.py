"""solo-coss-report and solo-coss-robustness on a tiny real run; results tied to their checkpoint."""

import json
import shutil
from pathlib import Path

import pytest
from helpers import TINY_OVERRIDES, latest_run

from solo_coss.experiments import report, robustness
from solo_coss.hosts import cli
from solo_coss.hosts.safe_load import safe_load

ROOT = Path(__file__).resolve().parents[1]
TINY = [*TINY_OVERRIDES, "max_epochs=1"]


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing"
)
def test_report_and_robustness(tmp_path, saved_figures):
    runs = []
    for method in ("byol", "co_byol"):
        cli.pretrain(["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                      f"{method}.yaml", f"checkpoint.dir={tmp_path}", *TINY])
        run = latest_run(tmp_path, f"{method}-fashion-mnist")
        cli.linear(
            [
                "--config-path",
                str(ROOT / "scripts/linear/fashion-mnist"),
                "--config-name",
                "linear.yaml",
                f"pretrained_feature_extractor={run / 'last.ckpt'}",
                "data.fraction=0.01",
                "data.val_fraction=0.02",
                "max_epochs=2",
                "data.num_workers=0",
            ]
        )
        runs.append(run)
    text = report.build_report(runs, tmp_path / "report", num_images=24, erf_images=2, families=["occlusion"])
    for run in runs:
        name = run.parent.name  # <name>/<id>: the run's name
        assert f"| {name} | linear top-1 |" in text
        assert f"| {name} | " in text.split("## Local redundancy")[1]
        source = safe_load(run / "linear_head.pt")["source"]
        assert source["checkpoint"] == str(run / "last.ckpt") and source["global_step"] == 7
        assert f"| {name} | `{run / 'last.ckpt'}` | 7 | {source['backbone_sha256'][:16]} |" in text
    recorded = json.loads((tmp_path / "report" / "report.json").read_text())["runs"]["co_byol-fashion-mnist"]
    assert recorded.items() <= safe_load(runs[1] / "linear_head.pt")["source"].items()
    for image in ("redundancy.png", "erf.png", "robustness.png"):
        assert f"]({image})" in text and (tmp_path / "report" / image).is_file()
    # the figures show the report's numbers: a redundancy panel per run titled with its r and intra-image
    # similarity over the 24 * 23 / 2 image pairs; per ERF image the image and 4 ERFs per run; the occlusion
    # curves of both runs
    redundancy = json.loads((tmp_path / "report" / "report.json").read_text())["redundancy"]
    assert len(saved_figures["redundancy.png"].axes) == len(runs)
    for ax, run in zip(saved_figures["redundancy.png"].axes, runs):
        r = redundancy[run.parent.name]
        assert (
            ax.get_title()
            == f"{run.parent.name}\nr = {r['pearson']:.3f}, intra = {r['intra_image_similarity']:.3f}"
        )
        assert len(ax.collections[0].get_offsets()) == 24 * 23 // 2
    assert len(saved_figures["erf.png"].axes) == 2 * (1 + 2 * 4)
    (occlusion,) = saved_figures["robustness.png"].axes
    assert occlusion.get_title() == "occlusion" and [line.get_label() for line in occlusion.lines] == [
        run.parent.name for run in runs]
    assert "| occlusion | 0.5 |" in text

    with pytest.raises(SystemExit, match="no checkpoint or run folder at .*nope"):
        report.main([str(tmp_path / "nope")])
    with pytest.raises(SystemExit, match="NAME=LINEAR_HEAD"):
        robustness.main(["--run", "justapath.pt"])
    robustness.main(["--run", f"co={runs[1] / 'linear_head.pt'}", "--out", str(tmp_path / "rob"),
                             "--num-images", "16", "--families", "occlusion"])
    assert (tmp_path / "rob" / "robustness.csv").read_text().splitlines()[0] == "family,level,co"
    recorded = json.loads((tmp_path / "rob" / "robustness.json").read_text())["runs"]["co"]
    assert recorded["head"] == str(runs[1] / "linear_head.pt") and recorded["checkpoint"] == str(
        runs[1] / "last.ckpt"
    )

    # a head is refused with another run's backbone, in one line
    with pytest.raises(SystemExit) as err:
        robustness.main(["--ckpt", str(runs[0]), "--linear", str(runs[1] / "linear_head.pt"), "--out",
                         str(tmp_path / "rob2"), "--num-images", "16", "--families", "occlusion"])
    assert f"linear head {runs[1] / 'linear_head.pt'} belongs to {runs[1] / 'last.ckpt'} (step 7" in str(
        err.value
    )
    assert f"not to {runs[0] / 'last.ckpt'} (step 7" in str(err.value) and "\n" not in str(err.value)
    # and so are results in a run folder that were computed on another checkpoint
    shutil.copy(runs[1] / "linear_head.pt", runs[0] / "linear_head.pt")
    with pytest.raises(
        SystemExit, match=r"linear_head.pt belongs to .*co_byol-fashion-mnist.*: run solo-coss-linear"
    ):
        report.main([str(runs[0]), "--out", str(tmp_path / "report2"), "--families"])
    (runs[0] / "linear_head.pt").unlink()
    (runs[0] / "knn.json").write_text(json.dumps({"top1": {"k=20,T=0.07,cosine": 50.0}}))
    with pytest.raises(SystemExit, match=r"knn.json records no checkpoint identity"):
        report.main([str(runs[0]), "--out", str(tmp_path / "report2"), "--families"])

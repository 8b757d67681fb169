"""A CO method with co.weight: 0 trains exactly like its baseline, data order and augmentations included:
building the local heads draws no number from the global generator (with num_workers 0 the augmentations
are drawn from it in the main process)."""

from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, latest_run

from solo_coss.hosts import cli

ROOT = Path(__file__).resolve().parents[1]


def trained_state(tmp_path: Path, method: str, workers: int, extra=()) -> dict:
    cli.invoke("pretrain", ["--config-path", str(ROOT / "scripts/pretrain/fashion-mnist"), "--config-name",
                            f"{method}.yaml", f"checkpoint.dir={tmp_path}", *TINY_OVERRIDES, "max_epochs=1",
                            "+max_steps=4", f"data.num_workers={workers}", "knn_eval.enabled=false", *extra])
    state = torch.load(latest_run(tmp_path, f"{method}-fashion-mnist") / "last.ckpt", weights_only=False)[
        "state_dict"
    ]
    return {k: v for k, v in state.items() if not k.startswith("method.co_term.")}


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing"
)
@pytest.mark.slow  # two CLI trainings
@pytest.mark.parametrize("workers", [0, 2])
def test_co_byol_with_zero_weight_is_byol_bit_for_bit(tmp_path, workers):
    byol = trained_state(tmp_path / "a", "byol", workers)
    co = trained_state(tmp_path / "b", "co_byol", workers, ["method_kwargs.co.weight=0"])
    assert byol.keys() == co.keys()
    for key in byol:
        assert torch.equal(byol[key], co[key]), key
    # and the local term does change training when weighted
    weighted = trained_state(tmp_path / "c", "co_byol", workers)
    assert not torch.equal(byol["method.backbone.stem.0.weight"], weighted["method.backbone.stem.0.weight"])

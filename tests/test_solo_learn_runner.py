"""The parts of the solo-learn adapter that need no solo-learn: override fixing, missing-install message."""

import importlib.util
from pathlib import Path

import pytest

from solo_coss.hosts.solo_learn.runner import absolute_config_path, run, safe_overrides


def test_safe_overrides_quote_values_hydra_would_misread():
    assert safe_overrides(["devices=1", "devices=[0,1]", "pretrained_feature_extractor=/a/b-ep=9.ckpt",
                           "name=x", "--config-name", "a.yaml", "x='a=b'"]) == [
        "devices='1'", "devices=[0,1]", "pretrained_feature_extractor='/a/b-ep=9.ckpt'", "name=x",
        "--config-name", "a.yaml", "x='a=b'"]


def test_relative_config_path_made_absolute():
    out = absolute_config_path(["--config-path", "scripts/pretrain", "--config-name", "c.yaml"])
    assert out[1] == str(Path("scripts/pretrain").resolve()) and out[2:] == ["--config-name", "c.yaml"]
    assert absolute_config_path(["--config-path=rel"])[0] == f"--config-path={Path('rel').resolve()}"


def test_unknown_entry_and_gpu_only_knn():
    with pytest.raises(ValueError, match="pretrain"):
        run("umap", [])
    with pytest.raises(ValueError, match="GPU"):
        run("knn", [])


@pytest.mark.skipif(importlib.util.find_spec("solo") is not None, reason="solo-learn is installed here")
def test_missing_solo_learn_says_how_to_install():
    with pytest.raises(ValueError, match="pip install --no-build-isolation -e solo-learn"):
        run("pretrain", ["--config-path", "x", "--config-name", "y.yaml"])


def test_backbone_state_reads_both_hosts(tmp_path):
    import torch
    from solo_convert import backbone_state, load_into

    from solo_coss.backbones import build_backbone

    net = build_backbone("rf29_resnet18", widths=(8, 16, 32, 64))
    for prefix in ("method.backbone.", "backbone."):
        path = tmp_path / f"{prefix}ckpt"
        torch.save(
            {"state_dict": {f"{prefix}{k}": v for k, v in net.state_dict().items()} | {"classifier.w": 0}},
            path,
        )
        assert set(backbone_state(path)) == set(net.state_dict())
        other = type("M", (), {"backbone": build_backbone("rf29_resnet18", widths=(8, 16, 32, 64))})()
        load_into(other, path)
        torch.testing.assert_close(other.backbone.stem[0].weight, net.stem[0].weight)
    torch.save({"state_dict": {"head.w": torch.zeros(1)}}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="no backbone weights"):
        backbone_state(tmp_path / "bad.ckpt")

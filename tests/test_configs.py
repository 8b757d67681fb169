"""Every shipped YAML composes, validates and builds its method; mistakes are named."""

import dataclasses
import json
from pathlib import Path

import pytest

from solo_coss.backbones import build_backbone
from solo_coss.core import COConfig
from solo_coss.hosts.standalone.config import (
    backbone_from_config,
    load_config,
    record,
    resolve_pretrain_config,
)
from solo_coss.methods import BYOLKwargs, build_method

ROOT = Path(__file__).resolve().parents[1] / "scripts" / "pretrain"
CONFIGS = sorted(p for p in ROOT.glob("*/*.yaml") if p.stem != "base" and p.parent.name != "solo-learn")
# What every shipped YAML resolved to (config.json) before the config became typed, recorded from commit
# 7e81e6a by tests/config_json/record.py with precision pinned to 32 (``auto`` resolves by the CPU).
RECORDED = json.loads((Path(__file__).parent / "config_json" / "7e81e6a.json").read_text())


def test_every_shipped_yaml_was_recorded():
    assert sorted(RECORDED) == sorted(f"{p.parent.name}/{p.name}" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_config_validates_and_builds(path):
    cfg = resolve_pretrain_config(load_config(str(path.parent), path.name, ["++precision=32"]))
    # the typed values change how the code reads a key, not what any run trains
    assert record(cfg) == RECORDED[f"{path.parent.name}/{path.name}"]
    assert cfg["method"] == path.stem.removesuffix("_vit")  # dino_vit.yaml: DINO on a ViT
    assert cfg["name"]
    assert len(cfg["augmentations"]) >= 1
    if path.parent.name == "fashion-mnist":  # the others use big backbones: only check they are known
        backbone = build_backbone(cfg["backbone"]["name"], method=cfg["method"], **cfg["backbone"]["kwargs"])
        method = build_method(
            cfg["method"], backbone, cfg["method_kwargs"], backbone_name=cfg["backbone"]["name"]
        )
        assert (method.co_term is not None) == cfg["method"].startswith("co_")


def test_every_method_has_a_fashion_mnist_config():
    names = {p.stem for p in CONFIGS if p.parent.name == "fashion-mnist"}
    assert names == {"byol", "co_byol", "simclr", "co_simclr", "mocov3", "co_mocov3", "dino", "co_dino",
                     "mocov3_vit", "co_mocov3_vit"}


def test_unknown_keys_are_named_with_valid_ones():
    folder = str(ROOT / "fashion-mnist")
    with pytest.raises(
        ValueError, match=r"unknown key\(s\) \['bogus'\] in the config; valid keys: .*'method'"
    ):
        resolve_pretrain_config(load_config(folder, "byol.yaml", ["+bogus=1"]))
    with pytest.raises(ValueError, match=r"\['lrr'\] in optimizer"):
        resolve_pretrain_config(load_config(folder, "byol.yaml", ["+optimizer.lrr=1"]))
    with pytest.raises(ValueError, match="choose from .*co_byol"):
        resolve_pretrain_config(load_config(folder, "byol.yaml", ["method=byool"]))
    with pytest.raises(ValueError, match="rf29_resnet18"):
        resolve_pretrain_config(load_config(folder, "byol.yaml", ["backbone.name=rf30"]))
    with pytest.raises(FileNotFoundError, match="nope"):
        load_config(folder, "nope.yaml")


def test_a_pipeline_normalisation_solo_learn_would_ignore_is_refused():
    """solo-learn normalises its named datasets with its own statistics whatever a pipeline's mean / std say
    (augmentation parity found it): the same YAML would train on other inputs in each host."""
    cifar = str(ROOT / "cifar")
    with pytest.raises(ValueError, match=r"augmentations\[1\]\.mean is set, but solo-learn normalises "
                                         r"data\.dataset=cifar10 with its own statistics"):
        resolve_pretrain_config(load_config(cifar, "byol.yaml", ["+augmentations.1.mean=[0.5,0.5,0.5]"]))
    custom = resolve_pretrain_config(load_config(cifar, "byol.yaml", [
        "+augmentations.1.mean=[0.5,0.5,0.5]", "+augmentations.1.std=[0.2,0.2,0.2]", "data.dataset=custom",
        "data.train_path=/tmp", "data.val_path=null"]))
    assert custom["augmentations"][1]["mean"] == [0.5, 0.5, 0.5]


def test_the_lr_stages_are_recorded_under_their_own_names():
    """base (the YAML's), lr (x batch_size x devices x num_nodes / 256: solo-learn's args.json value) and
    effective (x accumulate_grad_batches: what the optimizer gets), for lr and classifier_lr."""
    folder = str(ROOT / "fashion-mnist")
    cfg = resolve_pretrain_config(
        load_config(
            folder,
            "byol.yaml",
            [
                "optimizer.lr=0.4",
                "optimizer.classifier_lr=0.2",
                "optimizer.batch_size=64",
                "+accumulate_grad_batches=3",
            ],
        )
    )
    opt = cfg["optimizer"]
    assert (opt["base_lr"], opt["lr"], opt["effective_lr"]) == pytest.approx((0.4, 0.1, 0.3))
    assert (opt["base_classifier_lr"], opt["classifier_lr"], opt["effective_classifier_lr"]) == \
        pytest.approx((0.2, 0.05, 0.15))


def test_the_resolved_config_holds_the_filled_co_block():
    folder = str(ROOT / "fashion-mnist")
    cfg = resolve_pretrain_config(load_config(folder, "co_byol.yaml", ["method_kwargs.co.weight=0.25"]))
    kwargs = cfg["method_kwargs"]
    co = kwargs.co  # typed once: the COConfig the COTerm keeps as it is
    assert isinstance(kwargs, BYOLKwargs) and isinstance(co, COConfig)
    assert co.weight == 0.25 and co.proj_output_dim == kwargs.proj_output_dim
    assert co.proj_hidden_dim == kwargs.proj_hidden_dim and co.pred_hidden_dim == kwargs.pred_hidden_dim
    model = build_method(cfg["method"], backbone_from_config(cfg), kwargs)
    assert model.co_term.cfg is co and model.co_term.cfg.weight == 0.25
    assert record(cfg)["method_kwargs"]["co"] == dataclasses.asdict(co)  # what config.json records

"""Checkpoints are read with weights_only=True: pickled code is refused with the file named, while our own
Lightning checkpoints (every optimizer), linear heads and solo-learn-style checkpoints load."""

import collections
import os
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import TINY_OVERRIDES
from omegaconf import DictConfig, OmegaConf
from solo_convert import backbone_state
from torch import nn

from solo_coss.hosts import cli
from solo_coss.hosts.pretrained import checkpoint_identity, load_linear
from solo_coss.hosts.safe_load import UnsafeCheckpointError, safe_load
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO, load_backbone, save_linear
from solo_coss.hosts.standalone.config import load_config, record, resolve_pretrain_config
from solo_coss.hosts.standalone.module import PretrainModule

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "scripts/pretrain/fashion-mnist")


class Payload:
    """Stands for any class a shared checkpoint could make torch.load import and build."""

    def __init__(self):
        self.note = "not a tensor"


class RunsCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickled_code_is_refused_naming_file_and_code(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"state_dict": {}, "hook": RunsCommand(marker)}, tmp_path / "system.ckpt")
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_load(tmp_path / "system.ckpt")
    message = str(err.value)
    assert f"refusing to load {tmp_path / 'system.ckpt'}" in message
    assert f"{os.system.__module__}.system" in message and "may run" in message
    assert not marker.exists()

    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, tmp_path / "object.ckpt")
    with pytest.raises(UnsafeCheckpointError, match=rf"object\.ckpt: it refers to {__name__}\.Payload, code"):
        safe_load(tmp_path / "object.ckpt")


def test_every_reader_refuses_it(tmp_path, monkeypatch):
    path = tmp_path / "shared.ckpt"
    torch.save({"state_dict": {"backbone.w": torch.zeros(1)}, "hyper_parameters": {"cfg": Payload()}}, path)
    for reader in (load_backbone, load_linear, backbone_state):
        with pytest.raises(UnsafeCheckpointError, match="shared.ckpt"):
            reader(path)
    with pytest.raises(UnsafeCheckpointError, match="shared.ckpt"):
        AtomicCheckpointIO().load_checkpoint(path)  # what Lightning's resume reads last.ckpt with
    refused = r"solo-coss-knn: error: pretrained_feature_extractor=.*shared\.ckpt' is not valid; refusing "
    with pytest.raises(SystemExit, match=refused):
        cli.knn(["--config-path", str(ROOT / "scripts/linear/fashion-mnist"), "--config-name", "knn.yaml",
                 f"pretrained_feature_extractor={path}"])


def test_missing_and_junk_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        safe_load(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt is not a readable checkpoint") as err:
        safe_load(tmp_path / "junk.ckpt")
    assert not isinstance(err.value, UnsafeCheckpointError)


def test_missing_file_beside_a_latest_run_names_it(tmp_path):
    (tmp_path / "byol" / "20261127-000000-abcd").mkdir(parents=True)
    (tmp_path / "byol" / "latest").symlink_to("20261127-000000-abcd")
    torch.save({"x": torch.ones(1)}, tmp_path / "byol" / "latest" / "linear_head.pt")
    with pytest.raises(FileNotFoundError, match=r"did you mean .*byol/latest/linear_head\.pt"):
        safe_load(tmp_path / "byol" / "linear_head.pt")


class RandomViews(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return [torch.rand(3, 32, 32, generator=g) for _ in range(2)], i % 10


def random_views():
    return torch.utils.data.DataLoader(RandomViews(), batch_size=8)


@pytest.mark.parametrize(
    "optimizer", ["sgd", *(pytest.param(o, marks=pytest.mark.slow) for o in ("lars", "adamw", "adam"))]
)
def test_our_lightning_checkpoints_load_and_resume(tmp_path, optimizer):
    cfg = resolve_pretrain_config(
        load_config(
            CONFIGS, "co_byol.yaml", [*TINY_OVERRIDES, f"optimizer.name={optimizer}", "~optimizer.kwargs"]
        )
    )
    cfg["data"]["num_classes"] = 10

    def trainer(steps):
        return L.Trainer(
            max_steps=steps,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            plugins=[AtomicCheckpointIO()],
        )

    first = trainer(2)
    first.fit(PretrainModule(cfg), random_views())
    first.save_checkpoint(tmp_path / "last.ckpt")
    ckpt = safe_load(tmp_path / "last.ckpt")
    assert ckpt["global_step"] == 2 and ckpt["optimizer_states"]
    assert ckpt["hyper_parameters"]["cfg"] == record(cfg)
    backbone, _ = load_backbone(tmp_path / "last.ckpt")
    torch.testing.assert_close(backbone.state_dict()["stem.0.weight"],
                               ckpt["state_dict"]["method.backbone.stem.0.weight"])
    resumed = trainer(3)
    # Lightning reads it safely
    resumed.fit(PretrainModule(cfg), random_views(), ckpt_path=tmp_path / "last.ckpt")
    assert resumed.global_step == 3

    save_linear(
        tmp_path / "linear_head.pt",
        nn.Linear(backbone.num_features, 10),
        tmp_path / "last.ckpt",
        record(cfg),
        {"val_top1": 12.5},
        checkpoint_identity(tmp_path / "last.ckpt", backbone, ckpt),
    )
    assert safe_load(tmp_path / "linear_head.pt")["metrics"] == {"val_top1": 12.5}
    _, head, _ = load_linear(tmp_path / "linear_head.pt")
    assert head.out_features == 10


def test_solo_learn_style_checkpoint_with_a_hydra_config_loads(tmp_path):
    # Hydra's compose fills the config's resolver cache (the `now` resolver): a defaultdict with items
    cfg = load_config(CONFIGS, "co_byol.yaml", ["+extra=${seed}"])
    assert dict(cfg._metadata.resolver_cache)
    weight = torch.randn(4, 3, 3, 3)
    torch.save({"state_dict": {"backbone.conv.weight": weight, "classifier.weight": torch.zeros(2, 4)},
                "hyper_parameters": {"cfg": cfg}}, tmp_path / "solo.ckpt")
    loaded = safe_load(tmp_path / "solo.ckpt")["hyper_parameters"]["cfg"]
    assert isinstance(loaded, DictConfig) and loaded.extra == 5
    assert OmegaConf.to_container(loaded, resolve=True) == OmegaConf.to_container(cfg, resolve=True)
    assert type(loaded._metadata.resolver_cache) is collections.defaultdict
    assert dict(loaded._metadata.resolver_cache) == dict(cfg._metadata.resolver_cache)
    torch.testing.assert_close(backbone_state(tmp_path / "solo.ckpt")["conv.weight"], weight)


def test_package_has_no_unsafe_torch_load():
    """Every checkpoint read in the package goes through safe_load."""
    package = ROOT / "solo_coss"
    calls = [f"{p.relative_to(ROOT)}:{i}" for p in package.rglob("*.py") for i, line in
             enumerate(p.read_text().splitlines(), 1) if "torch.load(" in line and p.name != "safe_load.py"]
    assert calls == [], calls

"""The solo-learn adapter, in the style of solo-learn's own method tests (CPU, fake data).

Skipped unless solo-learn is installed (never the case in CI): see the README's "solo-learn host" section.
"""

import json
from pathlib import Path

import pytest
import torch

solo = pytest.importorskip("solo", reason="solo-learn is not installed (git checkout + pip install -e); "
                                          "see README, section 'solo-learn host'")
pytestmark = pytest.mark.solo

from helpers import above_chance  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from solo_convert import backbone_state  # noqa: E402

from solo_coss.hosts.solo_learn import register, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KWARGS = {
    "co_byol": {"proj_hidden_dim": 32, "proj_output_dim": 16, "pred_hidden_dim": 32},
    "co_simclr": {"proj_hidden_dim": 32, "proj_output_dim": 16, "temperature": 0.2},
    "co_mocov3": {"proj_hidden_dim": 32, "proj_output_dim": 16, "pred_hidden_dim": 32, "temperature": 0.2},
    "co_dino": {"proj_hidden_dim": 32, "proj_output_dim": 16, "num_prototypes": 32},
}


def cfg_for(method, backbone="rf29_resnet18", co=None):
    cfg = OmegaConf.create(
        {
            "name": "test",
            "method": method,
            "backbone": {"name": backbone, "kwargs": {}},
            "data": {
                "dataset": "custom",
                "train_path": ".",
                "val_path": ".",
                "format": "image_folder",
                "num_workers": 0,
                "num_large_crops": 2,
                "num_small_crops": 0,
                "num_classes": 10,
            },
            "optimizer": {
                "name": "lars",
                "batch_size": 4,
                "lr": 0.3,
                "classifier_lr": 0.1,
                "weight_decay": 1e-5,
                "kwargs": {"momentum": 0.9},
            },
            "scheduler": {"name": "warmup_cosine"},
            "checkpoint": {"enabled": False},
            "auto_resume": {"enabled": False},
            "max_epochs": 2,
            "devices": 1,
            "accelerator": "cpu",
            "num_nodes": 1,
            "momentum": {"base_tau": 0.99, "final_tau": 1.0},
            "method_kwargs": {**KWARGS[method], "co": co or {}},
        }
    )
    OmegaConf.set_struct(cfg, False)
    return cfg


def build(method, backbone="rf29_resnet18", co=None, seed=0):
    register()
    cls = solo.methods.METHODS[method]
    cfg = cls.add_and_assert_specific_cfg(cfg_for(method, backbone, co))
    torch.manual_seed(seed)
    return cls(cfg)


def batch(b=4, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.arange(b), [torch.rand(b, 3, size, size, generator=g) for _ in range(2)],
            torch.randint(0, 10, (b,), generator=g)]


def test_register_is_idempotent():
    from solo.methods.base import BaseMethod

    first, second = register(), register()
    assert first == second and set(first) == {"co_byol", "co_simclr", "co_mocov3", "co_dino"}
    assert all(solo.methods.METHODS[k] is v for k, v in first.items())
    assert "rf29_resnet18" in BaseMethod._BACKBONES and "rf99_resnet50" in BaseMethod._BACKBONES
    assert not any(
        k.startswith("resnet") and k not in ("resnet18", "resnet50") for k in BaseMethod._BACKBONES
    )


@pytest.mark.parametrize("backbone", ["rf29_resnet18", "resnet18"])
@pytest.mark.parametrize("method", sorted(KWARGS))
def test_training_step_adds_local_term_with_gradients(method, backbone):
    model = build(method, backbone)
    out = model(batch()[1][0])
    assert out["feats"].shape == (4, model.features_dim) and out["logits"].shape == (4, 10)
    loss = model.training_step(batch(), 0)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.co_term.projector.parameters()
               if p.requires_grad)
    names = [g["name"] for g in model.learnable_params]
    assert "co_term" in names
    if method != "co_simclr":
        assert (model.co_term.projector, model.co_term.momentum_projector) in [
            tuple(p) for p in model.momentum_pairs
        ]
        assert all(p.grad is None for p in model.co_term.momentum_projector.parameters())


def test_zero_weight_equals_solo_baseline():
    base_cls = type(build("co_byol")).solo_base  # solo-learn's own BYOL
    model = build("co_byol", co={"weight": 0.0})
    base = base_cls(base_cls.add_and_assert_specific_cfg(cfg_for("co_byol")))
    base.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("co_term.")})
    assert model.training_step(batch(), 0).item() == pytest.approx(
        base.training_step(batch(), 0).item(), rel=1e-6
    )
    heavy = build("co_byol", co={"weight": 1.0}).training_step(batch(), 0)
    assert heavy.item() != pytest.approx(base.training_step(batch(), 0).item(), rel=1e-3)


def test_bad_co_block_is_named():
    register()
    cls = solo.methods.METHODS["co_byol"]
    with pytest.raises(ValueError, match="weight"):
        cls.add_and_assert_specific_cfg(cfg_for("co_byol", co={"wieght": 0.3}))


def make_folder(root: Path) -> None:
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    for c in range(5):  # main_linear computes top-5: at least 5 classes
        (root / f"c{c}").mkdir(parents=True)
        for i in range(8):
            pixels = (torch.rand(40, 40, 3, generator=rng) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(root / f"c{c}" / f"{i}.png")


def cpu_overrides(data: Path) -> list[str]:
    return ["data.dataset=custom", f"data.train_path={data}", f"data.val_path={data}", "data.num_workers=0",
            "devices=1", "accelerator=cpu", "strategy=auto", "precision=32", "sync_batchnorm=false",
            "max_epochs=1", "auto_resume.enabled=false"]


@pytest.mark.slow
def test_standalone_yaml_runs_in_solo_learn(tmp_path):
    """The standalone host's CIFAR config, unchanged, under solo-learn's main_pretrain."""
    make_folder(tmp_path / "data")
    run(
        "pretrain",
        [
            "--config-path",
            str(ROOT / "scripts/pretrain/cifar"),
            "--config-name",
            "co_byol.yaml",
            *cpu_overrides(tmp_path / "data"),
            f"checkpoint.dir={tmp_path / 'pre'}",
            "optimizer.batch_size=8",
            "method_kwargs.proj_hidden_dim=32",
            "method_kwargs.pred_hidden_dim=32",
            "augmentations.0.crop_size=32",
            "augmentations.1.crop_size=32",
        ],
    )
    state = backbone_state(next((tmp_path / "pre").rglob("*.ckpt")))
    assert "layer4.0.conv1.weight" in state


@pytest.mark.slow
def test_main_pretrain_then_main_linear_then_our_knn(tmp_path):
    """solo-learn's main_pretrain and main_linear on the shipped CIFAR configs (our method and backbone
    registered), then the standalone host's kNN on the solo-learn checkpoint (name with '=', unquoted)."""
    from solo_coss.hosts import cli

    make_folder(tmp_path / "data")
    data = cpu_overrides(tmp_path / "data")
    run("pretrain", ["--config-path", str(ROOT / "scripts/pretrain/cifar"), "--config-name", "co_byol.yaml",
                     *data, f"checkpoint.dir={tmp_path / 'pre'}", "optimizer.batch_size=8",
                     "backbone.name=rf29_resnet18", "method_kwargs.proj_hidden_dim=32",
                     "method_kwargs.pred_hidden_dim=32", "augmentations.0.crop_size=32",
                     "augmentations.1.crop_size=32"])
    ckpt = next((tmp_path / "pre").rglob("*.ckpt"))
    state = backbone_state(ckpt)
    assert "stem.0.weight" in state and json.loads(next((tmp_path / "pre").rglob("args.json")).read_text())[
        "method"] == "co_byol"
    run("linear", ["--config-path", str(ROOT / "scripts/linear/cifar"), "--config-name", "linear.yaml",
                   *data, f"pretrained_feature_extractor={ckpt}", "backbone.name=rf29_resnet18",
                   f"checkpoint.dir={tmp_path / 'lin'}", "optimizer.batch_size=8", "data.dataset=custom"])
    linear_ckpt = next((tmp_path / "lin").rglob("*.ckpt"))
    lin_state = torch.load(linear_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    torch.testing.assert_close(lin_state["backbone.stem.0.weight"], state["stem.0.weight"])
    results = cli.invoke(
        "knn",
        [
            "--config-path",
            str(ROOT / "scripts/linear/cifar"),
            "--config-name",
            "knn.yaml",
            f"pretrained_feature_extractor={ckpt}",
            "data.num_workers=0",
            "knn.k=[3]",
            f"+output={tmp_path / 'knn.json'}",
        ],
    )
    # the bank holds the 40 validation images themselves (val_path = train_path), so each finds its own class
    assert list(results) == ["k=3,T=0.07,cosine"] and results["k=3,T=0.07,cosine"] > above_chance(5, 40)


@pytest.mark.slow
def test_compare_through_solo_learn(tmp_path):
    """solo-coss-compare --host solo-learn: solo-learn trains, our evaluation reads its checkpoints."""
    from solo_coss.experiments import compare

    make_folder(tmp_path / "data")
    compare.main(
        [
            "cifar",
            "byol",
            "co_byol",
            "--host",
            "solo-learn",
            "--seeds",
            "3",
            "--out",
            str(tmp_path / "cmp"),
            "--config-root",
            str(ROOT / "scripts/pretrain"),
            "--eval-fraction",
            "1.0",
            "--linear-epochs",
            "2",
            "--robust-images",
            "8",
            *cpu_overrides(tmp_path / "data"),
            "optimizer.batch_size=8",
            "backbone.name=rf29_resnet18",
            "+backbone.kwargs.widths=[8,16,32,64]",
            "method_kwargs.proj_hidden_dim=32",
            "method_kwargs.pred_hidden_dim=32",
        ]
    )
    rows = (tmp_path / "cmp" / "compare.csv").read_text().splitlines()
    assert rows[0].startswith("method,seed,knn_top1") and len(rows) == 4  # byol, co_byol, random init
    assert list((tmp_path / "cmp" / "runs" / "co_byol-seed3").rglob("args.json"))

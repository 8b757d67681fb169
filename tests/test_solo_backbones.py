"""The standalone host builds solo-learn's backbones as solo-learn does: the same layers in the same order,
the same initial weights from the same seed (same initialisation, same random-number use), the same outputs;
the solo-learn host gives a CO method its base method's ViT. Skipped unless solo-learn is installed."""

from pathlib import Path

import pytest
import torch

solo = pytest.importorskip("solo", reason="solo-learn is not installed (git checkout + pip install -e); "
                                          "see README, section 'solo-learn host'")
pytestmark = pytest.mark.solo

from solo_coss.backbones import build_backbone  # noqa: E402
from solo_coss.hosts.solo_learn import register  # noqa: E402
from solo_coss.hosts.solo_learn.convert import pair_in_order  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = [("wide_resnet28w2", "byol", {}), ("poolformer_s12", "simclr", {}),
         ("vit_tiny", "dino", {"img_size": 32, "patch_size": 8}),
         ("vit_tiny", "mocov3", {"img_size": 32, "patch_size": 8}),
         ("vit_small", "mocov3", {"img_size": 48, "patch_size": 16}),
         ("swin_tiny", "byol", {"img_size": 32}), ("convnext_tiny", "byol", {})]


def solo_factory(name):
    from solo.methods.base import BaseMethod

    register()
    return BaseMethod._BACKBONES[name]


@pytest.mark.parametrize("name,method,kwargs", CASES, ids=[f"{n}-{m}" for n, m, _ in CASES])
def test_same_network_weights_and_outputs_as_solo_learn(name, method, kwargs):
    torch.manual_seed(3)
    ours = build_backbone(name, method=method, **kwargs).eval()
    torch.manual_seed(3)
    theirs = solo_factory(name)(method, **kwargs).eval()
    state, their_state = ours.net.state_dict(), theirs.state_dict()
    for mine, their in pair_in_order(state, their_state, name, same_shape=True).items():
        assert torch.equal(state[mine], their_state[their]), (
            f"{name}: {mine} differs from solo-learn's {their}"
        )
    x = torch.rand(2, 3, kwargs.get("img_size", 32), kwargs.get("img_size", 32))
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
        assert_reader_keeps_the_forward(theirs, ours, x, name)


def assert_reader_keeps_the_forward(theirs, ours, x, name):
    """The map reader on solo-learn's own network (its forward_intermediates, or our adapter where it has
    none): the global representation is solo-learn's forward, bit for bit, and every stage's map is the one
    the standalone host reads on its build of the same network."""
    from solo_coss.backbones import read_map

    for stage in range(1, ours.num_stages + 1):
        glob, fmap = read_map(theirs, x, stage, name)
        assert torch.equal(glob, theirs(x)), (name, stage)
        assert torch.equal(fmap, ours.global_and_local(x, stage)[1]), (name, stage)


@torch.no_grad()
def test_reader_keeps_solo_learns_torchvision_resnet_forward():
    """solo-learn's resnet18 is torchvision's (our adapter reads it), the standalone host's our wrapper."""
    torch.manual_seed(3)
    theirs = solo_factory("resnet18")("byol").eval()
    theirs.fc = torch.nn.Identity()  # as solo-learn's BaseMethod does
    ours = build_backbone("resnet18").eval()
    ours.load_state_dict({k: v for k, v in zip(ours.state_dict(), theirs.state_dict().values())})
    x = torch.rand(2, 3, 64, 64)
    for stage in range(1, 5):
        glob, fmap = read_map_of(theirs, x, stage)
        assert torch.equal(glob, theirs(x))
        assert torch.equal(fmap, ours.global_and_local(x, stage)[1])
    torch.testing.assert_close(read_map_of(theirs, x, None)[0], ours(x))  # a mean vs AdaptiveAvgPool2d


def read_map_of(net, x, stage):
    from solo_coss.backbones import read_map

    return read_map(net, x, stage, "resnet18")


def test_co_method_gets_its_base_methods_vit_in_solo_learn():
    factory = solo_factory("vit_tiny")
    assert type(factory("co_mocov3", img_size=32, patch_size=8)).__name__ == "VisionTransformerMoCo"
    assert type(factory("mocov3", img_size=32, patch_size=8)).__name__ == "VisionTransformerMoCo"
    assert type(factory("co_dino", img_size=32, patch_size=8)).__name__ == "VisionTransformer"
    # main_linear's default
    assert type(factory(None, img_size=32, patch_size=8)).__name__ == "VisionTransformer"
    with pytest.raises(ValueError, match="vit_tiny: img_size=30 does not divide by patch_size=4"):
        factory("co_mocov3", img_size=30, patch_size=4)
    assert register() == register()  # idempotent: factories are not wrapped twice
    from solo.methods.base import BaseMethod

    assert BaseMethod._BACKBONES["vit_tiny"].factory.__module__.startswith("solo.")


def test_backbone_without_local_map_is_one_clear_error():
    from solo_coss.backbones import stage_channels

    with pytest.raises(
        ValueError,
        match=r"^backbone 'mlp' \(Linear\) exposes no local map CO-SSL can use; the "
        r"families that work: ViT, Swin, ConvNeXt, ResNet, WideResNet, PoolFormer$",
    ):
        stage_channels(torch.nn.Linear(2, 2), None, "mlp")


VIT = ("backbone.name=vit_tiny", "+backbone.kwargs.img_size=32", "+backbone.kwargs.patch_size=8")
RUNS = [("co_dino", VIT), ("co_mocov3", VIT), ("co_byol", ("backbone.name=wide_resnet28w2",))]


@pytest.mark.parametrize("method,overrides", RUNS, ids=[f"{m}-{o[0].split('=')[1]}" for m, o in RUNS])
def test_solo_learn_host_trains_co_methods_on_these_backbones(method, overrides):
    """solo-learn's own method classes + our CO term, two optimizer steps under a Lightning Trainer: the local
    loss is logged and non-zero, and the backbone moves."""
    from parity.cases import Case, fit, make_batches
    from parity.solo_side import build_solo, solo_batches

    case = Case(method, method, overrides)
    model, _ = build_solo(case.config())
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    capture = fit(model, solo_batches(make_batches(case)), 1, 1)
    local = [entry["train_local_loss"] for entry in capture.logged]
    assert len(local) == 2 and all(v > 0 for v in local)
    moved = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, before[k])]
    assert len(moved) > len(before) // 2
    if method == "co_mocov3":
        assert (
            type(model.backbone).__name__ == type(model.momentum_backbone).__name__ == "VisionTransformerMoCo"
        )


def test_vit_yaml_runs_in_solo_learns_main_pretrain(tmp_path):
    """solo-coss-pretrain --host solo-learn on the shipped CO-DINO ViT config (tiny sizes, CPU, fake
    images)."""
    from solo_convert import backbone_state
    from test_solo_learn import cpu_overrides, make_folder

    from solo_coss.hosts.solo_learn import run

    make_folder(tmp_path / "data")
    run(
        "pretrain",
        [
            "--config-path",
            str(ROOT / "scripts/pretrain/imagenet-100"),
            "--config-name",
            "co_dino_vit.yaml",
            *cpu_overrides(tmp_path / "data"),
            "data.format=image_folder",
            f"checkpoint.dir={tmp_path / 'pre'}",
            "data.val_path=null",  # solo-learn validates custom data at 224 px, this ViT takes 32 px
            "optimizer.batch_size=8",
            "method_kwargs.proj_hidden_dim=32",
            "method_kwargs.num_prototypes=64",
            "method_kwargs.co.proj_hidden_dim=32",
            "method_kwargs.co.num_prototypes=64",
            "+backbone.kwargs.img_size=32",
            "+backbone.kwargs.patch_size=8",
            "augmentations.0.crop_size=32",
            "augmentations.1.crop_size=32",
        ],
    )
    state = backbone_state(next((tmp_path / "pre").rglob("*.ckpt")))
    assert "blocks.11.attn.qkv.weight" in state and state["pos_embed"].shape == (1, 17, 192)

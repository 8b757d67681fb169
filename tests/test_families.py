"""solo-learn's backbone families in the standalone host: where the local maps are, their shapes, the
stage range, the ViT a method gets, and bad input. (Equality with solo-learn's own builders:
test_solo_backbones.py, with solo-learn installed.)"""

import copy
from pathlib import Path

import pytest
import torch
from helpers import above_chance
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from solo_coss.backbones import backbones_by_family, build_backbone, family_of, read_map, reading_maps
from solo_coss.backbones.receptive_field import empirical_receptive_field
from solo_coss.backbones.table import family_rows, sized_kwargs
from solo_coss.backbones.vit import MoCoV3ViT, sincos_position_embedding
from solo_coss.methods import build_method

# (channels, side) of the last local map at 32 px (ViTs with img_size 32 and 4 px patches, Swin with
# img_size 32) and at 224 px (defaults: 16 px patches for ViTs); the README's "Backbones" table.
LOCAL_MAPS = {"wide_resnet28w2": ((128, 8), (128, 56)), "vit_tiny": ((192, 8), (192, 14)),
              "swin_tiny": ((768, 1), (768, 7)), "convnext_tiny": ((768, 1), (768, 7)),
              "poolformer_s12": ((512, 1), (512, 7))}


def reference_map(name: str, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The family's local map computed independently, through timm's / the model's own layers."""
    if name.startswith("vit"):
        tokens = net.forward_features(x)[:, net.num_prefix_tokens:]  # after the final norm
        side = int(tokens.shape[1] ** 0.5)
        return tokens.reshape(len(x), side, side, -1).permute(0, 3, 1, 2)
    if name.startswith("swin"):
        return net.forward_features(x).permute(0, 3, 1, 2)
    if name.startswith("convnext"):
        return net.forward_features(x)
    if name.startswith("poolformer"):
        h = net.patch_embed(x)
        for module in net.network:
            h = module(h)
        return net.norm(h)
    return net.relu(net.bn1(net.block3(net.block2(net.block1(net.conv1(x))))))


SHAPE_CASES = [
    pytest.param(n, s, marks=[pytest.mark.slow] if s == 224 else []) for n in LOCAL_MAPS for s in (32, 224)
]


@pytest.mark.parametrize("name,size", SHAPE_CASES)
@torch.no_grad()
def test_local_map_is_the_family_definition(name, size):
    torch.manual_seed(0)
    model = build_backbone(name, **sized_kwargs(name, size)).eval()
    x = torch.rand(2 if size == 32 else 1, 3, size, size)
    glob, fmap = model.global_and_local(x)
    channels, side = LOCAL_MAPS[name][size == 224]
    assert fmap.shape == (len(x), channels, side, side)
    torch.testing.assert_close(fmap, reference_map(name, model.net, x))
    torch.testing.assert_close(glob, model.net(x))  # the global representation is the network's own
    assert glob.shape == (len(x), model.num_features)
    if name.startswith(("wide", "poolformer", "swin")):  # (ConvNeXt normalises after pooling, a ViT uses its
        torch.testing.assert_close(glob, fmap.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)  # class token)
    stages = model.stage_features(x)
    assert [s.shape[1] for s in stages] == model.stage_channels and len(stages) == model.num_stages
    torch.testing.assert_close(stages[-1], fmap)


@torch.no_grad()
def test_vit_earlier_block_is_its_patch_tokens_without_the_final_norm():
    torch.manual_seed(0)
    model = build_backbone("vit_micro", img_size=32, patch_size=4).eval()
    x = torch.rand(2, 3, 32, 32)
    _, block3 = model.global_and_local(x, stage=3)
    net = model.net
    h = net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(x))))
    for block in net.blocks[:3]:
        h = block(h)
    torch.testing.assert_close(block3, h[:, 1:].reshape(2, 8, 8, 128).permute(0, 3, 1, 2))
    assert not torch.allclose(block3, model.global_and_local(x, stage=6)[1])


@torch.no_grad()
def test_reading_maps_routes_the_networks_own_calls_for_the_block_only():
    """The solo-learn host's mechanism: inside the block each call of the network returns its usual output and
    records the map read_map reads; after it (an error included) the network is untouched."""
    torch.manual_seed(0)
    net = build_backbone("vit_micro", img_size=32, patch_size=4).net.eval()
    x, y = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32)
    expected = net(x)
    with reading_maps(net, 3, "vit_micro") as maps:
        assert torch.equal(net(x), expected)
        net(y)
    assert [m.shape for m in maps] == [(2, 128, 8, 8), (1, 128, 8, 8)]
    assert torch.equal(maps[0], read_map(net, x, 3)[1])
    assert "forward" not in vars(net) and torch.equal(net(x), expected)
    with pytest.raises(RuntimeError, match="boom"), reading_maps(net) as maps:
        raise RuntimeError("boom")
    assert "forward" not in vars(net)


def test_stage_out_of_range_names_the_range():
    with pytest.raises(ValueError, match=r"co.stage=7 is not valid; vit_micro \(ViT.*has stages 1..6"):
        build_method("co_byol", build_backbone("vit_micro", img_size=32, patch_size=4),
                     {"proj_hidden_dim": 16, "proj_output_dim": 8, "pred_hidden_dim": 16, "co": {"stage": 7}},
                     backbone_name="vit_micro")
    with pytest.raises(ValueError, match=r"wide_resnet28w2 \(WideResNet.*has stages 1..3"):
        build_backbone("wide_resnet28w2").resolve_stage(4, "wide_resnet28w2")
    with pytest.raises(ValueError, match=r"has stages 1..4"):
        build_backbone("rf29_resnet18").resolve_stage(5)
    assert build_backbone("convnext_tiny").resolve_stage(None) == 4


def test_unknown_backbone_lists_every_name_of_every_family():
    with pytest.raises(ValueError) as err:
        build_backbone("vit_huge")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("backbone.name='vit_huge' is not valid; choose from [")
    for names in backbones_by_family().values():
        assert all(f"'{n}'" in message for n in names)
    with pytest.raises(ValueError, match="exposes no local map .* ViT, Swin, ConvNeXt, ResNet, WideResNet, "
                                         "PoolFormer"):
        family_of(nn.Linear(2, 2), "mlp")


def test_vit_image_size_must_divide_by_patch_size():
    with pytest.raises(ValueError, match=r"^vit_tiny: img_size=30 does not divide by patch_size=4") as err:
        build_backbone("vit_tiny", img_size=30, patch_size=4)
    assert "\n" not in str(err.value)


def test_sizes_fixed_by_the_name_and_unknown_kwargs_are_refused():
    with pytest.raises(ValueError, match=r"backbone.kwargs.depth=.* is not valid; vit_tiny fixes it"):
        build_backbone("vit_tiny", depth=2)
    with pytest.raises(ValueError, match=r"backbone.kwargs.dims=.* is not valid; convnext_tiny fixes it"):
        build_backbone("convnext_tiny", dims=(8, 16, 32, 64))
    with pytest.raises(ValueError, match=r"backbone.kwargs.layer_scale_init_value=.* poolformer_s36 fixes"):
        build_backbone("poolformer_s36", layer_scale_init_value=1e-5)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['img_size'\] in backbone.kwargs of wide_"):
        build_backbone("wide_resnet28w2", img_size=32)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colour'\] in backbone.kwargs of swin_tiny"):
        build_backbone("swin_tiny", colour=3)


def test_each_method_gets_its_vit():
    """As solo-learn picks the ViT by method name, and a CO method its base method's."""
    for method in ("mocov3", "co_mocov3"):
        vit = build_backbone("vit_tiny", method=method, img_size=32, patch_size=8).net
        assert type(vit) is MoCoV3ViT and vit.blocks[0].attn.num_heads == 12
        assert not vit.pos_embed.requires_grad
        torch.testing.assert_close(vit.pos_embed, sincos_position_embedding((4, 4), 192))
    for method in ("dino", "co_dino", None):
        vit = build_backbone("vit_tiny", method=method, img_size=32, patch_size=8).net
        assert (
            type(vit) is VisionTransformer
            and vit.blocks[0].attn.num_heads == 3
            and vit.pos_embed.requires_grad
        )


def test_sincos_embedding_encodes_row_then_column():
    table = sincos_position_embedding((3, 3), 8)[0]
    assert table.shape == (10, 8) and not table[0].any()  # class token: zeros
    freqs = 1.0 / 10000.0 ** (torch.arange(2) / 2)
    row, col = 2, 1
    expected = torch.cat([(row * freqs).sin(), (row * freqs).cos(), (col * freqs).sin(), (col * freqs).cos()])
    torch.testing.assert_close(table[1 + row * 3 + col], expected)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_position_embedding((2, 2), 6)


def test_vit_rf_is_global_and_wide_resnet_rf_is_measured():
    assert build_backbone("vit_micro", img_size=32, patch_size=4).receptive_field == "global"
    wrn = build_backbone("wide_resnet28w2")  # 3 + 4 blocks x 4 + (2 + 4 + 3 x 8) + (4 + 8 + 3 x 16)
    assert wrn.receptive_field == empirical_receptive_field(wrn) == 109


@pytest.mark.slow
def test_receptive_fields_of_swin_and_convnext():
    assert build_backbone("swin_tiny").receptive_field == "global"  # 224 px: the last window covers the map
    assert build_backbone("swin_tiny", img_size=448).receptive_field is None  # 14x14 map, 7x7 windows
    # stem 4; stages: 3 x 6 x 4, then (4 + 3 x 6 x 8), (8 + 9 x 6 x 16), (16 + 3 x 6 x 32)
    assert build_backbone("convnext_tiny").receptive_field == 1688


FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TRAIN_TINY = [
    "data.fraction=0.004",
    "data.val_fraction=0.01",
    "data.num_workers=0",
    "optimizer.batch_size=16",
    "method_kwargs.proj_hidden_dim=32",
    "method_kwargs.proj_output_dim=16",
    "+max_steps=3",
    "log_every_n_steps=1",
    "+enable_progress_bar=false",
    "precision=32",
    "knn_eval.enabled=false",
]
MICRO_VIT = ["backbone.name=vit_micro", "~backbone.kwargs", "+backbone.kwargs.img_size=32",
             "+backbone.kwargs.patch_size=4"]
# co.stage=null: the files' stage 4 is a ResNet's last; on vit_micro it would be block 4 of 6, on a WideResNet
# out of range (3 stages)
RUNS = [("co_dino", ("method_kwargs.num_prototypes=32", *MICRO_VIT, "method_kwargs.co.stage=null")),
        ("co_mocov3_vit", ("method_kwargs.pred_hidden_dim=32",)),
        ("co_byol", ("method_kwargs.pred_hidden_dim=32", "backbone.name=wide_resnet28w2", "~backbone.kwargs",
                     "method_kwargs.co.stage=null"))]


@pytest.mark.parametrize("config,overrides", RUNS, ids=[c for c, _ in RUNS])
def test_the_local_term_reads_each_familys_map(config, overrides):
    """The method the standalone host builds from the config computes its local loss on the family's map: the
    same loss from maps computed directly through the network's layers (reference_map) is equal."""
    from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config
    from solo_coss.hosts.standalone.module import PretrainModule

    root = str(Path(__file__).resolve().parents[1] / "scripts/pretrain/fashion-mnist")
    settings = [o for o in TRAIN_TINY if not o.startswith(("+", "log_every"))] + [o for o in overrides]
    cfg = resolve_pretrain_config(load_config(root, f"{config}.yaml", settings))
    cfg["data"]["num_classes"] = 10
    torch.manual_seed(0)
    method = PretrainModule(cfg).method.eval()  # no stochastic depth: both computations see the same network
    views = [torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)]
    state = copy.deepcopy(method.co_term.state_dict())  # CO-DINO's centre moves with every local loss
    out = method.training_loss(views)
    method.co_term.load_state_dict(state)
    name = method.backbone.name
    with torch.no_grad():
        online = [reference_map(name, method.backbone.net, v) for v in views]
        target = [reference_map(name, method.momentum_backbone.net, v) for v in views]
        direct = method.co_term.combine(torch.zeros(()), online, target, epoch=0)[1]
    torch.testing.assert_close(out["local_loss"], direct, rtol=1e-4, atol=1e-6)
    assert out["local_loss"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not Path(FMNIST).is_file(), reason="dataset-fashion-mnist not installed")
@pytest.mark.parametrize("config,overrides", RUNS, ids=[c for c, _ in RUNS])
def test_standalone_host_trains_co_methods_on_these_backbones(tmp_path, config, overrides):
    from solo_coss.experiments.compare_plots import read_metrics
    from solo_coss.hosts.standalone.checkpoints import load_backbone

    run = train_tiny(tmp_path, config, overrides)
    local = [v for _, v in read_metrics(run)["train/local_loss_step"]]
    assert len(local) == 3 and all(v > 0 for v in local)
    backbone, cfg = load_backbone(run / "last.ckpt")
    assert backbone.name == cfg["backbone"]["name"]
    if config == "co_mocov3_vit":
        assert type(backbone.net) is MoCoV3ViT


def train_tiny(tmp_path, config, overrides):
    from pathlib import Path

    from solo_coss.hosts import cli

    root = Path(__file__).resolve().parents[1] / "scripts/pretrain/fashion-mnist"
    cli.pretrain(["--config-path", str(root), "--config-name", f"{config}.yaml", f"checkpoint.dir={tmp_path}",
                  *TRAIN_TINY, *overrides])
    return (next(tmp_path.iterdir()) / "latest").resolve()


@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("pathlib").Path(FMNIST).is_file(), reason="dataset-fashion-mnist not installed"
)
def test_evaluation_tools_accept_a_vit_run(tmp_path):
    """Linear probe, kNN, then the report (redundancy on patch tokens, ERFs at patch positions,
    robustness)."""
    import json
    from pathlib import Path

    from solo_coss.experiments.report import build_report
    from solo_coss.hosts import cli
    from solo_coss.hosts.pretrained import run_label

    run = train_tiny(tmp_path / "pre", *RUNS[1])
    linear = [
        f"pretrained_feature_extractor={run / 'last.ckpt'}",
        "data.fraction=0.01",
        "data.val_fraction=0.02",
        "data.num_workers=0",
    ]
    root = Path(__file__).resolve().parents[1] / "scripts/linear/fashion-mnist"
    cli.linear(["--config-path", str(root), "--config-name", "linear.yaml", *linear, "max_epochs=1"])
    cli.knn(["--config-path", str(root), "--config-name", "knn.yaml", *linear, "knn.k=[5]"])
    knn = json.loads((run / "knn.json").read_text())
    # 200 validation images (val_fraction 0.02), 10 classes
    assert knn["top1"]["k=5,T=0.07,cosine"] > above_chance(10, 200) and knn["checkpoint"]["global_step"] > 0
    text = build_report([run], tmp_path / "report", num_images=12, erf_images=1, families=["noise"])
    redundancy = json.loads((tmp_path / "report" / "report.json").read_text())["redundancy"][run_label(run)]
    pearson, intra = redundancy["pearson"], redundancy["intra_image_similarity"]
    assert f"| {run_label(run)} | {pearson:.3f} | {intra:.3f} |" in text
    assert -1 <= pearson <= 1 and -1 <= intra <= 1 and intra != 0
    assert (tmp_path / "report" / "erf.png").is_file() and (tmp_path / "report" / "robustness.md").is_file()


@pytest.mark.slow
def test_family_table_has_the_readme_map_shapes():
    """python -m solo_coss.backbones.table --families: the README's shapes, "global" RF for a ViT."""
    rows = {name: (family, rf, shapes) for name, family, rf, _, _, shapes in family_rows((32, 224))}
    for name, ((c32, s32), (c224, s224)) in LOCAL_MAPS.items():
        assert rows[name][2] == [f"{c32}x{s32}x{s32}", f"{c224}x{s224}x{s224}"]
    assert rows["vit_tiny"][:2] == ("vit", "global") and rows["wide_resnet28w2"][1] == 109

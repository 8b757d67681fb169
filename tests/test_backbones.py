import pytest
import timm
import torch
import torchvision

import solo_coss  # noqa: F401  (registers the RF-ResNets in timm)
from solo_coss.backbones import VARIANTS, build_backbone, list_backbones
from solo_coss.backbones.torchvision_resnet import TORCHVISION_RESNETS

SMALL = ["rf29_resnet18", "resnet18", "bagnet33"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_timm_creates_every_variant(name):
    model = timm.create_model(name)
    assert type(model).__name__ == "RFResNet"
    expected = 33 if name == "bagnet33" else int(name.split("_")[0][2:])
    assert model.receptive_field == expected


def _expected_hw(name: str, size: int) -> int:
    # total stride 8 for the ResNet-18 family and bagnet33, 32 for the rest; "same" padding rounds up
    stride = 8 if name.endswith("resnet18") and name.startswith("rf") or name == "bagnet33" else 32
    return -(-size // stride)


@pytest.mark.parametrize(
    "size", [32, pytest.param(64, marks=pytest.mark.slow), pytest.param(224, marks=pytest.mark.slow)]
)
# the ResNet-18 family, BagNet-33 and resnet18 in the default suite; the ResNet-50-sized ones (23M parameters)
# slow
@pytest.mark.parametrize(
    "name",
    [
        n if n.endswith("resnet18") or n == "bagnet33" else pytest.param(n, marks=pytest.mark.slow)
        # solo-learn's: test_families.py
        for n in [*sorted(VARIANTS), *TORCHVISION_RESNETS]
    ],
)
@torch.no_grad()
def test_map_is_input_over_stride_and_output_its_mean(name, size):
    model = build_backbone(name).eval()
    batch = 2 if size < 224 else 1
    x = torch.rand(batch, 3, size, size)
    expected_hw = _expected_hw(name, size)
    fmap = model.forward_features(x)
    assert fmap.shape == (batch, model.num_features, expected_hw, expected_hw)
    stages = model.stage_features(x)
    assert [s.shape[1] for s in stages] == model.stage_channels
    torch.testing.assert_close(stages[-1], fmap)
    torch.testing.assert_close(model(x), fmap.mean(dim=(2, 3)))
    assert model(x).shape == (batch, model.num_features)


@torch.no_grad()
def test_post_pooling_mlp_changes_output_not_dim():
    model = build_backbone("rf29_resnet18", head_mlp_dim=64).eval()
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, model.num_features)
    assert not torch.allclose(out, model.forward_features(x).mean(dim=(2, 3)))


def _count(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("fc."))


def test_parameter_counts_match_paper_scale():
    rf99 = _count(build_backbone("rf99_resnet50"))
    r50 = _count(torchvision.models.resnet50())
    assert abs(rf99 - r50) / r50 < 0.01  # paper: 23.7M vs 23.5M
    assert _count(build_backbone("resnet50")) == r50
    assert _count(build_backbone("resnet18")) == _count(torchvision.models.resnet18())
    # BagNet-33 has 18.31M parameters with its 2048 x 1000 fc, i.e. 16.26M without; ours differs by its stem
    assert abs(_count(build_backbone("bagnet33")) - 16.26e6) < 0.05e6


def test_rf_does_not_grow_with_blocks_after_the_spatial_ones():
    base = dict(block="bottleneck", spatial_blocks=(1, 1, 1, 1))
    shallow = solo_coss.backbones.RFResNet(layers=(1, 1, 1, 1), **base)
    deep = solo_coss.backbones.RFResNet(layers=(3, 5, 4, 3), **base)
    assert shallow.receptive_field == deep.receptive_field == 75
    assert _count(deep) > _count(shallow)
    # ...while a 3x3 block more does grow it, by 2 * (stride at that layer)
    wider = solo_coss.backbones.RFResNet(layers=(3, 5, 4, 3), block="bottleneck", spatial_blocks=(1, 2, 1, 1))
    assert wider.receptive_field == 75 + 2 * 8


def test_every_figure2_choice_is_an_argument():
    common = dict(block="basic", layers=(2, 2, 2, 2), spatial_blocks=(1, 1, 1, 1))
    with_pool = solo_coss.backbones.RFResNet(stem_maxpool=True, strides=(1, 2, 2, 2), **common)
    no_pool = solo_coss.backbones.RFResNet(stem_maxpool=False, strides=(1, 2, 2, 2), **common)
    flat = solo_coss.backbones.RFResNet(stem_maxpool=False, strides=(1, 1, 1, 1), **common)
    # stem 7 (jump 2), pool +2*2, then 2 convs per layer at jumps 4, 8, 16, 32 (first conv at the old jump)
    assert with_pool.receptive_field == 7 + 4 + 2 * (4 + 4) + 2 * (4 + 8) + 2 * (8 + 16) + 2 * (16 + 32)
    assert no_pool.receptive_field == 7 + 2 * (2 + 2) + 2 * (2 + 4) + 2 * (4 + 8) + 2 * (8 + 16)
    assert flat.receptive_field == 7 + 8 * 2 * 2
    with torch.no_grad():
        assert flat.eval().forward_features(torch.rand(1, 3, 32, 32)).shape[-1] == 16


@torch.no_grad()
def test_rf_resnet_is_a_full_timm_model():
    """timm's ResNet API: a classifier on the pooled features (num_classes, get/reset_classifier),
    forward_intermediates with the stem at index 0, feature_info, features_only, a pretrained_cfg."""
    torch.manual_seed(0)
    assert timm.create_model("rf29_resnet18", in_chans=1).in_chans == 1
    model = timm.create_model("rf29_resnet18", num_classes=10, widths=(8, 16, 32, 64)).eval()
    x = torch.rand(2, 3, 32, 32)
    pooled = model.forward_head(model.forward_features(x), pre_logits=True)
    assert model.num_classes == 10 and model.get_classifier() is model.fc
    assert model.get_classifier(name_only=True) == "fc"
    torch.testing.assert_close(model(x), model.fc(pooled))
    model.reset_classifier(0)
    assert model.num_classes == 0 and torch.equal(model(x), pooled)
    final, maps = model.forward_intermediates(x)
    assert torch.equal(final, model.forward_features(x)) and torch.equal(maps[-1], final)
    shapes = [(8, 16, 16), (8, 16, 16), (16, 16, 16), (32, 8, 8), (64, 4, 4)]
    assert [tuple(m.shape[1:]) for m in maps] == shapes
    info = [(i["num_chs"], i["reduction"]) for i in model.feature_info]
    assert info == [(c, 32 // h) for c, h, _ in shapes]
    assert torch.equal(model.global_and_local(x, 2)[1], maps[2])
    features = timm.create_model("rf29_resnet18", features_only=True, out_indices=(2, 4),
                                 widths=(8, 16, 32, 64))
    features.model.load_state_dict(model.state_dict())
    assert features.feature_info.channels() == [16, 64] and features.feature_info.reduction() == [2, 8]
    assert all(torch.equal(a, b) for a, b in zip(features.eval()(x), (maps[2], maps[4])))
    assert timm.data.resolve_model_data_config(model)["input_size"] == (3, 64, 64)


def test_timm_refuses_weights_that_do_not_exist_and_other_pools():
    with pytest.raises(ValueError, match="pretrained=True is not valid; no pretrained weights exist for"):
        timm.create_model("rf29_resnet18", pretrained=True)
    with pytest.raises(ValueError, match=r"global_pool='max' is not valid; choose from \['avg'\]"):
        timm.create_model("rf29_resnet18", global_pool="max")


def test_cifar_stem_is_solo_learns():
    """solo-learn's CIFAR stem: 3x3 stride-1 conv with padding 2, no max-pool: a 34 px map after the stem
    and a 5x5 last map at 32 px."""
    model = build_backbone("resnet18", cifar_stem=True).eval()
    conv = model.stem[0]
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (2, 2))
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.stem)
    assert model.forward_features(torch.rand(1, 3, 32, 32)).shape[-1] == 5


def test_one_in_chan_takes_grey_images_and_refuses_rgb():
    model = build_backbone("rf29_resnet18", in_chans=1).eval()
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError, match=r"expects \(B, 1, H, W\)"):
        model(torch.rand(2, 3, 32, 32))


def test_bad_arguments_name_valid_choices():
    with pytest.raises(ValueError, match="rf29_resnet18"):
        build_backbone("rf30_resnet18")
    with pytest.raises(ValueError, match=r"stride=3 .*\[1, 2\]"):
        build_backbone("rf29_resnet18", strides=(1, 3, 2, 2))
    with pytest.raises(ValueError, match="bottleneck"):
        solo_coss.backbones.RFResNet(block="wide")
    with pytest.raises(ValueError, match="resnet50"):
        build_backbone("resnet101")
    with pytest.raises(ValueError, match=r"stem_stride=4 .*\[1, 2\]"):
        build_backbone("rf99_resnet50", stem_stride=4)
    with pytest.raises(ValueError, match=r"layers=\[2, 2, 2\] is not valid; give one integer per layer"):
        build_backbone("rf29_resnet18", layers=(2, 2, 2))
    with pytest.raises(ValueError, match=r"widths=\[1\] is not valid; give one integer per layer"):
        build_backbone("rf29_resnet18", widths=[1])
    with pytest.raises(ValueError, match=r"expects \(B, 3, H, W\)"):
        build_backbone("resnet18")(torch.rand(1, 1, 32, 32))
    assert set(VARIANTS) < set(list_backbones())

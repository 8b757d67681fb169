import pytest
import timm
import torch
import torchvision

import solo_coss  # noqa: F401  (registers the RF-ResNets in timm)
from solo_coss.backbones import VARIANTS, build_backbone, list_backbones

SMALL = ["rf29_resnet18", "resnet18", "bagnet33"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_timm_creates_every_variant(name):
    model = timm.create_model(name)
    assert type(model).__name__ == "RFResNet"
    expected = 33 if name == "bagnet33" else int(name.split("_")[0][2:])
    assert model.receptive_field == expected


@pytest.mark.parametrize("name,size,expected_hw", [
    ("rf29_resnet18", 32, 4), ("rf29_resnet18", 64, 8), ("rf29_resnet18", 224, 28),
    ("resnet18", 32, 1), ("resnet18", 224, 7), ("bagnet33", 64, 8),
])
@torch.no_grad()
def test_shapes(name, size, expected_hw):
    model = build_backbone(name).eval()
    x = torch.rand(2, 3, size, size)
    fmap = model.forward_features(x)
    assert fmap.shape == (2, model.num_features, expected_hw, expected_hw)
    stages = model.stage_features(x)
    assert [s.shape[1] for s in stages] == model.stage_channels
    torch.testing.assert_close(stages[-1], fmap)
    torch.testing.assert_close(model(x), fmap.mean(dim=(2, 3)))


@torch.no_grad()
def test_post_pooling_mlp_changes_output_not_dim():
    model = build_backbone("rf29_resnet18", head_mlp_dim=64).eval()
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, model.num_features)
    assert not torch.allclose(out, model.forward_features(x).mean(dim=(2, 3)))


def test_parameter_counts_match_paper_scale():
    count = lambda m: sum(p.numel() for n, p in m.named_parameters() if not n.startswith("fc."))  # noqa: E731
    rf99 = count(build_backbone("rf99_resnet50"))
    r50 = count(torchvision.models.resnet50())
    assert abs(rf99 - r50) / r50 < 0.01  # paper: 23.7M vs 23.5M
    assert count(build_backbone("resnet50")) == r50


def test_cifar_stem_keeps_resolution():
    model = build_backbone("resnet18", cifar_stem=True).eval()
    assert model.forward_features(torch.rand(1, 3, 32, 32)).shape[-1] == 4


def test_in_chans():
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
    assert set(VARIANTS) < set(list_backbones())

import pytest
import torch
from torch import nn

from solo_coss.backbones import VARIANTS, build_backbone
from solo_coss.backbones.receptive_field import (
    empirical_receptive_field,
    input_gradient_map,
    theoretical_receptive_field,
    total_stride,
)


# rf29 and rf49 in the default suite; every other variant slow (the ResNet-50 family has 23M parameters)
@pytest.mark.parametrize(
    "name",
    [
        n if n in ("rf29_resnet18", "rf49_resnet18") else pytest.param(n, marks=pytest.mark.slow)
        for n in sorted(VARIANTS)
    ],
)
def test_theory_and_measurement_agree(name):
    model = build_backbone(name)
    assert empirical_receptive_field(model) == model.receptive_field


@pytest.mark.slow  # measures rf99_resnet50
def test_variants_have_the_rf_in_their_name():
    assert empirical_receptive_field(build_backbone("rf29_resnet18")) == 29
    assert empirical_receptive_field(build_backbone("rf99_resnet50")) == 99
    assert build_backbone("bagnet33").receptive_field == 33


def test_torchvision_resnet_rf():
    # Kernel arithmetic for torchvision's ResNet-50 gives 427 (the paper quotes 425 for ResNet-50).
    assert build_backbone("resnet50").receptive_field == 427
    assert build_backbone("resnet18").receptive_field == 435


def test_rf_and_total_stride_of_a_known_stack():
    stack = nn.Sequential(
        nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 5, stride=2), nn.Conv2d(1, 1, 3)
    )
    # 3 -> +1*1 (pool k2) = 4, jump 2 -> +4*2 = 12, jump 4 -> +2*4 = 20
    assert theoretical_receptive_field(stack) == 20
    assert total_stride(stack) == 4


def test_rf29_gradient_is_zero_outside_window():
    model = build_backbone("rf29_resnet18").eval()
    x = torch.rand(1, 3, 64, 64)
    grad = input_gradient_map(model, x, 4, 4)[0]
    nz = torch.nonzero(grad > 0)
    assert (nz.max(0).values - nz.min(0).values + 1).tolist() == [29, 29]
    # The window of map position 4 (stride 8) is centred on pixel 4 * 8 = 32.
    assert nz.min(0).values.tolist() == [32 - 14, 32 - 14]


class _Residual(nn.Module):
    def __init__(self, main: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.main, self.downsample = main, shortcut

    def forward(self, x):
        return self.main(x) + self.downsample(x)


def test_residual_rf_is_max_over_branches():
    narrow = _Residual(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 1))
    wide = _Residual(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 7, padding=3))
    assert theoretical_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), narrow)) == 3 + 2 * 2
    assert theoretical_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), wide)) == 3 + 6 * 2
    with pytest.raises(ValueError, match="shortcut stride 1 differs from the main branch's 2"):
        theoretical_receptive_field(_Residual(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 1)))


def test_cifar_stem_rf_theory():
    model = build_backbone("resnet18", cifar_stem=True)
    # 3x3/1 stem, then 2 convs per block: 4 at jump 1, then 1 + 3 at jumps 1|2, 2|4, 4|8
    assert model.receptive_field == 3 + 8 + (2 + 12) + (4 + 24) + (8 + 48) == 109


@pytest.mark.slow
def test_cifar_stem_rf_measurement():
    assert empirical_receptive_field(build_backbone("resnet18", cifar_stem=True)) == 109


def test_measurement_does_not_depend_on_max_pool_argmax():
    # One max-pool: a random input sends gradient to one pixel per window; the probe must still see the
    # window.
    stack = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1),
                          nn.Conv2d(1, 1, 3, padding=1))
    stack.forward_features = stack.forward
    assert theoretical_receptive_field(stack) == 3 + 2 + 2 * 2 == empirical_receptive_field(stack, in_chans=1)

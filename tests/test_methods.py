"""The 8 methods: they train, CO with w_s = 0 is exactly the baseline, gradients go where they should."""

import pytest
import torch
from lightly.models.utils import update_momentum

from solo_coss.backbones import build_backbone
from solo_coss.methods import BASELINES, METHODS, build_method

SMALL_RF = dict(widths=(16, 32, 64, 128))


def kwargs_for(name, co=None):
    kw = dict(proj_hidden_dim=32, proj_output_dim=16)
    if "dino" in name:
        kw.update(num_prototypes=32)
    if "byol" in name or "mocov3" in name:
        kw.update(pred_hidden_dim=32)
    if "simclr" in name or "mocov3" in name:
        kw.update(temperature=0.2)
    if co is not None:
        kw["co"] = co
    return kw


def make(name, backbone="rf29_resnet18", co=None, seed=0):
    torch.manual_seed(seed)
    bb_kwargs = SMALL_RF if backbone.startswith("rf") else dict(cifar_stem=False)
    return build_method(name, build_backbone(backbone, **bb_kwargs), kwargs_for(name, co))


def views(b=8, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(b, 3, size, size, generator=g) for _ in range(2)]


# the CO variants on rf29_resnet18 in the default suite (their loss contains the baseline's); the baselines
# alone and resnet18 are slow
@pytest.mark.parametrize("backbone", ["rf29_resnet18", pytest.param("resnet18", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", [n if n.startswith("co_") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(METHODS)])
def test_loss_finite_and_decreasing_on_fixed_batch(name, backbone):
    model = make(name, backbone)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    x = views()
    losses = []
    for _ in range(6):
        out = model.training_loss(x, epoch=1)
        assert torch.isfinite(out["loss"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        for online, target in model.momentum_pairs():
            update_momentum(online, target, 0.99)
        losses.append(out["loss"].item())
    assert min(losses[-2:]) < losses[0], losses
    if name.startswith("co_"):
        assert out["local_loss"] > 0
        torch.testing.assert_close(out["loss"], out["global_loss"] + 0.3 * out["local_loss"])
    else:
        assert out["local_loss"] == 0


@pytest.mark.parametrize("base", sorted(BASELINES))
def test_co_with_zero_weight_is_exactly_the_baseline(base):
    x = views()
    baseline = make(base).training_loss(x, 1)["loss"]
    co = make(f"co_{base}", co={"weight": 0.0}).training_loss(x, 1)["loss"]
    assert co.item() == baseline.item()
    weighted = make(f"co_{base}", co={"weight": 0.5}).training_loss(x, 1)
    assert weighted["loss"].item() != baseline.item()
    assert weighted["global_loss"].item() == pytest.approx(baseline.item(), rel=1e-6)


@pytest.mark.parametrize("name", ["co_byol", "co_mocov3", "co_dino"])
def test_gradients_reach_local_heads_and_backbone_not_momentum(name):
    model = make(name)
    model.training_loss(views(), 1)["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.co_term.projector.parameters()
               if p.requires_grad)
    assert model.backbone.stem[0].weight.grad.abs().sum() > 0
    for _, target in model.momentum_pairs():
        assert all(p.grad is None for p in target.parameters())


def test_local_term_alone_trains_the_backbone():
    """The local loss by itself (no global loss) sends a gradient into the backbone's last stage."""
    model = make("co_byol", co={"weight": 1.0})
    x = views()
    online = [model.backbone.stage_features(v)[-1] for v in x]
    with torch.no_grad():
        target = [model.momentum_backbone.stage_features(v)[-1] for v in x]
    model.co_term(online, target).backward()
    assert model.backbone.layer4[0].conv1.weight.grad.abs().sum() > 0
    assert model.projector.layers[0].weight.grad is None  # the global heads took no part


def test_intermediate_stage_and_position_subset():
    model = make("co_byol", co={"stage": 3, "num_positions": 5})
    assert model.co_term.projector.net[0].in_features == model.backbone.stage_channels[2]
    out = model.training_loss(views(), 1)
    assert torch.isfinite(out["local_loss"]) and out["local_loss"] > 0


def test_multicrop_views_only_go_through_online_branch():
    """Large crops (32 px) go through both branches, the small crop (16 px) only through the online one;
    BYOL's global loss sums the ordered pairs (online view i, target view j), i != j."""
    model = make("co_byol")
    seen = {"online": [], "momentum": []}
    model.backbone.stem.register_forward_hook(lambda m, i, o: seen["online"].append(i[0].shape[-1]))
    model.momentum_backbone.stem.register_forward_hook(
        lambda m, i, o: seen["momentum"].append(i[0].shape[-1])
    )
    x = views() + [torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(3))]
    model.eval()  # BatchNorm from running statistics: the reference below sees the same numbers
    out = model.training_loss(x, 1)
    assert seen == {"online": [32, 32, 16], "momentum": [32, 32]}
    with torch.no_grad():
        p = [model.predictor(model.projector(model.backbone(v))) for v in x]
        z = [model.momentum_projector(model.momentum_backbone(v)) for v in x[:2]]
    pairs = [(1, 0), (2, 0), (0, 1), (2, 1)]
    expected = sum(2 - 2 * torch.nn.functional.cosine_similarity(p[i], z[j]).mean() for i, j in pairs)
    assert out["global_loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert len(out["feats"]) == 2 and len(out["momentum_feats"]) == 2


def test_build_method_refuses_unknown_names_and_keys():
    with pytest.raises(ValueError, match="co_byol"):
        build_method("byol", build_backbone("rf29_resnet18"), {"co": {"weight": 0.3}})
    with pytest.raises(ValueError, match="simclr"):
        build_method("barlow", build_backbone("rf29_resnet18"))
    with pytest.raises(ValueError, match="proj_hidden_dim"):
        build_method("byol", build_backbone("rf29_resnet18"), {"proj_hiden_dim": 3})

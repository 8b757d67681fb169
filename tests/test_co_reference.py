"""COTerm against an independent reference of the CO term (tests/co_reference.py), in float64, over every
combination of the co block's options, every CO method and every backbone family's map layout
(tests/co_term_vs_reference.py)."""

import contextlib
from collections.abc import Callable

import co_reference as ref
import pytest
import torch
from co_term_vs_reference import (
    LAYOUTS,
    NOT_THE_TERMS,
    OPTIONS,
    STRUCTURAL,
    VIEWS,
    co_fields,
    combinations,
    methods,
    mismatches,
)
from timm.models.convnext import ConvNeXt
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from solo_coss.backbones import build_backbone, read_map
from solo_coss.backbones.families import FAMILIES
from solo_coss.backbones.poolformer import PoolFormer
from solo_coss.backbones.wide_resnet import WideResNet
from solo_coss.core import build_co_term
from solo_coss.methods import resolve_method_kwargs

FAMILY_LAYOUT = {"resnet": "nchw", "wide_resnet": "nchw", "convnext": "nchw", "poolformer": "nchw",
                 "swin": "nhwc", "vit": "tokens"}


@contextlib.contextmanager
def one_thread():
    """Tiny tensors: a second thread only adds synchronisation (measured: 2-3x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def test_every_co_option_is_enumerated():
    """A new key of the co block fails here until the comparison tries its values (or says why not)."""
    assert set(OPTIONS) == co_fields()
    assert set(NOT_THE_TERMS) <= co_fields()


def test_every_value_of_every_option_meets_every_structural_value():
    """Per method, each value of each option (None: the method's) occurs with each value of each structural
    option, each layout and each view set."""
    seen = {}
    for method, layout, views, co in combinations():
        for k in OPTIONS:
            dims = [("layout", layout), ("views", views), *((s, co.get(s)) for s in STRUCTURAL)]
            seen.setdefault((method, k), set()).update((co.get(k), d) for d in dims)
    for method in methods():
        for k, values in OPTIONS.items():
            dims = [("layout", x) for x in LAYOUTS] + [("views", x) for x in VIEWS]
            dims += [(s, w) for s, (ws, only) in STRUCTURAL.items()
                     if s != k and (only is None or method in only) for w in ws]
            missing = [(v, d) for v in values for d in dims if (v, d) not in seen[(method, k)]]
            assert not missing, (method, k, missing[:5])


def test_every_co_method_and_family_has_a_reference():
    assert set(ref.RULES) == set(methods())
    assert set(FAMILY_LAYOUT) == set(FAMILIES)
    assert set(LAYOUTS) == set(ref.LAYOUTS) == set(FAMILY_LAYOUT.values())


def small_network(family: str) -> tuple[torch.nn.Module, Callable, int]:
    """(a small network of ``family``, its raw last-stage output: the module output its map is read from,
    in the family's layout; its prefix tokens). The ViT carries a register token besides its class token."""
    if family == "vit":
        net = VisionTransformer(img_size=(16, 24), patch_size=8, embed_dim=8, depth=1, num_heads=2,
                                reg_tokens=1, num_classes=0)
        return net, net.forward_features, 2
    if family == "swin":
        net = SwinTransformer(img_size=(32, 48), patch_size=4, embed_dim=8, depths=(1, 1), num_heads=(1, 2),
                              window_size=4, num_classes=0)
        return net, net.forward_features, 0
    if family == "convnext":
        net = ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 8, 16, 16), num_classes=0)
        return net, net.forward_features, 0
    if family == "poolformer":
        net = PoolFormer(layers=(1, 1), embed_dims=(8, 16))
        last = lambda x: net.forward_intermediates(x, indices=[1], intermediates_only=True)[0]  # noqa: E731
        return net, lambda x: net.norm(last(x)), 0
    if family == "wide_resnet":
        net = WideResNet(depth=10, widen_factor=1)
        return net, net.forward_features, 0
    net = build_backbone("rf29_resnet18", widths=(4, 4, 8, 8))
    return net, net.forward_features, 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
@torch.no_grad()
def test_each_family_map_holds_the_positions_the_reference_reads(family):
    """Position n of image b of the product's map (``families.read_map``, through timm's
    forward_intermediates, row-major) is the reference's f_{b,n} of the network's raw last-stage output: for
    a ViT the patch tokens after the prefix tokens, for Swin the channels-last map's pixels."""
    torch.manual_seed(0)
    net, raw_last, prefix = small_network(family)
    x = torch.rand(2, 3, *{"vit": (16, 24), "convnext": (64, 96)}.get(family, (32, 48)))
    fmap = read_map(net.eval(), x)[1]
    assert 1 < fmap.shape[-2] < fmap.shape[-1]  # not square: rows and columns cannot be swapped unseen
    theirs = ref.positions(ref.View(raw_last(x), FAMILY_LAYOUT[family], prefix))
    ours = fmap.flatten(2).transpose(1, 2)
    assert torch.equal(ours, torch.stack([torch.stack(image) for image in theirs]))


@pytest.mark.parametrize("method", methods())
def test_co_term_matches_the_independent_reference(method):
    """Total loss, L_l, the gradients of the total (raw maps, L_g, every trained head parameter) and CO-DINO's
    centre, to 1e-12 relative to max(1, |reference|), on every combination of options."""
    with one_thread():
        bad, relative, _, count = mismatches(method)
    assert count >= 48
    assert not bad, f"{len(bad)} differences, e.g.\n" + "\n".join(bad[:8])
    assert relative < 1e-12


@pytest.mark.parametrize("epoch,frozen", [(0, True), (1, True), (2, False)])
def test_co_dino_local_prototypes_are_frozen_like_dinos(epoch, frozen):
    """docs/methods.md: the local prototypes are not updated during the method's freeze_last_layer epochs
    (here 2); the rest of the head is."""
    kwargs = {
        "proj_hidden_dim": 6,
        "proj_output_dim": 5,
        "num_prototypes": 7,
        "co": {"norm_last_layer": False},
    }
    term = build_co_term("co_dino", 4, resolve_method_kwargs("co_dino", kwargs).co)
    maps = [torch.randn(3, 4, 2, 2) for _ in range(2)]
    term(maps, [m.detach() for m in maps], teacher_temperature=0.04).backward()
    term.after_backward(epoch, freeze_last_layer=2)
    prototypes = list(term.projector.last_layer.parameters())
    assert len(prototypes) == 2
    assert all((p.grad is None) == frozen for p in prototypes)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in term.projector.mlp.parameters())

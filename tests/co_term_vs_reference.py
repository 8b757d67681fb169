"""``COTerm`` against the independent reference of tests/co_reference.py, over every combination of the co
block's options, every CO method and every backbone family's map layout, in float64.

For each combination: random raw stage outputs in the family's layout (read into maps as the product reads
them: timm's ``forward_intermediates`` layout, checked on real networks of every family by
tests/test_co_reference.py), a COTerm built by ``build_co_term`` with perturbed weights (momentum twins apart
from their online heads, BatchNorm affines and DINO's prototype norms away from their init, a random DINO
centre), then the total loss, L_l, the gradients of the total with respect to the raw outputs, L_g and every
trained head parameter, and CO-DINO's new centre, from both. ``mismatches()`` lists where they differ by more
than TOLERANCE x max(1, |reference|); tests/test_co_reference.py asserts it empty, and
tests/parity/mutations.py runs it on broken products.

Options (``OPTIONS``: every field of ``COConfig``, a test checks it): the ones that change what is computed
are ``STRUCTURAL`` and enumerated in full per method (those that apply to it), with every layout and both
view sets; the others (scalars, and the structural options of other methods, which the method must ignore)
take one of their values per combination.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import fields

import co_reference as ref
import torch
from torch import nn

from solo_coss.core import COConfig, TeacherTemperature, build_co_term
from solo_coss.core.config import SPECS, TARGETS
from solo_coss.methods import resolve_method_kwargs

TOLERANCE = 1e-12
B, C = 3, 4
LARGE, SMALL = (1, 3), (1, 1)  # the large crops' map (3 positions, not a square), the small crops' (1)
PREFIX = 2  # a ViT's class token and one register
TEACHER_TEMPERATURE = 0.04
METHOD_KWARGS = {
    "co_byol": {"proj_hidden_dim": 7, "proj_output_dim": 5, "pred_hidden_dim": 9},
    "co_simclr": {"proj_hidden_dim": 7, "proj_output_dim": 5, "temperature": 0.15},
    "co_mocov3": {"proj_hidden_dim": 7, "proj_output_dim": 5, "pred_hidden_dim": 9, "temperature": 0.25},
    "co_dino": {"proj_hidden_dim": 7, "proj_output_dim": 5, "num_prototypes": 11,
                "student_temperature": 0.12},
}
# The options that change what is computed, with the methods they apply to (None: every method).
STRUCTURAL = {
    "weight": ((0.0, 1.7), None),  # 0: the term is not computed
    "target": (TARGETS, None),
    "num_positions": ((None, 2), None),  # 2: the large maps' 3 positions subsampled, the small maps' 1 kept
    "pred_hidden_dim": ((None, 0, 6), ("co_byol", "co_mocov3", "co_simclr")),
    "use_bn_in_head": ((None, True), ("co_dino",)),
    "norm_last_layer": ((None, False), ("co_dino",)),
}
SCALAR = {  # None: the method's value
    "proj_hidden_dim": (None, 8), "proj_output_dim": (None, 3), "temperature": (None, 0.3),
    "num_prototypes": (None, 13), "student_temperature": (None, 0.2), "center_momentum": (None, 0.7),
}
NOT_THE_TERMS = {  # options that choose the maps the term receives, checked elsewhere
    "stage": "which stage map the host taps: tests/test_families.py, parity case co_mocov3-vit-block",
}
OPTIONS = {**{k: v for k, (v, _) in STRUCTURAL.items()}, **SCALAR, **{k: (None,) for k in NOT_THE_TERMS}}
LAYOUTS = {"nchw": "resnet", "nhwc": "swin", "tokens": "vit"}  # layout -> a family that produces it
VIEWS = {"two views": (LARGE, LARGE), "multi-crop": (LARGE, LARGE, SMALL)}


def co_fields() -> set[str]:
    return {f.name for f in fields(COConfig)}


def methods() -> list[str]:
    return [f"co_{m}" for m in SPECS]


def combinations():
    """(method, layout, views, co block) for every structural combination; each other option takes one of
    its values, drawn afresh per combination (a fixed draw: tests/test_co_reference.py checks that every
    such value meets every value of every structural option of every method)."""
    draw = random.Random(0)
    for method in methods():
        applies = [k for k, (_, only) in STRUCTURAL.items() if only is None or method in only]
        for layout, views in itertools.product(LAYOUTS, VIEWS):  # views: a VIEWS key
            for values in itertools.product(*(STRUCTURAL[k][0] for k in applies)):
                co = dict(zip(applies, values))
                others = [(k, v) for k, (v, _) in STRUCTURAL.items() if k not in co]
                for k, choices in [*SCALAR.items(), *others]:
                    co[k] = draw.choice(choices)
                yield method, layout, views, {k: v for k, v in co.items() if v is not None}


# ------------------------------------------------------------------ raw outputs in each layout

def raw_output(layout: str, grid: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    h, w = grid
    shape = {"nchw": (B, C, h, w), "nhwc": (B, h, w, C), "tokens": (B, PREFIX + h * w, C)}[layout]
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def to_map(layout: str, raw: torch.Tensor) -> torch.Tensor:
    """A raw stage output as the product's reader lays it out (``families.read_map``, through timm's
    ``forward_intermediates``): channels first; a ViT's prefix tokens dropped, its patch tokens on a grid."""
    if layout == "nhwc":
        return raw.permute(0, 3, 1, 2)
    if layout == "tokens":
        patches = raw[:, PREFIX:]
        b, n, c = patches.shape
        h, w = LARGE if n == math.prod(LARGE) else (math.isqrt(n), math.isqrt(n))
        return patches.reshape(b, h, w, c).permute(0, 3, 1, 2)
    return raw


def reference_view(layout: str, raw: torch.Tensor) -> ref.View:
    return ref.View(raw, layout, PREFIX if layout == "tokens" else 0)


# ------------------------------------------------------------------ the COTerm's weights, for the reference

def mlp_weights(head: nn.Module) -> ref.MLPWeights:
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    norms = [m for m in head.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(linears) == 2 and len(norms) == 1 and norms[0].eps == ref.BN_EPS, head
    first, last = linears
    return ref.MLPWeights(first.weight, first.bias, norms[0].weight, norms[0].bias, last.weight, last.bias)


def dino_weights(head: nn.Module) -> ref.DINOHeadWeights:
    layers = []
    for m in head.mlp:
        if isinstance(m, nn.Linear):
            layers.append([m.weight, m.bias, None])
        elif isinstance(m, nn.BatchNorm1d):
            assert m.eps == ref.BN_EPS
            layers[-1][2] = (m.weight, m.bias)
    return ref.DINOHeadWeights([tuple(x) for x in layers], head.last_layer.weight_v, head.last_layer.weight_g)


def reference_heads(term) -> ref.Heads:
    read = dino_weights if term.kind == "dino" else mlp_weights
    return ref.Heads(read(term.projector), None if term.predictor is None else mlp_weights(term.predictor),
                     None if term.momentum_projector is None else read(term.momentum_projector))


@torch.no_grad()
def perturb(term, g: torch.Generator) -> None:
    """Move every weight off its initialisation so that each one matters: the momentum twin apart from its
    online head, BatchNorm affines, DINO's prototype norms and centre."""
    for p in term.parameters():  # the momentum twin's too, with other draws
        p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    if term.kind == "dino":
        term.center.copy_(0.3 * torch.randn(term.center.shape, generator=g, dtype=term.center.dtype))


# ------------------------------------------------------------------ one comparison

def differences(name: str, ours, theirs) -> tuple[list[str], float, float]:
    """(the mismatch of one quantity, if any; its max |COTerm - reference| / max(1, |reference|); its max
    |COTerm - reference|)."""
    ours = torch.zeros_like(theirs) if ours is None else ours.detach()
    theirs = torch.zeros_like(ours) if theirs is None else theirs.detach()
    if ours.shape != theirs.shape:
        return [f"{name}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"], math.inf, math.inf
    diff = float((ours - theirs).abs().max()) if ours.numel() else 0.0
    relative = diff / max(1.0, float(theirs.abs().max()) if theirs.numel() else 0.0)
    if relative <= TOLERANCE:
        return [], relative, diff
    return [f"{name}: max abs diff {diff:.3g} (COTerm {ours.flatten()[:3].tolist()}, reference "
            f"{theirs.flatten()[:3].tolist()})"], relative, diff


def compare(method: str, layout: str, view_set: str, co: dict, seed: int) -> tuple[list[str], float, float]:
    """(mismatches, the largest relative and absolute differences) of COTerm and the reference on one
    combination."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU's only: torch.manual_seed is slower
        return _compare(method, layout, VIEWS[view_set], co, seed)


def _compare(method, layout, views, co, seed):
    g = torch.Generator().manual_seed(seed)
    kwargs = METHOD_KWARGS[method]
    resolved = resolve_method_kwargs(method, {**kwargs, "co": co}).co
    term = build_co_term(method, C, resolved, TeacherTemperature(TEACHER_TEMPERATURE)).double().train()
    perturb(term, g)
    online = [raw_output(layout, grid, g).requires_grad_() for grid in views]
    if SPECS[method.removeprefix("co_")].momentum:
        targets = [raw_output(layout, grid, g) for grid in views[:2]]
    else:
        targets = online[:2]
    global_loss = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    extra = {"teacher_temperature": TEACHER_TEMPERATURE} if term.kind == "dino" else {}
    center = term.center.clone() if term.kind == "dino" else None
    heads = reference_heads(term)
    bad = [f"heads: {b}" for b in ref.check_heads(method, ref.resolve(method, co, kwargs), heads, C)]
    if bad:
        return bad, math.inf, math.inf
    trained = [p for p in term.parameters() if p.requires_grad]
    inputs = [global_loss, *online, *trained]

    state = torch.default_generator.get_state()  # co.num_positions draws: the same generator state for both
    total, local = term.combine(global_loss, [to_map(layout, x) for x in online],
                                [to_map(layout, x) for x in targets])
    ours = [total, local, *grads(total, inputs), term.center.clone() if center is not None else None]
    torch.default_generator.set_state(state)
    r_total, r_local, r_center = ref.total_loss(
        method, co, kwargs, global_loss, heads, [reference_view(layout, x) for x in online],
        [reference_view(layout, x) for x in targets], center=center, **extra)
    theirs = [r_total, r_local, *grads(r_total, inputs), r_center]

    names = ["total", "L_l", "d/dL_g", *(f"d/d raw view {i}" for i in range(len(online))),
             *(f"d/d {n}" for n, p in term.named_parameters() if p.requires_grad), "centre"]
    bad, worst, largest = [], 0.0, 0.0
    for name, a, b in zip(names, ours, theirs):
        if a is None and b is None:
            continue
        found, relative, diff = differences(name, a, b)
        bad += found
        worst, largest = max(worst, relative), max(largest, diff)
    return bad, worst, largest


def grads(total: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor | None]:
    if not total.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad(total, inputs, allow_unused=True))


def mismatches(only_method: str | None = None) -> tuple[list[str], float, float, int]:
    """(every mismatch, named by its combination; the largest relative and absolute differences; how many
    combinations ran)."""
    bad, worst, largest, count = [], 0.0, 0.0, 0
    for seed, (method, layout, views, co) in enumerate(combinations()):
        if only_method and method != only_method:
            continue
        found, relative, diff = compare(method, layout, views, co, seed)
        bad += [f"{b} [{method}, {layout}, {views}, co {co}]" for b in found]
        worst, largest, count = max(worst, relative), max(largest, diff), count + 1
    return bad, worst, largest, count


if __name__ == "__main__":
    torch.set_num_threads(1)
    found, relative, absolute, ran = mismatches()
    print(f"{ran} combinations; largest |COTerm - reference|: {absolute:.3g}, relative to "
          f"max(1, |reference|): {relative:.3g}; {len(found)} mismatches")
    print("\n".join(found[:20]))

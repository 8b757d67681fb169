"""An independent reference of the CO-SSL local term, written from docs/methods.md ("The local term L_l") and
the paper's description (/work/shared/paper-notes.md: every local representation of one view against the
global embedding of the other view, the method's own loss form, L = L_g + w_s L_l).

It shares no code with ``solo_coss``: the local representations are read off the raw backbone output with
explicit loops over images and positions, the heads are written out from their weights, and the loss is a
loop over view pairs, images and positions, one scalar at a time. tests/test_co_reference.py compares it
with ``COTerm`` in float64; the only conventions it takes from the implementation are the ones a definition
cannot fix and the tests must (the order of random draws behind ``co.num_positions``, BatchNorm's eps).

What the reference defines (the names are the YAML's, ``method_kwargs.co.<key>``):

- Local representations f_{i,b,n}: the C-vectors of view i's map, image b, position n in row-major order:
  ``nchw`` maps (ResNets, WideResNet, ConvNeXt, PoolFormer) x[b, :, y, x]; ``nhwc`` maps (Swin, timm's
  channels-last) x[b, y, x, :]; ``tokens`` (ViT) x[b, P + n, :] after the P prefix tokens (class token,
  registers), which are not local representations.
- ``num_positions`` k: per online view and image, k of the N positions at random, without repetition
  (all of them when k is null or k >= N). The draw: one ``torch.rand(B, N)`` per online view (in view order,
  none for a view kept whole) from torch's global generator; image b keeps its k smallest draws. The targets
  always use every position (the local embeddings are subsampled, not the image the target summarises).
- Local embedding p_{i,b,n} = q(g(f_{i,b,n})): g the local projector, q the local predictor when the method
  has one (``pred_hidden_dim`` > 0, never for DINO). Both are Linear -> BatchNorm -> ReLU -> Linear shared by
  every position; CO-DINO's g is DINO's head (3 Linear layers with GELU, BatchNorm when ``use_bn_in_head``,
  L2-normalised bottleneck, prototypes g_k v_k / |v_k| without bias). BatchNorm runs in training mode over
  the rows one head call sees: one view's B x (k or N) positions, or its B pooled vectors.
- Target z_{j,b} of view j (j one of the first views, those the target network sees): the target head g'
  (the momentum twin of g, no gradient, for BYOL / MoCo v3 / DINO; g itself, with gradient, for SimCLR) of
  mean_n f_{j,b,n} (``target: pooled``) or mean_n g'(f_{j,b,n}) (``target: local_mean``).
- Pair (i, j), i any online view, j a target view, i != j:
  ``byol``: mean_{b,n} 2 - 2 cos(p_{i,b,n}, z_{j,b});
  ``infonce``: mean_{b,n} -log softmax_m(cos(p_{i,b,n}, z_{j,m}) / T)[b], m over the batch;
  ``dino``: mean_{b,n} -sum_k softmax((z_{j,b} - c) / T_t)_k log softmax(p_{i,b,n} / T_s)_k.
- L_l: the pairs summed (BYOL, MoCo v3) or averaged (SimCLR, DINO), times 2T for MoCo v3; the total is
  L_g + ``weight`` x L_l, and with weight 0 the local term is not computed (L_l = 0). CO-DINO's centre c
  then moves to m c + (1 - m) x the mean of the raw teacher outputs z_{j,b} of every target view, m =
  ``center_momentum``.
- A null option is the method's: head sizes from ``proj_hidden_dim`` / ``proj_output_dim`` /
  ``pred_hidden_dim`` (SimCLR and DINO: no predictor), ``temperature`` the method's (SimCLR 0.1, MoCo v3 0.2
  when absent), ``student_temperature`` (0.1), ``num_prototypes``, ``use_bn_in_head`` (false),
  ``norm_last_layer`` (true: the prototypes' norms g are not trained), ``center_momentum`` 0.9.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

BN_EPS = 1e-5  # torch's BatchNorm1d default, which solo-learn and the local heads use
NORMALIZE_EPS = 1e-12  # F.normalize's floor on a norm


@dataclass(frozen=True)
class Rule:
    loss: str        # byol | infonce | dino
    momentum: bool   # the target head is a momentum twin (no gradient); else the online head, with gradient
    pairs: str       # sum | mean over the view pairs
    scale_2t: bool   # times 2 x temperature


RULES = {  # docs/methods.md: "Pairs are reduced like L_g"
    "co_byol": Rule("byol", momentum=True, pairs="sum", scale_2t=False),
    "co_simclr": Rule("infonce", momentum=False, pairs="mean", scale_2t=False),
    "co_mocov3": Rule("infonce", momentum=True, pairs="sum", scale_2t=True),
    "co_dino": Rule("dino", momentum=True, pairs="mean", scale_2t=False),
}
METHOD_TEMPERATURE = {"co_simclr": 0.1, "co_mocov3": 0.2}  # solo-learn's defaults
LAYOUTS = ("nchw", "nhwc", "tokens")


@dataclass
class MLPWeights:
    """Linear (w1, optional b1) -> BatchNorm (gamma, beta) -> ReLU -> Linear (w2, b2)."""

    w1: Tensor
    b1: Tensor | None
    gamma: Tensor
    beta: Tensor
    w2: Tensor
    b2: Tensor


@dataclass
class DINOHeadWeights:
    """Three Linear layers (weight, bias, (gamma, beta) of a BatchNorm after the first two or None), then
    the prototypes v (K, D) with norms g (K, 1)."""

    layers: list[tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]]
    v: Tensor
    g: Tensor


@dataclass
class Heads:
    projector: MLPWeights | DINOHeadWeights
    predictor: MLPWeights | None
    momentum_projector: MLPWeights | DINOHeadWeights | None


@dataclass(frozen=True)
class View:
    """One view's raw stage output: ``nchw`` (B, C, H, W), ``nhwc`` (B, H, W, C) or ``tokens`` (B, P + N, C)
    with ``prefix`` = P."""

    raw: Tensor
    layout: str
    prefix: int = 0


# ------------------------------------------------------------------ options

def resolve(method: str, co: Mapping[str, Any], method_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The co block with every null replaced by the method's value (docs/methods.md's defaults table)."""
    if method not in RULES:
        raise KeyError(f"the CO reference has no rule for {method!r}")
    co = dict(co)

    def pick(key, default):
        return co[key] if co.get(key) is not None else default

    method_predictor = method_kwargs.get("pred_hidden_dim", 0) if method in ("co_byol", "co_mocov3") else 0
    out = {
        "weight": pick("weight", 0.3), "target": pick("target", "pooled"),
        "num_positions": co.get("num_positions"),
        "proj_hidden_dim": pick("proj_hidden_dim", method_kwargs["proj_hidden_dim"]),
        "proj_output_dim": pick("proj_output_dim", method_kwargs["proj_output_dim"]),
        "pred_hidden_dim": pick("pred_hidden_dim", method_predictor),
    }
    if RULES[method].loss == "infonce":
        out["temperature"] = pick("temperature", method_kwargs.get("temperature", METHOD_TEMPERATURE[method]))
    if RULES[method].loss == "dino":
        out.update(num_prototypes=pick("num_prototypes", method_kwargs["num_prototypes"]),
                   student_temperature=pick("student_temperature",
                                            method_kwargs.get("student_temperature", 0.1)),
                   center_momentum=pick("center_momentum", 0.9),
                   use_bn_in_head=pick("use_bn_in_head", method_kwargs.get("use_bn_in_head", False)),
                   norm_last_layer=pick("norm_last_layer", method_kwargs.get("norm_last_layer", True)))
    if out["target"] not in ("pooled", "local_mean"):
        raise KeyError(f"the CO reference does not know co.target={out['target']!r}")
    return out


def check_heads(method: str, opts: Mapping[str, Any], heads: Heads, in_dim: int) -> list[str]:
    """What is wrong with ``heads`` for these options: which heads exist and their sizes."""
    rule, bad = RULES[method], []
    hidden, out = opts["proj_hidden_dim"], opts["proj_output_dim"]
    projectors = [("projector", heads.projector)]
    if rule.momentum != (heads.momentum_projector is not None):
        bad.append(f"momentum twin of the projector: expected {rule.momentum}")
    elif rule.momentum:
        projectors.append(("momentum_projector", heads.momentum_projector))
    for name, head in projectors:
        if rule.loss == "dino":
            dims = [(w.shape[1], w.shape[0]) for w, _, _ in head.layers]
            if dims != [(in_dim, hidden), (hidden, hidden), (hidden, out)]:
                bad.append(f"{name}: layers {dims}")
            if [bn is not None for _, _, bn in head.layers[:2]] != [opts["use_bn_in_head"]] * 2:
                bad.append(f"{name}: BatchNorm in the head should be {opts['use_bn_in_head']}")
            if tuple(head.v.shape) != (opts["num_prototypes"], out):
                bad.append(f"{name}: prototypes {tuple(head.v.shape)}")
        elif (tuple(head.w1.shape), tuple(head.w2.shape)) != ((hidden, in_dim), (out, hidden)):
            bad.append(f"{name}: {tuple(head.w1.shape)}, {tuple(head.w2.shape)}")
    wants_predictor = rule.loss != "dino" and opts["pred_hidden_dim"] > 0
    if wants_predictor != (heads.predictor is not None):
        bad.append(f"local predictor: expected {wants_predictor}")
    elif wants_predictor and (tuple(heads.predictor.w1.shape), tuple(heads.predictor.w2.shape)) != \
            ((opts["pred_hidden_dim"], out), (out, opts["pred_hidden_dim"])):
        bad.append("local predictor sizes")
    if rule.loss == "dino" and heads.projector.g.requires_grad == opts["norm_last_layer"]:
        bad.append(f"prototype norms trained: expected {not opts['norm_last_layer']}")
    return bad


# ------------------------------------------------------------------ local representations

def positions(view: View) -> list[list[Tensor]]:
    """[image b][position n] -> the C-vector f_{b,n}, positions in row-major order."""
    x, out = view.raw, []
    for b in range(x.shape[0]):
        if view.layout == "nchw":
            out.append([x[b, :, y, w] for y in range(x.shape[2]) for w in range(x.shape[3])])
        elif view.layout == "nhwc":
            out.append([x[b, y, w, :] for y in range(x.shape[1]) for w in range(x.shape[2])])
        elif view.layout == "tokens":
            out.append([x[b, t, :] for t in range(view.prefix, x.shape[1])])
        else:
            raise KeyError(f"unknown layout {view.layout!r}")
    return out


def subsample(images: list[list[Tensor]], k: int | None, draw: Callable[..., Tensor]) -> list[list[Tensor]]:
    """k random positions per image (one draw per view; none when every position is kept)."""
    n = len(images[0])
    if k is None or k >= n:
        return images
    u = draw(len(images), n)
    return [[image[m] for m in sorted(range(n), key=lambda m, b=b: float(u[b, m]))[:k]]
            for b, image in enumerate(images)]


# ------------------------------------------------------------------ heads

def linear(rows: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    out = rows @ w.T
    return out if b is None else out + b


def batch_norm(rows: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """Training mode: the statistics (biased variance) of these rows."""
    mean = rows.mean(dim=0)
    var = ((rows - mean) ** 2).mean(dim=0)
    return (rows - mean) / torch.sqrt(var + BN_EPS) * gamma + beta


def unit(x: Tensor) -> Tensor:
    """x / |x| along the last dimension (|x| floored at NORMALIZE_EPS)."""
    norm = torch.sqrt((x * x).sum(dim=-1, keepdim=True))
    return x / torch.clamp(norm, min=NORMALIZE_EPS)


def gelu(x: Tensor) -> Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def mlp(rows: Tensor, w: MLPWeights) -> Tensor:
    return linear(torch.clamp(batch_norm(linear(rows, w.w1, w.b1), w.gamma, w.beta), min=0), w.w2, w.b2)


def dino_head(rows: Tensor, w: DINOHeadWeights) -> Tensor:
    x = rows
    for i, (weight, bias, bn) in enumerate(w.layers):
        x = linear(x, weight, bias)
        if i < len(w.layers) - 1:
            x = gelu(x if bn is None else batch_norm(x, *bn))
    prototypes = w.g * w.v / torch.sqrt((w.v * w.v).sum(dim=1, keepdim=True))
    return unit(x) @ prototypes.T


def apply(head, rows: list[Tensor]) -> list[Tensor]:
    """One head call on these rows (one BatchNorm batch); the outputs row by row."""
    fn = dino_head if isinstance(head, DINOHeadWeights) else mlp
    return list(fn(torch.stack(rows), head).unbind(0))


# ------------------------------------------------------------------ the term

def local_embeddings(view: View, opts, heads: Heads, draw) -> list[list[Tensor]]:
    """[image b][kept position] -> p_{b,n}."""
    images = subsample(positions(view), opts["num_positions"], draw)
    rows = [f for image in images for f in image]
    out = apply(heads.projector, rows)
    if heads.predictor is not None:
        out = apply(heads.predictor, out)
    per_image, start = [], 0
    for image in images:
        per_image.append(out[start:start + len(image)])
        start += len(image)
    return per_image


def global_target(view: View, opts, head) -> list[Tensor]:
    """[image b] -> z_b."""
    images = positions(view)
    if opts["target"] == "pooled":
        return apply(head, [sum(image) / len(image) for image in images])
    out, start, targets = apply(head, [f for image in images for f in image]), 0, []
    for image in images:
        targets.append(sum(out[start:start + len(image)]) / len(image))
        start += len(image)
    return targets


def dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum()


def pair_loss(kind: str, local: list[list[Tensor]], target: list[Tensor], opts, teacher_temperature, center):
    """Mean over images b and kept positions n of the loss of p_{b,n} against the target view."""
    terms = []
    candidates = torch.stack([unit(z) for z in target])  # (B, D): the batch's targets, as unit vectors
    for b, image in enumerate(local):
        for p in image:
            if kind == "byol":
                terms.append(2 - 2 * dot(unit(p), candidates[b]))
            elif kind == "infonce":
                logits = candidates @ unit(p) / opts["temperature"]  # cos(p, z_m) / T for every image m
                terms.append(torch.logsumexp(logits, dim=0) - logits[b])
            else:
                teacher = torch.softmax((target[b] - center.reshape(-1)) / teacher_temperature, dim=0)
                student = torch.log_softmax(p / opts["student_temperature"], dim=0)
                terms.append(-dot(teacher, student))
    return sum(terms) / len(terms)


def local_loss(method: str, co: Mapping[str, Any], method_kwargs: Mapping[str, Any], heads: Heads,
               online: Sequence[View], targets: Sequence[View], teacher_temperature: float | None = None,
               center: Tensor | None = None,
               draw: Callable[..., Tensor] = torch.rand) -> tuple[Tensor, Tensor | None]:
    """(L_l, CO-DINO's centre after the step or None) for online views ``online`` (large crops first) and
    the target network's views ``targets`` (the first ones). For SimCLR ``targets`` are the online views'
    own maps (with gradient); otherwise maps computed without gradient."""
    rule, opts = RULES[method], resolve(method, co, method_kwargs)
    target_head = heads.momentum_projector if rule.momentum else heads.projector
    if rule.momentum:
        with torch.no_grad():
            z = [global_target(v, opts, target_head) for v in targets]
    else:
        z = [global_target(v, opts, target_head) for v in targets]
    p = [local_embeddings(v, opts, heads, draw) for v in online]
    pairs = [pair_loss(rule.loss, p[i], z[j], opts, teacher_temperature, center)
             for i in range(len(online)) for j in range(len(targets)) if i != j]
    loss = sum(pairs) if rule.pairs == "sum" else sum(pairs) / len(pairs)
    if rule.scale_2t:
        loss = 2 * opts["temperature"] * loss
    new_center = None
    if rule.loss == "dino":
        teacher = [zb.detach() for zj in z for zb in zj]
        m = opts["center_momentum"]
        new_center = m * center + (1 - m) * sum(teacher) / len(teacher)
    return loss, new_center


def total_loss(method: str, co: Mapping[str, Any], method_kwargs: Mapping[str, Any], global_loss: Tensor,
               *args, **kwargs) -> tuple[Tensor, Tensor, Tensor | None]:
    """(L_g + weight x L_l, L_l, new centre); weight 0: (L_g, 0, the centre unchanged), nothing computed."""
    weight = resolve(method, co, method_kwargs)["weight"]
    if weight == 0:
        return global_loss, torch.zeros((), dtype=global_loss.dtype), kwargs.get("center")
    local, center = local_loss(method, co, method_kwargs, *args, **kwargs)
    return global_loss + weight * local, local, center

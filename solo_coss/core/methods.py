"""How the local term joins each instance-discrimination method: the one table both hosts read.

The local loss is reduced over view pairs the way the method reduces its global loss in solo-learn, so
that w_s means the same thing for every method: BYOL and MoCo v3 sum their ordered view pairs, SimCLR's
NT-Xent and DINO's cross-entropy average them; MoCo v3 multiplies its InfoNCE by 2 * temperature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from solo_coss.core.co_term import COTerm
from solo_coss.core.config import COConfig


@dataclass(frozen=True)
class COSpec:
    loss: str             # COTerm kind
    momentum: bool        # momentum twins of the local heads
    pair_reduction: str   # sum | mean over view pairs
    scale_by_2t: bool     # MoCo v3's 2 * temperature factor


SPECS: dict[str, COSpec] = {
    "byol": COSpec("byol", momentum=True, pair_reduction="sum", scale_by_2t=False),
    "simclr": COSpec("infonce", momentum=False, pair_reduction="mean", scale_by_2t=False),
    "mocov3": COSpec("infonce", momentum=True, pair_reduction="sum", scale_by_2t=True),
    "dino": COSpec("dino", momentum=True, pair_reduction="mean", scale_by_2t=False),
}


def base_method(name: str) -> str:
    """``co_byol`` -> ``byol``; ValueError naming the valid CO methods otherwise."""
    base = name.removeprefix("co_")
    if not name.startswith("co_") or base not in SPECS:
        raise ValueError(f"{name!r} is not a CO method; choose from {sorted(f'co_{m}' for m in SPECS)}")
    return base


def co_defaults(base: str, method_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The local heads' defaults: the method's global head sizes and loss settings (solo-learn's keys)."""
    kw = dict(method_kwargs)
    defaults = {"proj_hidden_dim": kw.get("proj_hidden_dim"), "proj_output_dim": kw.get("proj_output_dim"),
                "pred_hidden_dim": kw.get("pred_hidden_dim", 0) if base in ("byol", "mocov3") else 0}
    if base in ("simclr", "mocov3"):
        defaults["temperature"] = kw.get("temperature", 0.2 if base == "mocov3" else 0.1)
    if base == "dino":
        defaults.update(num_prototypes=kw.get("num_prototypes"), student_temperature=kw.get("student_temperature", 0.1),
                        center_momentum=0.9, use_bn_in_head=kw.get("use_bn_in_head", False),
                        norm_last_layer=kw.get("norm_last_layer", True))
    return defaults


def parse_co_block(block: Mapping[str, Any] | None) -> COConfig:
    """The YAML ``method_kwargs.co`` block (unknown keys rejected, naming the valid ones)."""
    return COConfig.from_dict(dict(block or {}))


def build_co_term(method: str, in_dim: int, co: COConfig, method_kwargs: Mapping[str, Any]) -> COTerm:
    """The COTerm of CO method ``method`` (e.g. ``co_mocov3``) on a map with ``in_dim`` channels."""
    base = base_method(method)
    spec = SPECS[base]
    cfg = co.with_defaults(**co_defaults(base, method_kwargs))
    scale = 2 * cfg.temperature if spec.scale_by_2t else 1.0
    return COTerm(in_dim, cfg, spec.loss, spec.momentum, spec.pair_reduction, scale)

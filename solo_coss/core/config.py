"""The ``method_kwargs.co`` block (every choice the paper leaves open is a key here) and how the local term
joins each instance-discrimination method: the one table both hosts read.

The local loss is reduced over view pairs the way the method reduces its global loss in solo-learn, so
that w_s means the same thing for every method: BYOL and MoCo v3 sum their ordered view pairs, SimCLR's
NT-Xent and DINO's cross-entropy average them; MoCo v3 multiplies its InfoNCE by 2 * temperature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from solo_coss.core.keys import check_choice, check_fields, check_keys, refuse

TARGETS = ("pooled", "local_mean")


@dataclass
class COConfig:
    """Options of the CO-SSL local term.

    weight: w_s in ``loss = global_loss + weight * local_loss`` (paper's good range 0.2-0.5).
    target: the other view's "global embedding": ``pooled`` = target local head applied to the average-pooled
        map; ``local_mean`` = mean over positions of the target local head applied to every position.
    num_positions: None = every position of the map; k = a random subset of k positions per image.
    stage: backbone stage (a ResNet's layer, a ViT's block, ...) whose map holds the local representations;
        None = the last one (before global pooling; a ViT's patch tokens after the final norm). The backbone
        bounds it (``solo_coss.backbones.families``).
    proj_hidden_dim / proj_output_dim / pred_hidden_dim: local head sizes; None = the method's global head
        sizes. pred_hidden_dim = 0 removes the local predictor.
    temperature: InfoNCE temperature (CO-SimCLR, CO-MoCoV3); None = the method's.
    num_prototypes, student_temperature, center_momentum, use_bn_in_head, norm_last_layer: CO-DINO's local
        head and loss; None = the method's.
    """

    weight: float = 0.3
    target: str = "pooled"
    num_positions: int | None = None
    stage: int | None = None
    proj_hidden_dim: int | None = None
    proj_output_dim: int | None = None
    pred_hidden_dim: int | None = None
    temperature: float | None = None
    num_prototypes: int | None = None
    student_temperature: float | None = None
    center_momentum: float | None = None
    use_bn_in_head: bool | None = None
    norm_last_layer: bool | None = None

    def __post_init__(self) -> None:
        check_fields("co", dataclasses.asdict(self), COConfig)
        check_choice("co.target", self.target, TARGETS)
        if self.stage is not None and self.stage < 1:
            refuse("co.stage", self.stage, "give null (the last stage) or a stage number >= 1 (ResNets 1..4, "
                   "ViTs 1..depth)")
        if self.weight < 0:
            refuse("co.weight", self.weight, "give a weight >= 0")
        if self.num_positions is not None and self.num_positions < 1:
            refuse("co.num_positions", self.num_positions, "give null (every position) or a count >= 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> COConfig:
        """The YAML block as a COConfig; unknown keys are refused, naming the valid ones."""
        values = dict(values or {})
        check_keys("method_kwargs.co", values, [f.name for f in fields(cls)])
        return cls(**values)

    def with_defaults(self, **defaults: Any) -> COConfig:
        """A copy where every None field named in ``defaults`` takes the given value."""
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **filled)


@dataclass(frozen=True)
class COSpec:
    """How the local term joins a method: its loss kind, momentum twins of the local heads (their target
    embedding then comes without gradient), the reduction over view pairs (as the method reduces its global
    loss) and MoCo v3's 2 * temperature factor."""

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
        check_choice("method", name, sorted(f"co_{m}" for m in SPECS))
    return base


def _co_defaults(base: str, kw: Mapping[str, Any]) -> dict[str, Any]:
    """The local heads' defaults: the method's global head sizes and loss settings (solo-learn's keys, the
    method's defaults already filled in ``kw``)."""
    defaults = {"proj_hidden_dim": kw.get("proj_hidden_dim"), "proj_output_dim": kw.get("proj_output_dim"),
                "pred_hidden_dim": kw.get("pred_hidden_dim", 0) if base in ("byol", "mocov3") else 0}
    if base in ("simclr", "mocov3"):
        defaults["temperature"] = kw["temperature"]
    if base == "dino":
        defaults.update(num_prototypes=kw["num_prototypes"], student_temperature=kw["student_temperature"],
                        center_momentum=0.9, use_bn_in_head=kw["use_bn_in_head"],
                        norm_last_layer=kw["norm_last_layer"])
    return defaults


def resolve_co(method: str, method_kwargs: Mapping[str, Any]) -> COConfig:
    """The ``co`` block of CO method ``method``, checked and complete.

    Args:
        method: a CO method name (``co_byol``, ``co_simclr``, ``co_mocov3``, ``co_dino``).
        method_kwargs: the method's kwargs with the method's defaults filled in, ``co`` (the YAML block,
            may be absent) among them.

    Returns:
        The COConfig with every None the method's default (its global head sizes, temperature, ...): what
        both hosts record (config.json, args.json) and build the local term from, as it is.

    Raises:
        ValueError: an unknown method or co key, or a bad co value, named with the valid choices.
    """
    base = base_method(method)
    return COConfig.from_dict(method_kwargs.get("co")).with_defaults(**_co_defaults(base, method_kwargs))

"""The `method_kwargs.co` block: every choice the paper leaves open is a key here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

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
        if self.target not in TARGETS:
            raise ValueError(f"co.target={self.target!r} is not valid; choose from {list(TARGETS)}")
        if self.stage is not None and (not isinstance(self.stage, int) or self.stage < 1):
            raise ValueError(f"co.stage={self.stage!r} is not valid: null (the last stage) or a stage number >= 1 "
                             "(ResNets 1..4, ViTs 1..depth)")
        if self.weight < 0:
            raise ValueError(f"co.weight must be >= 0, got {self.weight}")
        if self.num_positions is not None and self.num_positions < 1:
            raise ValueError(f"co.num_positions must be None (all) or >= 1, got {self.num_positions}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> COConfig:
        values = dict(values or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in method_kwargs.co; valid keys: {valid}")
        return cls(**values)

    def with_defaults(self, **defaults: Any) -> COConfig:
        """A copy where every None field named in ``defaults`` takes the given value."""
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **filled)

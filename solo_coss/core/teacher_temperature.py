"""DINO's teacher temperature by epoch, as solo-learn schedules it; the standalone DINO and the CO-DINO local
term of both hosts read it from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TeacherTemperature:
    """A linear warm-up from ``warmup`` to ``final`` over the first ``warmup_epochs`` epochs (solo-learn's
    ``linspace(warmup, final, warmup_epochs)``), then ``final``."""

    final: float
    warmup: float = 0.04
    warmup_epochs: int = 0

    @classmethod
    def of(cls, method_kwargs: Any) -> TeacherTemperature:
        """From DINO's method_kwargs (solo-learn's key names; a dataclass or an OmegaConf node)."""
        return cls(float(method_kwargs.teacher_temperature), float(method_kwargs.warmup_teacher_temperature),
                   int(method_kwargs.warmup_teacher_temperature_epochs))

    def at(self, epoch: int) -> float:
        if epoch >= self.warmup_epochs:
            return self.final
        return float(torch.linspace(self.warmup, self.final, self.warmup_epochs, dtype=torch.float64)[epoch])

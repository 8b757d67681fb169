"""DINO (Caron et al. 2021) and CO-DINO: the student's outputs match the centred, sharpened teacher's.

The teacher temperature warms up linearly from ``warmup_teacher_temperature`` to ``teacher_temperature``
over the first ``warmup_teacher_temperature_fraction`` of training (solo-learn counts it in epochs; we use
the fraction so the schedule works for any budget). The CO term uses the same temperature.
"""

from __future__ import annotations

from lightly.loss import DINOLoss
from lightly.models.modules import DINOProjectionHead

from solo_coss.core import COConfig
from solo_coss.methods.base import SSLMethod


class DINO(SSLMethod):
    co_loss = "dino"
    momentum = True

    def __init__(self, backbone, proj_hidden_dim: int = 2048, proj_output_dim: int = 256,
                 num_prototypes: int = 4096, student_temperature: float = 0.1,
                 teacher_temperature: float = 0.07, warmup_teacher_temperature: float = 0.04,
                 warmup_teacher_temperature_fraction: float = 0.1, center_momentum: float = 0.9,
                 norm_last_layer: bool = True, co: COConfig | None = None):
        super().__init__(backbone, co)
        self.teacher_temperature = teacher_temperature
        self.warmup_teacher_temperature = warmup_teacher_temperature
        self.warmup_fraction = warmup_teacher_temperature_fraction
        make_head = lambda: DINOProjectionHead(  # noqa: E731
            backbone.num_features, proj_hidden_dim, proj_output_dim, num_prototypes, norm_last_layer=norm_last_layer
        )
        self.head = make_head()
        # lightly's head uses the old weight_norm, which cannot be deep-copied: build a twin and copy weights.
        self.momentum_head = make_head().requires_grad_(False)
        self.momentum_head.load_state_dict(self.head.state_dict())
        self.criterion = DINOLoss(num_prototypes, teacher_temp=teacher_temperature,
                                  student_temp=student_temperature, center_momentum=center_momentum)
        self.build_co_term(dict(proj_hidden_dim=proj_hidden_dim, proj_output_dim=proj_output_dim,
                                num_prototypes=num_prototypes, student_temperature=student_temperature,
                                center_momentum=center_momentum))

    def global_momentum_pairs(self):
        return [(self.head, self.momentum_head)]

    def teacher_temperature_at(self, progress: float) -> float:
        if self.warmup_fraction <= 0 or progress >= self.warmup_fraction:
            return self.teacher_temperature
        t = progress / self.warmup_fraction
        return self.warmup_teacher_temperature + t * (self.teacher_temperature - self.warmup_teacher_temperature)

    def global_loss(self, online, target, progress):
        student = [self.head(f) for f in online]
        teacher = [self.momentum_head(f).detach() for f in target]
        return self.criterion(teacher, student, teacher_temp=self.teacher_temperature_at(progress))

    def co_loss_kwargs(self, progress):
        return {"teacher_temperature": self.teacher_temperature_at(progress)}

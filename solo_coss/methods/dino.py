"""DINO (Caron et al. 2021) and CO-DINO: the student's outputs match the centred, sharpened teacher's.

As in solo-learn: the teacher temperature warms up linearly from ``warmup_teacher_temperature`` over the
first ``warmup_teacher_temperature_epochs`` epochs (none by default), the prototypes (``last_layer``) are
not updated during the first ``freeze_last_layer`` epochs, and ``clip_grad`` > 0 clips each backbone
parameter's gradient norm. The CO term uses the same teacher temperature and freezes its own prototypes
alike.
"""

from __future__ import annotations

import copy

import torch
from lightly.loss import DINOLoss

from solo_coss.core import PositionwiseDINOHead
from solo_coss.core.precision import float32_loss
from solo_coss.methods.base import SSLMethod


@float32_loss
def dino_loss(criterion: DINOLoss, teacher: list[torch.Tensor], student: list[torch.Tensor], temperature: float):
    """lightly's DINO loss in float32 (its einsum would run in bf16 under autocast)."""
    return criterion(teacher, student, teacher_temp=temperature)


class DINO(SSLMethod):
    momentum = True

    def __init__(self, backbone, proj_hidden_dim: int, proj_output_dim: int, num_prototypes: int,
                 use_bn_in_head: bool = False, norm_last_layer: bool = True, clip_grad: float = 0.0,
                 freeze_last_layer: int = 1, student_temperature: float = 0.1, teacher_temperature: float = 0.07,
                 warmup_teacher_temperature: float = 0.04, warmup_teacher_temperature_epochs: int = 0,
                 num_large_crops: int = 2, max_epochs: int | None = None):
        super().__init__(backbone, num_large_crops)
        if warmup_teacher_temperature_epochs and not max_epochs:
            raise ValueError("DINO's warmup_teacher_temperature_epochs needs max_epochs")
        self.clip_grad, self.freeze_last_layer = clip_grad, freeze_last_layer
        self.teacher_temperature = teacher_temperature
        self.warmup = (warmup_teacher_temperature, int(warmup_teacher_temperature_epochs))
        self.head = PositionwiseDINOHead(backbone.num_features, proj_hidden_dim, proj_output_dim, num_prototypes,
                                         use_bn=use_bn_in_head, norm_last_layer=norm_last_layer)
        self.momentum_head = copy.deepcopy(self.head).requires_grad_(False)
        self.criterion = DINOLoss(num_prototypes, teacher_temp=teacher_temperature,
                                  student_temp=student_temperature, center_momentum=0.9)

    def head_modules(self):
        return [("head", self.head)]

    def global_momentum_pairs(self):
        return [(self.head, self.momentum_head)]

    def teacher_temperature_at(self, epoch: int) -> float:
        """solo-learn's schedule: linspace(warmup, final, warmup_epochs) over the first epochs, then final."""
        start, epochs = self.warmup
        if epoch >= epochs:
            return self.teacher_temperature
        return float(torch.linspace(start, self.teacher_temperature, epochs, dtype=torch.float64)[epoch])

    def global_loss(self, online, target, epoch):
        student = [self.head(f) for f in online]
        with torch.no_grad():
            teacher = [self.momentum_head(f) for f in target]
        return dino_loss(self.criterion, teacher, student, self.teacher_temperature_at(epoch))

    def co_loss_kwargs(self, epoch: int) -> dict:
        return {"teacher_temperature": self.teacher_temperature_at(epoch)}

    def after_backward(self, epoch: int) -> None:
        if self.clip_grad:
            for p in self.backbone.parameters():
                if p.grad is not None:
                    coef = self.clip_grad / (p.grad.norm(2) + 1e-6)
                    if coef < 1:
                        p.grad.mul_(coef)
        if epoch < self.freeze_last_layer:
            for p in self.head.last_layer.parameters():
                p.grad = None
        if self.co_term is not None:
            self.co_term.after_backward(epoch, self.freeze_last_layer)

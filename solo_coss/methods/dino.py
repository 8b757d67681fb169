"""DINO (Caron et al. 2021) and CO-DINO: the student's outputs match the centred, sharpened teacher's.

As in solo-learn: the teacher temperature warms up linearly from ``warmup_teacher_temperature`` over the
first ``warmup_teacher_temperature_epochs`` epochs (none by default), the prototypes (``last_layer``) are
not updated during the first ``freeze_last_layer`` epochs, and ``clip_grad`` > 0 clips each backbone
parameter's gradient norm. The CO term uses the same teacher temperature and freezes its own prototypes
alike.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from lightly.loss import DINOLoss

from solo_coss.core import PositionwiseDINOHead, TeacherTemperature
from solo_coss.core.precision import float32_loss
from solo_coss.methods.base import MethodContext, MethodKwargs, SSLMethod


@float32_loss
def dino_loss(
    criterion: DINOLoss, teacher: list[torch.Tensor], student: list[torch.Tensor], temperature: float
):
    """lightly's DINO loss in float32 (its einsum would run in bf16 under autocast)."""
    return criterion(teacher, student, teacher_temp=temperature)


@dataclass(kw_only=True)
class DINOKwargs(MethodKwargs):
    proj_hidden_dim: int
    proj_output_dim: int
    num_prototypes: int
    use_bn_in_head: bool = False
    norm_last_layer: bool = True
    clip_grad: float = 0.0
    freeze_last_layer: int = 1
    student_temperature: float = 0.1
    teacher_temperature: float = 0.07
    warmup_teacher_temperature: float = 0.04
    warmup_teacher_temperature_epochs: int = 0


class DINO(SSLMethod):
    momentum = True
    Kwargs = DINOKwargs

    def __init__(self, backbone, kwargs: DINOKwargs, context: MethodContext):
        super().__init__(backbone, kwargs, context)
        if kwargs.warmup_teacher_temperature_epochs and not context.max_epochs:
            raise ValueError("DINO's warmup_teacher_temperature_epochs needs max_epochs")
        self.clip_grad, self.freeze_last_layer = kwargs.clip_grad, kwargs.freeze_last_layer
        self.teacher_temperature = TeacherTemperature.of(kwargs)
        self.head = PositionwiseDINOHead(
            backbone.num_features,
            kwargs.proj_hidden_dim,
            kwargs.proj_output_dim,
            kwargs.num_prototypes,
            use_bn=kwargs.use_bn_in_head,
            norm_last_layer=kwargs.norm_last_layer,
        )
        self.momentum_head = copy.deepcopy(self.head).requires_grad_(False)
        self.criterion = DINOLoss(kwargs.num_prototypes, teacher_temp=kwargs.teacher_temperature,
                                  student_temp=kwargs.student_temperature, center_momentum=0.9)

    def head_modules(self):
        return [("head", self.head)]

    def global_momentum_pairs(self):
        return [(self.head, self.momentum_head)]

    def global_loss(self, online, target, epoch):
        student = [self.head(f) for f in online]
        with torch.no_grad():
            teacher = [self.momentum_head(f) for f in target]
        return dino_loss(self.criterion, teacher, student, self.teacher_temperature.at(epoch))

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

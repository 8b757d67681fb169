"""MoCo v3 (Chen, Xie, He 2021) and CO-MoCoV3: the online prediction must pick its image's momentum key
among the batch's (InfoNCE, loss scaled by 2 * temperature)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from solo_coss.core import global_infonce_loss
from solo_coss.methods.base import MethodContext, MethodKwargs, SSLMethod
from solo_coss.methods.heads import mocov3_heads


@dataclass(kw_only=True)
class MoCoV3Kwargs(MethodKwargs):
    proj_hidden_dim: int
    proj_output_dim: int
    pred_hidden_dim: int
    temperature: float


class MoCoV3(SSLMethod):
    momentum = True
    Kwargs = MoCoV3Kwargs

    def __init__(self, backbone, kwargs: MoCoV3Kwargs, context: MethodContext):
        super().__init__(backbone, kwargs, context)
        self.temperature = kwargs.temperature
        self.projector, self.predictor = mocov3_heads(context.backbone_name, backbone.num_features,
                                                      kwargs.proj_hidden_dim, kwargs.proj_output_dim,
                                                      kwargs.pred_hidden_dim)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def head_modules(self):
        return [("projector", self.projector), ("predictor", self.predictor)]

    def global_momentum_pairs(self):
        return [(self.projector, self.momentum_projector)]

    def global_loss(self, online, target, epoch):
        # As solo-learn: only the first two views, both directions summed, each InfoNCE times 2 * T.
        q = [self.predictor(self.projector(f)) for f in online[:2]]
        with torch.no_grad():
            k = [self.momentum_projector(f) for f in target[:2]]
        losses = [global_infonce_loss(q[i], k[1 - i], self.temperature) for i in (0, 1)]
        return 2 * self.temperature * (losses[0] + losses[1])

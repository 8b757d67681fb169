"""MoCo v3 (Chen, Xie, He 2021) and CO-MoCoV3: the online prediction must pick its image's momentum key
among the batch's (InfoNCE, loss scaled by 2 * temperature)."""

from __future__ import annotations

import copy

import torch
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead

from solo_coss.core import COConfig, local_global_infonce_loss
from solo_coss.methods.base import SSLMethod, symmetric_pairs


class MoCoV3(SSLMethod):
    co_loss = "infonce"
    momentum = True

    def __init__(self, backbone, proj_hidden_dim: int = 4096, proj_output_dim: int = 256,
                 pred_hidden_dim: int = 4096, temperature: float = 0.2, co: COConfig | None = None):
        super().__init__(backbone, co)
        self.temperature = temperature
        self.projector = BYOLProjectionHead(backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.predictor = BYOLPredictionHead(proj_output_dim, pred_hidden_dim, proj_output_dim)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.build_co_term(
            dict(proj_hidden_dim=proj_hidden_dim, proj_output_dim=proj_output_dim,
                 pred_hidden_dim=pred_hidden_dim, temperature=temperature),
            loss_scale=2 * temperature,
        )

    def global_momentum_pairs(self):
        return [(self.projector, self.momentum_projector)]

    def global_loss(self, online, target, progress):
        q = [self.predictor(self.projector(f)) for f in online]
        with torch.no_grad():
            k = [self.momentum_projector(f) for f in target]
        losses = [local_global_infonce_loss(q[i][:, None], k[j], self.temperature)
                  for i, j in symmetric_pairs(len(q), len(k))]
        return 2 * self.temperature * torch.stack(losses).mean()

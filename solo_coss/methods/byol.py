"""BYOL (Grill et al. 2020) and CO-BYOL: online projector + predictor regress the momentum projection."""

from __future__ import annotations

import copy

import torch
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead

from solo_coss.core import COConfig, local_global_byol_loss
from solo_coss.methods.base import SSLMethod, symmetric_pairs


class BYOL(SSLMethod):
    co_loss = "byol"
    momentum = True

    def __init__(self, backbone, proj_hidden_dim: int = 4096, proj_output_dim: int = 256,
                 pred_hidden_dim: int = 4096, co: COConfig | None = None):
        super().__init__(backbone, co)
        self.projector = BYOLProjectionHead(backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.predictor = BYOLPredictionHead(proj_output_dim, pred_hidden_dim, proj_output_dim)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.build_co_term(dict(proj_hidden_dim=proj_hidden_dim, proj_output_dim=proj_output_dim,
                                pred_hidden_dim=pred_hidden_dim))

    def global_momentum_pairs(self):
        return [(self.projector, self.momentum_projector)]

    def global_loss(self, online, target, progress):
        p = [self.predictor(self.projector(f)) for f in online]
        with torch.no_grad():
            z = [self.momentum_projector(f) for f in target]
        # The same normalised MSE as the local term, with one "position" per image.
        losses = [local_global_byol_loss(p[i][:, None], z[j]) for i, j in symmetric_pairs(len(p), len(z))]
        return torch.stack(losses).mean()

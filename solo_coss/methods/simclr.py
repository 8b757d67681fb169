"""SimCLR (Chen et al. 2020) and CO-SimCLR: NT-Xent between projections; the local term is its InfoNCE
form, each local embedding picking its own image's global embedding of the other view."""

from __future__ import annotations

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead

from solo_coss.core import COConfig
from solo_coss.methods.base import SSLMethod, symmetric_pairs


class SimCLR(SSLMethod):
    co_loss = "infonce"
    momentum = False

    def __init__(self, backbone, proj_hidden_dim: int = 2048, proj_output_dim: int = 128,
                 temperature: float = 0.2, co: COConfig | None = None):
        super().__init__(backbone, co)
        self.projector = SimCLRProjectionHead(backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)
        self.build_co_term(dict(proj_hidden_dim=proj_hidden_dim, proj_output_dim=proj_output_dim,
                                pred_hidden_dim=0, temperature=temperature))

    def global_loss(self, online, target, progress):
        z = [self.projector(f) for f in online]
        # NT-Xent is already symmetric in its two arguments: score each unordered pair once.
        pairs = [(i, j) for i, j in symmetric_pairs(len(z), len(target)) if i < j or i >= len(target)]
        losses = [self.criterion(z[i], z[j]) for i, j in pairs]
        return torch.stack(losses).mean()

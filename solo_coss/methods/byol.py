"""BYOL (Grill et al. 2020) and CO-BYOL: online projector + predictor regress the momentum projection."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from solo_coss.core import global_byol_loss, view_pairs
from solo_coss.methods.base import MethodContext, MethodKwargs, SSLMethod
from solo_coss.methods.heads import byol_mlp


@dataclass(kw_only=True)
class BYOLKwargs(MethodKwargs):
    proj_hidden_dim: int
    proj_output_dim: int
    pred_hidden_dim: int


class BYOL(SSLMethod):
    momentum = True
    Kwargs = BYOLKwargs

    def __init__(self, backbone, kwargs: BYOLKwargs, context: MethodContext):
        super().__init__(backbone, kwargs, context)
        self.projector = byol_mlp(backbone.num_features, kwargs.proj_hidden_dim, kwargs.proj_output_dim)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.predictor = byol_mlp(kwargs.proj_output_dim, kwargs.pred_hidden_dim, kwargs.proj_output_dim)

    def head_modules(self):
        return [("projector", self.projector), ("predictor", self.predictor)]

    def global_momentum_pairs(self):
        return [(self.projector, self.momentum_projector)]

    def global_loss(self, online, target, epoch):
        p = [self.predictor(self.projector(f)) for f in online]
        with torch.no_grad():
            z = [self.momentum_projector(f) for f in target]
        # 2 - 2 cos(p_i, z_j) summed over the ordered view pairs in solo-learn's order (target view
        # outermost), so both hosts round alike.
        pairs = sorted(view_pairs(len(p), len(z)), key=lambda ij: ij[1])
        return sum(global_byol_loss(p[i], z[j]) for i, j in pairs)

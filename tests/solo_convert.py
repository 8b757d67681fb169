"""Whole-checkpoint conversions between the two hosts, for the tests (the package itself only pairs the
states of single modules, ``solo_coss.hosts.solo_learn.convert.pair_in_order``).

Standalone checkpoints keep the method under ``method.`` (backbone under ``method.backbone.``); solo-learn's
keep the same modules at the top level (``backbone.``, ``projector.``, ...), so two states of the same
method and config pair up module by module, entry by entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.solo_learn.convert import SOLO_PREFIX, pair_in_order
from solo_coss.hosts.standalone.checkpoints import BACKBONE_PREFIX as STANDALONE_PREFIX

# standalone module prefix -> solo-learn module prefix
MODULES = {
    "method.backbone.": "backbone.", "method.momentum_backbone.": "momentum_backbone.",
    "method.projector.": "projector.", "method.momentum_projector.": "momentum_projector.",
    "method.predictor.": "predictor.", "method.head.": "head.", "method.momentum_head.": "momentum_head.",
    "method.co_term.": "co_term.", "method.criterion.": "dino_loss_func.",
    "classifier.": "classifier.", "momentum_classifier.": "momentum_classifier.",
}


def _group(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def pair_state_names(
    standalone: Mapping[str, torch.Tensor], solo: Mapping[str, torch.Tensor]
) -> dict[str, str]:
    """{standalone name: solo-learn name} for every entry of two state dicts of the same method and config,
    paired module by module, in order (``pair_in_order``)."""
    pairs: dict[str, str] = {}
    for ours, theirs in MODULES.items():
        pairs.update(pair_in_order(_group(standalone, ours), _group(solo, theirs),
                                   f"module {ours!r} (solo-learn {theirs!r})"))
    left = sorted(set(standalone) - set(pairs))
    if left:
        raise ValueError(f"standalone entries with no solo-learn counterpart: {left[:5]}")
    return pairs


def standalone_to_solo(standalone: Mapping[str, torch.Tensor], solo: Mapping[str, torch.Tensor]) -> dict:
    """solo-learn's state dict with every value taken from the standalone one (reshaped where the two store
    the same values in different shapes, e.g. DINO's centre)."""
    out = dict(solo)
    for x, y in pair_state_names(standalone, solo).items():
        out[y] = standalone[x].detach().clone().reshape(solo[y].shape)
    return out


def backbone_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The backbone's weights (un-prefixed) from either host's checkpoint."""
    state = safe_load(path)["state_dict"]
    for prefix in (STANDALONE_PREFIX, SOLO_PREFIX):
        found = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if found:
            return found
    raise ValueError(f"{path}: no backbone weights under {STANDALONE_PREFIX!r} or {SOLO_PREFIX!r}")


def load_into(model, path: str | Path) -> None:
    """Load the backbone of a checkpoint of either host into ``model.backbone`` (strict)."""
    model.backbone.load_state_dict(backbone_state(path))

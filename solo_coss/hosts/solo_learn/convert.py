"""Moving backbone weights between the two hosts' checkpoints.

Standalone checkpoints keep the backbone under ``method.backbone.`` and the config in
``hyper_parameters["cfg"]``; solo-learn's keep it under ``backbone.`` with solo's own config.
"""

from __future__ import annotations

from pathlib import Path

import torch

from solo_coss.hosts.safe_load import safe_load

STANDALONE_PREFIX, SOLO_PREFIX = "method.backbone.", "backbone."


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

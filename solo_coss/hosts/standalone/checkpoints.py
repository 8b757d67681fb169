"""Reading what the standalone host wrote: pretrained backbones and linear heads."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.standalone.config import backbone_from_config

BACKBONE_PREFIX = "method.backbone."


def load_backbone(path: str | Path, ckpt: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(backbone with the pretrained weights, in eval mode; the run's config) from a pretraining .ckpt
    (``ckpt``: its content, when already read)."""
    ckpt = safe_load(path) if ckpt is None else ckpt
    cfg = (ckpt.get("hyper_parameters") or {}).get("cfg")
    if cfg is None or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a solo-coss pretraining checkpoint (no hyper_parameters.cfg)")
    backbone = backbone_from_config(cfg)
    state = {
        k[len(BACKBONE_PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(BACKBONE_PREFIX)
    }
    backbone.load_state_dict(state)
    return backbone.eval(), cfg


def save_linear(path: str | Path, head: nn.Linear, pretrained: str | Path, cfg: dict[str, Any],
                metrics: dict[str, float], source: dict[str, Any], run: str | Path | None = None) -> None:
    """``source``: the identity of the backbone the head was trained on (pretrained.checkpoint_identity)."""
    torch.save({"kind": "solo-coss-linear", "state_dict": head.state_dict(), "pretrained": str(pretrained),
                "in_features": head.in_features, "num_classes": head.out_features, "cfg": cfg,
                "metrics": metrics, "source": source, "run": None if run is None else str(run)}, path)


def epoch_checkpoints(checkpoint: dict[str, Any], out: Path) -> list[ModelCheckpoint]:
    """solo-learn's checkpoint block (``enabled``, ``frequency``, ``keep_prev``) as Lightning callbacks
    writing ``<epoch>.ckpt`` and ``last.ckpt`` into the run folder."""
    if not checkpoint["enabled"]:
        return []
    # Without the version counter both checkpoint callbacks write last.ckpt itself, so it is always the
    # latest state, and a restarted run does not add a last-vN.ckpt beside it.
    return [ModelCheckpoint(dirpath=str(out), filename="{epoch:03d}", save_last=True,
                            save_top_k=-1 if checkpoint.get("keep_prev") else 1,
                            every_n_epochs=int(checkpoint.get("frequency", 1)), enable_version_counter=False)]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO that writes to a temporary file in the same folder and renames it over the
    target: a run killed during a save leaves the previous checkpoint intact, never a truncated one. It reads
    with safe_load. ``after_save(path)`` is called once a checkpoint is in place (the run folder's ``latest``
    follows its first one)."""

    def __init__(self, after_save: Callable[[Path], None] | None = None):
        super().__init__()
        self.after_save = after_save

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        # resuming from a last.ckpt runs no pickled code either (weights_only is always on)
        return safe_load(path, map_location=map_location)

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            torch.save(checkpoint, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        if self.after_save is not None:
            self.after_save(path)

"""Reading a pretrained backbone (and linear head) from either host's run: what every evaluation tool uses.

- standalone: a Lightning checkpoint with the resolved config in ``hyper_parameters["cfg"]``;
- solo-learn: a checkpoint of its main_pretrain (``<name>-<id>-ep=<n>.ckpt``) with its ``args.json`` beside
  it; the backbone is built from that config as solo-learn built it (torchvision ResNets get its CIFAR stem)
  and its weights paired entry by entry (``conv1`` there is ``stem.0`` here).

A run may be given as a checkpoint file or as its folder (the standalone ``last.ckpt``, or solo-learn's
checkpoint of the highest epoch).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch import nn

from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.solo_learn.convert import SOLO_PREFIX, pair_in_order
from solo_coss.hosts.standalone.checkpoints import load_backbone
from solo_coss.hosts.standalone.config import backbone_from_config

SOLO_EPOCH = re.compile(r"ep=(\d+)\.ckpt$")


def checkpoint_of(run: str | Path) -> Path:
    """The checkpoint a run path designates: the file itself, or the run folder's latest checkpoint."""
    run = Path(run)
    if run.is_file():
        return run
    if not run.is_dir():
        raise FileNotFoundError(f"no checkpoint or run folder at {run}")
    if (run / "last.ckpt").is_file():
        return run / "last.ckpt"
    solo = sorted(run.glob("*ep=*.ckpt"), key=lambda p: int(SOLO_EPOCH.search(p.name).group(1)))
    if solo:
        return solo[-1]
    raise FileNotFoundError(f"{run} holds no last.ckpt (standalone run) and no *-ep=N.ckpt (solo-learn run)")


def is_solo_checkpoint(ckpt: dict[str, Any]) -> bool:
    return "cfg" not in (ckpt.get("hyper_parameters") or {}) and \
        any(k.startswith(SOLO_PREFIX) for k in ckpt.get("state_dict", {}))


def solo_args(path: Path) -> dict[str, Any]:
    args = path.parent / "args.json"
    if not args.is_file():
        raise FileNotFoundError(f"{path} looks like a solo-learn checkpoint but {args} is missing: solo-learn "
                                "writes it beside its checkpoints; copy it along")
    return json.loads(args.read_text())


def load_solo_backbone(path: Path, ckpt: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    cfg = solo_args(path)
    backbone = backbone_from_config(cfg)
    theirs = {k[len(SOLO_PREFIX):]: v for k, v in ckpt["state_dict"].items() if k.startswith(SOLO_PREFIX)}
    names = pair_in_order(backbone.state_dict(), theirs, f"{path} (backbone {cfg['backbone']['name']})",
                          same_shape=True)
    backbone.load_state_dict({ours: theirs[their] for ours, their in names.items()})
    return backbone.eval(), cfg


def load_pretrained(run: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(backbone with the pretrained weights, in eval mode; the run's config) from either host's run."""
    path = checkpoint_of(run)
    ckpt = safe_load(path)
    if is_solo_checkpoint(ckpt):
        return load_solo_backbone(path, ckpt)
    return load_backbone(path)


def load_linear(path: str | Path, pretrained: str | Path | None = None) -> tuple[nn.Module, nn.Linear, dict]:
    """(backbone, linear head, pretraining config) from a head saved by solo-coss-linear; ``pretrained``
    overrides the backbone checkpoint path recorded in it."""
    ckpt = safe_load(path)
    if ckpt.get("kind") != "solo-coss-linear":
        raise ValueError(f"{path} is not a solo-coss linear head (written by solo-coss-linear)")
    backbone, cfg = load_pretrained(pretrained or ckpt["pretrained"])
    if backbone.num_features != ckpt["in_features"]:
        raise ValueError(f"linear head {path} expects {ckpt['in_features']} features but the backbone "
                         f"{cfg['backbone']['name']} gives {backbone.num_features}")
    head = nn.Linear(ckpt["in_features"], ckpt["num_classes"])
    head.load_state_dict(ckpt["state_dict"])
    return backbone, head.eval(), cfg

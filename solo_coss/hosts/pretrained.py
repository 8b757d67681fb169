"""Reading a pretrained backbone (and linear head) from either host's run: what every evaluation tool uses.

- standalone: a Lightning checkpoint with the resolved config in ``hyper_parameters["cfg"]``;
- solo-learn: a checkpoint of its main_pretrain (``<name>-<id>-ep=<n>.ckpt``) with its ``args.json`` beside
  it; the backbone is built from that config as solo-learn built it (torchvision ResNets get its CIFAR stem)
  and its weights paired entry by entry (``conv1`` there is ``stem.0`` here).

A run may be given as a checkpoint file or as its folder (the standalone ``last.ckpt``, or solo-learn's
checkpoint of the highest epoch), or as the folder of a standalone run's name (its ``latest`` run).

Every evaluation records where its backbone came from (``checkpoint_identity``: the checkpoint's path and
step, and a SHA-256 of the backbone's weights), and results are refused for a backbone they were not computed
on.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from solo_coss.hosts.safe_load import safe_load
from solo_coss.hosts.solo_learn.convert import SOLO_PREFIX, pair_in_order
from solo_coss.hosts.standalone.checkpoints import load_backbone
from solo_coss.hosts.standalone.config import backbone_from_config

SOLO_EPOCH = re.compile(r"ep=(\d+)\.ckpt$")
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")  # run_folder.new_run_id


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
    if (run / "latest").is_dir():  # <checkpoint.dir>/<name>: the run launched last
        return checkpoint_of((run / "latest").resolve())
    if RUN_ID.match(run.name) and (run / "config.json").is_file():
        raise FileNotFoundError(f"{run} holds no checkpoint: its launch stopped before writing one, so it is "
                                "not a run (its train_time.json says how far it got); "
                                f"{run.parent} names the latest run")
    raise FileNotFoundError(
        f"{run} holds no last.ckpt (standalone run), no latest/ (standalone runs of one name) "
        "and no *-ep=N.ckpt (solo-learn run)"
    )


def run_label(run: str | Path) -> str:
    """A short name for a run in tables: its folder's name, or its name's for ``<name>/<id>`` and
    ``<name>/latest``."""
    folder = Path(run).parent if Path(run).is_file() else Path(run)
    return folder.parent.name if folder.name == "latest" or RUN_ID.match(folder.name) else folder.name


def is_solo_checkpoint(ckpt: dict[str, Any]) -> bool:
    return "cfg" not in (ckpt.get("hyper_parameters") or {}) and \
        any(k.startswith(SOLO_PREFIX) for k in ckpt.get("state_dict", {}))


def solo_args(path: Path) -> dict[str, Any]:
    args = path.parent / "args.json"
    if not args.is_file():
        raise FileNotFoundError(
            f"{path} looks like a solo-learn checkpoint but {args} is missing: solo-learn "
            "writes it beside its checkpoints; copy it along"
        )
    return json.loads(args.read_text())


def load_solo_backbone(path: Path, ckpt: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    cfg = solo_args(path)
    backbone = backbone_from_config(cfg)
    theirs = {k[len(SOLO_PREFIX):]: v for k, v in ckpt["state_dict"].items() if k.startswith(SOLO_PREFIX)}
    names = pair_in_order(backbone.state_dict(), theirs, f"{path} (backbone {cfg['backbone']['name']})",
                          same_shape=True)
    backbone.load_state_dict({ours: theirs[their] for ours, their in names.items()})
    return backbone.eval(), cfg


def backbone_digest(backbone: nn.Module) -> str:
    """SHA-256 of the backbone's state (names, dtypes, shapes, bytes): the same weights give the same digest,
    whichever host or file they were read from."""
    sha = hashlib.sha256()
    for name, value in sorted(backbone.state_dict().items()):
        value = value.detach().cpu().contiguous()
        sha.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        sha.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def checkpoint_identity(
    path: str | Path, backbone: nn.Module, ckpt: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What an evaluation records about the checkpoint it came from: path, step, epoch, the backbone's SHA-256
    and, for a standalone run, whether it is the end of a finished run (``run_finished``) and how many steps
    the run was planned to take (``planned_steps``)."""
    ckpt = ckpt or {}
    return {"checkpoint": str(Path(path).resolve()), "global_step": ckpt.get("global_step"),
            "epoch": ckpt.get("epoch"), "backbone_sha256": backbone_digest(backbone),
            **run_progress(Path(path), ckpt.get("global_step"))}


def run_progress(path: Path, step: int | None) -> dict[str, Any]:
    """``run_finished`` and ``planned_steps`` of the standalone run a checkpoint belongs to ({} elsewhere)."""
    from solo_coss.hosts.standalone.run_folder import TRAIN_TIME, read_train_time

    if not (path.parent / TRAIN_TIME).is_file():
        return {}
    record = read_train_time(path.parent)
    planned = next((p["planned_steps"] for p in reversed(record["parts"]) if p.get("planned_steps")), None)
    return {"run_finished": bool(record.get("finished")) and record.get("global_step") == step,
            "planned_steps": planned}


def progress_note(identity: dict[str, Any]) -> str:
    """``, an unfinished run of 6 steps`` for a checkpoint that is not the end of its finished run."""
    if identity.get("run_finished") is not False:
        return ""
    planned = f" of {identity['planned_steps']} steps" if identity.get("planned_steps") else ""
    return f", an unfinished run{planned}"


def describe(identity: dict[str, Any]) -> str:
    return (f"{identity.get('checkpoint')} (step {identity.get('global_step')}, backbone "
            f"{str(identity.get('backbone_sha256'))[:12]}{progress_note(identity)})")


def check_source(what: str, recorded: dict[str, Any] | None, current: dict[str, Any], remedy: str) -> None:
    """Refuse, in one line, a result ``what`` that was not computed on the backbone ``current``."""
    if not recorded or "backbone_sha256" not in recorded:
        raise ValueError(
            f"{what} records no checkpoint identity (written before solo-coss recorded one), so it "
            f"cannot be tied to {describe(current)}: {remedy}"
        )
    if recorded["backbone_sha256"] != current["backbone_sha256"]:
        raise ValueError(f"{what} belongs to {describe(recorded)}, not to {describe(current)}: {remedy}")


def load_identified(run: str | Path) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """(backbone with the pretrained weights, in eval mode; the run's config; its checkpoint_identity)."""
    path = checkpoint_of(run)
    ckpt = safe_load(path)
    backbone, cfg = load_solo_backbone(path, ckpt) if is_solo_checkpoint(ckpt) else load_backbone(path, ckpt)
    return backbone, cfg, checkpoint_identity(path, backbone, ckpt)


def load_pretrained(run: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(backbone with the pretrained weights, in eval mode; the run's config) from either host's run."""
    path = checkpoint_of(run)
    ckpt = safe_load(path)
    if is_solo_checkpoint(ckpt):
        return load_solo_backbone(path, ckpt)
    return load_backbone(path, ckpt)


def load_linear(path: str | Path, pretrained: str | Path | None = None) -> tuple[nn.Module, nn.Linear, dict]:
    """(backbone, linear head, pretraining config) from a head saved by solo-coss-linear; ``pretrained``
    overrides the backbone checkpoint path recorded in it. A head is refused with any backbone but the one
    it was trained on (another run's, or its own run's after more training)."""
    ckpt = safe_load(path)
    if ckpt.get("kind") != "solo-coss-linear":
        raise ValueError(f"{path} is not a solo-coss linear head (written by solo-coss-linear)")
    backbone, cfg, identity = load_identified(pretrained or ckpt["pretrained"])
    if backbone.num_features != ckpt["in_features"]:
        raise ValueError(f"linear head {path} expects {ckpt['in_features']} features but the backbone "
                         f"{cfg['backbone']['name']} gives {backbone.num_features}")
    finetuned = " (finetune: true trained its own copy of the backbone)" \
        if (ckpt.get("source") or {}).get("finetuned") else ""
    check_source(f"linear head {path}{finetuned}", ckpt.get("source"), identity,
                 "pass the checkpoint it was trained on, or train a head for this one with solo-coss-linear")
    head = nn.Linear(ckpt["in_features"], ckpt["num_classes"])
    head.load_state_dict(ckpt["state_dict"])
    return backbone, head.eval(), cfg


def linear_source(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint identity a linear head records."""
    return safe_load(path).get("source")

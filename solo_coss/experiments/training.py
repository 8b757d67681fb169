"""Training one (method, seed) run of a study on either host, resumably: a finished run is not trained
again, a killed one continues from its last checkpoint, and a study folder holding a run of another config is
an error rather than a silent mix (its cached evaluations are per method and seed).

Standalone runs land in ``<study>/runs/<method>-seed<N>/<id>/`` (the host's run folders, see
hosts/standalone/run_folder.py); solo-learn's under ``<study>/runs/<method>-seed<N>/<method>/<id>/``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solo_coss.core.keys import check_choice
from solo_coss.hosts.cli import HOSTS  # noqa: F401  (re-exported: the hosts a study may train on)
from solo_coss.hosts.pretrained import checkpoint_of, load_identified
from solo_coss.hosts.standalone.config import load_config, record, resolve_pretrain_config
from solo_coss.hosts.standalone.pretrain import run_pretrain
from solo_coss.hosts.standalone.run_folder import is_finished, read_config, read_train_time, runs_under

SOLO_DATASETS = ("cifar10", "cifar100", "stl10", "imagenet", "imagenet100", "custom")
DONE = "train_time.json"
# Keys that may differ between the first launch of a run and its resumption.
RESUME_KEYS = ("auto_resume", "resume_from_checkpoint", "debug_augmentations")


@dataclass
class Trained:
    folder: Path          # the run folder (standalone) or the study's folder for it (solo-learn)
    seconds: float | None


def run_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}"


def study_overrides(name: str, runs: Path, seed: int) -> list[str]:
    """``++``: set whether or not the YAML has the key (solo-learn's recipes have no seed)."""
    return [f"++name={name}", f"++checkpoint.dir={runs}", f"++seed={seed}", "++checkpoint.enabled=true",
            "++auto_resume.enabled=true"]


def _same_run(saved: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """Top-level keys whose values differ. checkpoint.dir is where the folder already is, however it is
    spelled (--out runs/x and --out /abs/runs/x are the same study)."""
    def comparable(c: dict[str, Any]) -> dict[str, Any]:
        return {**c, "checkpoint": {k: v for k, v in (c.get("checkpoint") or {}).items() if k != "dir"}}

    saved, cfg = comparable(saved), comparable(cfg)
    keys = (set(saved) | set(cfg)) - set(RESUME_KEYS)
    return sorted(k for k in keys if saved.get(k) != cfg.get(k))


def train_standalone(config_dir: Path, method: str, seed: int, runs: Path, overrides: list[str]) -> Trained:
    name = run_name(method, seed)
    composed = load_config(
        str(config_dir), f"{method}.yaml", [*study_overrides(name, runs, seed), *overrides]
    )
    cfg = record(resolve_pretrain_config(composed))
    earlier = {folder: _same_run(read_config(folder), cfg) for folder in runs_under(runs / name)}
    if earlier and all(earlier.values()):
        folder, differing = next(iter(earlier.items()))
        raise ValueError(f"{folder} holds a run of another config (keys {differing} differ): remove it or "
                         "choose another --out")
    finished = [folder for folder in earlier if is_finished(folder)]
    # auto_resume: a killed run continues from its last.ckpt
    folder = finished[-1] if finished else run_pretrain(composed)
    return Trained(folder, read_train_time(folder)["seconds"])


def train_solo_learn(config_dir: Path, method: str, seed: int, runs: Path, overrides: list[str]) -> Trained:
    """solo-learn's own main_pretrain (our methods registered). Its checkpoints land under
    runs/<name>/<method>/<id>/; the study marks the run done itself."""
    from solo_coss.hosts.solo_learn import run

    name = run_name(method, seed)
    folder = runs / name
    dataset = load_config(str(config_dir), f"{method}.yaml", overrides).data.dataset
    if dataset not in SOLO_DATASETS:
        raise ValueError(f"solo-learn has no {dataset!r} dataset (it knows {list(SOLO_DATASETS)}); run this "
                         "study with --host standalone")
    if not (folder / DONE).is_file():
        start = time.perf_counter()
        run("pretrain", ["--config-path", str(config_dir), "--config-name", f"{method}.yaml",
                         *study_overrides(name, folder, seed), *overrides])
        (folder / DONE).write_text(json.dumps({"seconds": time.perf_counter() - start}))
    return Trained(folder, json.loads((folder / DONE).read_text())["seconds"])


def train(host: str, config_dir: Path, method: str, seed: int, runs: Path, overrides: list[str]) -> Trained:
    check_choice("--host", host, HOSTS)
    trainer = train_standalone if host == "standalone" else train_solo_learn
    return trainer(config_dir, method, seed, runs, overrides)


def trained_backbone(trained: Trained):
    """(backbone, config, checkpoint identity) of a finished run of either host."""
    folder = trained.folder
    if not (folder / "last.ckpt").is_file():  # solo-learn: <folder>/<method>/<id>/*.ckpt
        checkpoints = sorted(folder.rglob("*-ep=*.ckpt"))
        if not checkpoints:
            raise FileNotFoundError(f"no checkpoint under {folder}")
        folder = checkpoints[-1].parent
    return load_identified(checkpoint_of(folder))

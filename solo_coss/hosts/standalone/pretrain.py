"""Pretraining on the standalone host: config -> data -> PretrainModule -> Lightning Trainer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

from solo_coss.data.datasets import IMAGE_FOLDER_DATASETS, labelled_num_classes
from solo_coss.data.loaders import build_pretrain_dataloader, build_val_dataloader, check_data_cfg
from solo_coss.data.transforms import normalize_augmentations, pretrain_crop_size
from solo_coss.hosts.standalone.auto_umap import auto_umap_callback
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO
from solo_coss.hosts.standalone.config import resolve_pretrain_config, trainer_kwargs
from solo_coss.hosts.standalone.loggers import (
    build_loggers,
    finish_wandb,
    missing_root,
    removed_if_setup_fails,
    start_wandb,
)
from solo_coss.hosts.standalone.module import PretrainModule
from solo_coss.hosts.standalone.quiet import RunSummary, quiet_lightning
from solo_coss.hosts.standalone.resumable import ResumeCallback, resumable_loader
from solo_coss.hosts.standalone.val_probe import ValSetProbe


def run_dir(cfg: dict[str, Any]) -> Path:
    return Path(cfg["checkpoint"].get("dir", "trained_models")) / cfg["name"]


def resume_checkpoint(cfg: dict[str, Any], out: Path) -> str | None:
    """solo-learn's rule: ``resume_from_checkpoint`` when given; else, with auto_resume, the run folder's
    last.ckpt if it was written less than ``auto_resume.max_hours`` ago."""
    if cfg.get("resume_from_checkpoint"):
        path = Path(cfg["resume_from_checkpoint"])
        if not path.is_file():
            raise FileNotFoundError(f"resume_from_checkpoint={str(path)!r} does not exist")
        return str(path)
    last = out / "last.ckpt"
    if not (cfg["auto_resume"]["enabled"] and last.is_file()):
        return None
    age_hours = (time.time() - last.stat().st_mtime) / 3600
    return str(last) if age_hours <= float(cfg["auto_resume"]["max_hours"]) else None


def _strategy(cfg: dict[str, Any]):
    if cfg.get("strategy") == "ddp":  # as solo-learn
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=False)
    return cfg.get("strategy") or "auto"


def online_probes(cfg: dict[str, Any], batch_size: int) -> tuple[Any, list]:
    """(validation loader or None, callbacks) of the online linear probe and kNN; sets data.num_classes.

    Labelled training images: the module's own probes (classes of the training set). Unlabelled ones
    (data.no_labels): 0 classes for the module (no online classifier, no kNN bank) and, with a labelled
    data.val_path, probes fitted on the validation set (ValSetProbe); without one they are skipped."""
    data = check_data_cfg(cfg["data"])
    crop = pretrain_crop_size(cfg["augmentations"])
    if data.get("no_labels") and data["dataset"] in IMAGE_FOLDER_DATASETS:
        cfg["data"]["num_classes"] = 0
        if not data.get("val_path"):
            rank_zero_info("data.no_labels without data.val_path: no labelled images, so the online linear "
                           "probe and kNN are skipped")
            return None, []
        probe = ValSetProbe(labelled_num_classes(data["dataset"], data["val_path"], train=False), cfg["knn_eval"])
        return build_val_dataloader(data, batch_size, crop_size=crop), [probe]
    if not cfg["data"].get("num_classes"):
        cfg["data"]["num_classes"] = labelled_num_classes(data["dataset"], data.get("train_path"), train=True)
    if data.get("val_path") or data["dataset"] == "fashion_mnist":
        return build_val_dataloader(data, batch_size, crop_size=crop), []
    return None, []


def run_pretrain(config: Any) -> Path:
    """Train as the config says; returns the run folder (checkpoints, logs/metrics.csv, config.json)."""
    cfg = resolve_pretrain_config(config)
    L.seed_everything(cfg["seed"], workers=True)
    out = run_dir(cfg)
    created = missing_root(out)
    out.mkdir(parents=True, exist_ok=True)
    batch_size = int(cfg["optimizer"]["batch_size"])
    train_loader = build_pretrain_dataloader(cfg["data"], cfg["augmentations"], batch_size, seed=cfg["seed"])
    val_loader, callbacks = online_probes(cfg, batch_size)
    (out / "config.json").write_text(json.dumps(cfg, indent=2))

    callbacks.append(LearningRateMonitor(logging_interval="step"))
    if cfg["auto_umap"]["enabled"]:
        callbacks.append(auto_umap_callback(cfg, val_loader))
    # Without the version counter both checkpoint callbacks write last.ckpt itself, so it is always the
    # latest state, and a restarted run does not add a last-vN.ckpt beside it.
    if cfg["checkpoint"]["enabled"]:
        callbacks.append(ModelCheckpoint(dirpath=str(out), filename="{epoch:03d}", save_last=True,
                                         save_top_k=-1 if cfg["checkpoint"].get("keep_prev") else 1,
                                         every_n_epochs=int(cfg["checkpoint"].get("frequency", 1)),
                                         enable_version_counter=False))
    every_n_steps = cfg["checkpoint"].get("every_n_steps")
    if every_n_steps:  # resumable mid-epoch: deterministic data, step checkpoints, checkpoint on SIGTERM
        train_loader = resumable_loader(train_loader, cfg["seed"])
        callbacks += [ModelCheckpoint(dirpath=str(out), save_last=True, save_top_k=0,
                                      every_n_train_steps=int(every_n_steps), enable_version_counter=False),
                      ResumeCallback(train_loader, str(out / "last.ckpt"))]
    if cfg["debug_augmentations"]:
        print("Transforms:", json.dumps(normalize_augmentations(cfg["augmentations"]), indent=1))
    kwargs = {"accelerator": "auto", "devices": 1, "log_every_n_steps": 10, **trainer_kwargs(cfg),
              "strategy": _strategy(cfg)}
    ckpt_path = resume_checkpoint(cfg, out)
    if cfg.get("enable_model_summary", True):
        callbacks.append(RunSummary({"method": cfg["method"]}))
    with removed_if_setup_fails(created), quiet_lightning():  # e.g. wandb without a login: no empty folder stays
        trainer = L.Trainer(default_root_dir=str(out), logger=build_loggers(cfg, out, resuming=bool(ckpt_path)),
                            callbacks=callbacks, enable_checkpointing=cfg["checkpoint"]["enabled"],
                            plugins=[AtomicCheckpointIO()], **kwargs)
        model = PretrainModule(cfg)
        start_wandb(trainer, model, cfg)
    start = time.perf_counter()
    with quiet_lightning():
        trainer.fit(model, train_loader, val_loader, ckpt_path=ckpt_path)
    finish_wandb(trainer)
    (out / "train_time.json").write_text(json.dumps({"seconds": time.perf_counter() - start,
                                                      "global_step": trainer.global_step}))
    return out

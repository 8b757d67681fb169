"""Pretraining on the standalone host: config -> data -> PretrainModule -> Lightning Trainer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from solo_coss.data.datasets import dataset_num_classes
from solo_coss.data.loaders import build_eval_dataloaders, build_pretrain_dataloader
from solo_coss.data.transforms import normalize_augmentations, pretrain_crop_size
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO
from solo_coss.hosts.standalone.config import resolve_pretrain_config, trainer_kwargs
from solo_coss.hosts.standalone.module import PretrainModule
from solo_coss.hosts.standalone.resumable import ResumeCallback, resumable_loader


def run_dir(cfg: dict[str, Any]) -> Path:
    return Path(cfg["checkpoint"].get("dir", "trained_models")) / cfg["name"]


def _loggers(cfg: dict[str, Any], out: Path) -> list:
    loggers = [CSVLogger(str(out), name="logs", version=""), TensorBoardLogger(str(out), name="tb", version="")]
    wandb = cfg.get("wandb") or {}
    if wandb.get("enabled"):
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(WandbLogger(name=cfg["name"], project=wandb.get("project", "solo-learn"),
                                   entity=wandb.get("entity"), offline=wandb.get("offline", True),
                                   save_dir=str(out)))
    return loggers


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


def run_pretrain(config: Any) -> Path:
    """Train as the config says; returns the run folder (checkpoints, logs/metrics.csv, config.json)."""
    cfg = resolve_pretrain_config(config)
    L.seed_everything(cfg["seed"], workers=True)
    out = run_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    batch_size = int(cfg["optimizer"]["batch_size"])
    train_loader = build_pretrain_dataloader(cfg["data"], cfg["augmentations"], batch_size, seed=cfg["seed"])
    dataset = getattr(train_loader, "dataset", None)
    if not cfg["data"].get("num_classes"):
        cfg["data"]["num_classes"] = dataset_num_classes(cfg["data"]["dataset"], dataset)
    val_loader = None
    if cfg["data"].get("val_path") or cfg["data"]["dataset"] == "fashion_mnist":
        _, val_loader = build_eval_dataloaders(cfg["data"], batch_size, crop_size=pretrain_crop_size(cfg["augmentations"]))
    (out / "config.json").write_text(json.dumps(cfg, indent=2))

    callbacks = [LearningRateMonitor(logging_interval="step")]
    if cfg["checkpoint"]["enabled"]:
        callbacks.append(ModelCheckpoint(dirpath=str(out), filename="{epoch:03d}", save_last=True,
                                         save_top_k=-1 if cfg["checkpoint"].get("keep_prev") else 1,
                                         every_n_epochs=int(cfg["checkpoint"].get("frequency", 1))))
    every_n_steps = cfg["checkpoint"].get("every_n_steps")
    if every_n_steps:  # resumable mid-epoch: deterministic data, step checkpoints, checkpoint on SIGTERM
        train_loader = resumable_loader(train_loader, cfg["seed"])
        callbacks += [ModelCheckpoint(dirpath=str(out), save_last=True, save_top_k=0,
                                      every_n_train_steps=int(every_n_steps)),
                      ResumeCallback(train_loader, str(out / "last.ckpt"))]
    if cfg["debug_augmentations"]:
        print("Transforms:", json.dumps(normalize_augmentations(cfg["augmentations"]), indent=1))
    kwargs = {"accelerator": "auto", "devices": 1, "log_every_n_steps": 10, **trainer_kwargs(cfg),
              "strategy": _strategy(cfg)}
    trainer = L.Trainer(default_root_dir=str(out), logger=_loggers(cfg, out), callbacks=callbacks,
                        enable_checkpointing=cfg["checkpoint"]["enabled"],
                        plugins=[AtomicCheckpointIO()], **kwargs)
    model = PretrainModule(cfg)
    start = time.perf_counter()
    trainer.fit(model, train_loader, val_loader, ckpt_path=resume_checkpoint(cfg, out))
    (out / "train_time.json").write_text(json.dumps({"seconds": time.perf_counter() - start,
                                                      "global_step": trainer.global_step}))
    return out

"""Pretraining on the standalone host: config -> data -> PretrainModule -> Lightning Trainer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from solo_coss.data.loaders import batches_per_rank, build_pretrain_dataloader, build_val_dataloader
from solo_coss.data.spec import DataSpec, resolve_data
from solo_coss.data.transforms import normalize_augmentations, pretrain_crop_size
from solo_coss.hosts.standalone.auto_umap import auto_umap_callback
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO, epoch_checkpoints
from solo_coss.hosts.standalone.config import lr_scaling_line, resolve_pretrain_config, trainer_kwargs
from solo_coss.hosts.standalone.loggers import (
    build_loggers,
    finish_wandb,
    missing_root,
    removed_if_setup_fails,
    start_wandb,
)
from solo_coss.hosts.standalone.module import NonFiniteLossError, PretrainModule
from solo_coss.hosts.standalone.quiet import RunSummary, quiet_lightning, resume_notes
from solo_coss.hosts.standalone.resumable import ResumeCallback, resumable_loader
from solo_coss.hosts.standalone.run_folder import (
    AgreedRun,
    RunFolder,
    RunHistory,
    choose_run,
    discard_if_not_a_run,
    open_run,
    point_latest,
    say,
)
from solo_coss.hosts.standalone.val_probe import ValSetProbe


def runs_base(cfg: dict[str, Any]) -> Path:
    """``<checkpoint.dir>/<name>``: the folder holding every run of this name, one folder per run."""
    return Path(cfg["checkpoint"].get("dir") or "trained_models") / cfg["name"]




def _strategy(cfg: dict[str, Any]):
    if cfg.get("strategy") == "ddp":  # as solo-learn
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=False)
    return cfg.get("strategy") or "auto"


def online_probes(cfg: dict[str, Any], data: DataSpec, batch_size: int) -> tuple[Any, list]:
    """(validation loader or None, callbacks) of the online linear probe and kNN; sets data.num_classes.

    Labelled training images: the module's own probes (classes of the training set). Unlabelled ones
    (data.no_labels): 0 classes for the module (no online classifier, no kNN bank) and, with a labelled
    data.val_path, probes fitted on the validation set (ValSetProbe); without one they are skipped."""
    crop = pretrain_crop_size(cfg["augmentations"])
    cfg["data"]["num_classes"] = data.num_classes
    if data.unlabelled:
        if not data.val_path:
            rank_zero_info("data.no_labels without data.val_path: no labelled images, so the online linear "
                           "probe and kNN are skipped")
            return None, []
        return build_val_dataloader(data, batch_size, crop_size=crop), [ValSetProbe(data.val_num_classes,
                                                                                    cfg["knn_eval"])]
    if data.num_classes == 1:
        rank_zero_warn(
            f"data.train_path={data.train_path} holds a single class folder: the online "
            "linear probe and kNN have one label to predict and report 100%; add class folders, or "
            "set +data.no_labels=true to train on its images as unlabelled ones"
        )
    return (build_val_dataloader(data, batch_size, crop_size=crop) if data.has_val else None), []


def run_pretrain(config: Any) -> Path:
    """Train as the config says; returns the run folder (checkpoints, logs/metrics.csv, config.json,
    train_time.json): a new one under ``<checkpoint.dir>/<name>/``, or the run it resumes (run_folder)."""
    cfg = resolve_pretrain_config(config)
    L.seed_everything(cfg["seed"], workers=True)
    batch_size = int(cfg["optimizer"]["batch_size"])
    data = resolve_data(cfg["data"])
    train_loader = build_pretrain_dataloader(data, cfg["augmentations"], batch_size, seed=cfg["seed"])
    val_loader, callbacks = online_probes(cfg, data, batch_size)
    run = choose_run(runs_base(cfg), cfg, cfg["auto_resume"], cfg.get("resume_from_checkpoint"))
    if run.finished:
        say(run.note)
        return run.path
    out = run.path
    created = missing_root(out)

    callbacks += [LearningRateMonitor(logging_interval="step"), *epoch_checkpoints(cfg["checkpoint"], out)]
    if cfg["auto_umap"]["enabled"]:
        callbacks.append(auto_umap_callback(cfg, val_loader, out))
    every_n_steps = cfg["checkpoint"].get("every_n_steps")
    if every_n_steps:  # resumable mid-epoch: deterministic data, step checkpoints, checkpoint on SIGTERM
        train_loader = resumable_loader(train_loader, cfg["seed"])
        callbacks += [ModelCheckpoint(dirpath=str(out), save_last=True, save_top_k=0,
                                      every_n_train_steps=int(every_n_steps), enable_version_counter=False),
                      ResumeCallback(train_loader, str(out / "last.ckpt"))]
    if cfg["debug_augmentations"]:
        print("Transforms:", json.dumps(normalize_augmentations(cfg["augmentations"]), indent=1))
    if cfg.get("enable_model_summary", True):
        callbacks.append(RunSummary({"method": cfg["method"]}))
    kwargs = {"accelerator": "auto", "devices": 1, "log_every_n_steps": 10, **trainer_kwargs(cfg),
              "strategy": _strategy(cfg)}
    history = RunHistory(run)
    # e.g. wandb without a login: no empty folder stays
    with removed_if_setup_fails(created), quiet_lightning():
        trainer = L.Trainer(
            default_root_dir=str(out),
            logger=build_loggers(cfg, out, resuming=bool(run.resume_from)),
            callbacks=[*callbacks, history, AgreedRun(run)],
            enable_checkpointing=cfg["checkpoint"]["enabled"],
            plugins=[AtomicCheckpointIO(after_save=lambda _: point_latest(run.path))],
            **kwargs,
        )
        model = PretrainModule(cfg, lambda world_size: batches_per_rank(train_loader, world_size))
        say(run.note)  # the config, the Trainer and the model are built: this launch trains
        say(lr_scaling_line(cfg, trainer.world_size))
        start_wandb(trainer, model, cfg)
    open_run(run, cfg)
    with quiet_lightning(*resume_notes(run.resume_from, run.path, bool(every_n_steps))):
        try:
            trainer.fit(model, train_loader, val_loader, ckpt_path=run.resume_from)
        except BaseException as err:  # a launch that wrote no checkpoint leaves no run folder
            removed = discard_if_not_a_run(run.path, created)
            if isinstance(err, NonFiniteLossError):
                raise NonFiniteLossError(f"{err}. {_after_non_finite(run, removed)}") from None
            raise
    finish_wandb(trainer)
    history.write(trainer, trainer.global_step, "finished")
    point_latest(run.path)
    return run.path


def _after_non_finite(run: RunFolder, removed: bool) -> str:
    last = run.path / "last.ckpt"
    if not last.is_file():
        started = f" (it started from {run.resume_from})" if run.resume_from else ""
        gone = f" and its folder {run.path} was removed" if removed else ""
        return (f"No checkpoint of this run was written before it{started}{gone}: lower optimizer.lr or "
                "check the data, and start again.")
    return (
        f"The last checkpoint, {last}, predates it and was kept: lower optimizer.lr or check the data, then "
        f"continue from it with +resume_from_checkpoint={last} (a new run folder when the lr changes)."
    )

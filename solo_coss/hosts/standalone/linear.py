"""solo-coss-linear on the standalone host: solo-learn's main_linear, on PyPI parts.

A linear classifier on the frozen backbone of a pretraining run of either host (the backbone in eval mode,
or trained too with ``finetune: true``), with solo-learn's linear schema and semantics: its per-dataset
augmentations (random-resized crop + flip), lr scaled by batch_size x devices x num_nodes / 256, its
optimizers and schedules (``optimizer.*``, ``scheduler.*``), label smoothing and mixup / cutmix (timm's, as
solo-learn). Every run has its own folder, ``<checkpoint.dir>/<name>/<id>/`` or, with no checkpoint.dir
(ours), ``<the pretrained checkpoint's folder>/<name>/<id>/``: ``config.json``, ``logs/``, ``metrics.json``
and the head ``linear_head.pt``, which is also copied beside the pretrained checkpoint (or to ``output``)
for solo-coss-robustness and solo-coss-report. The head records the backbone it was trained on.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from torch import nn

from solo_coss.core import check_keys, naming
from solo_coss.data.loaders import build_eval_dataloaders
from solo_coss.data.spec import check_data_cfg, resolve_data
from solo_coss.data.transforms import build_linear_transforms
from solo_coss.hosts.pretrained import backbone_digest, checkpoint_of, load_identified
from solo_coss.hosts.standalone.checkpoints import AtomicCheckpointIO, epoch_checkpoints, save_linear
from solo_coss.hosts.standalone.config import (
    TRAINER_KEYS,
    check_run_keys,
    check_scheduler,
    evaluation_data,
    lr_scaling_line,
    scale_optimizer,
    to_plain,
)
from solo_coss.hosts.standalone.loggers import (
    build_loggers,
    finish_wandb,
    missing_root,
    removed_if_setup_fails,
    start_wandb,
)
from solo_coss.hosts.standalone.optim import build_optimizer, build_scheduler
from solo_coss.hosts.standalone.precision import resolve_precision
from solo_coss.hosts.standalone.quiet import FROZEN_BACKBONE, RunSummary, quiet_lightning, resume_notes
from solo_coss.hosts.standalone.run_folder import (
    AgreedRun,
    RunHistory,
    choose_run,
    discard_if_not_a_run,
    open_run,
    point_latest,
    say,
)
from solo_coss.hosts.standalone.schema import LinearConfig, fill_section, key_names

HYDRA_KEYS = ("hydra", "defaults")


def resolve_linear_config(cfg: DictConfig | dict, pretrained_cfg: dict[str, Any]) -> dict[str, Any]:
    """Validate a linear config and resolve it as solo-learn's args/linear.py does. The data block starts
    from the pretraining run's (ours: solo-learn requires it in full) and the backbone must be the run's."""
    plain = to_plain(cfg)
    for key in HYDRA_KEYS:
        plain.pop(key, None)
    check_keys("the linear config", plain, set(key_names(LinearConfig)) | set(TRAINER_KEYS))
    check_run_keys(plain, LinearConfig)
    for section in ("backbone", "optimizer", "scheduler", "checkpoint", "auto_resume", "performance", "wandb",
                    "dali"):
        fill_section(plain, section, LinearConfig)
    run_backbone = pretrained_cfg["backbone"]["name"]
    if plain["backbone"].get("name") not in (None, run_backbone):
        raise ValueError(
            f"backbone.name={plain['backbone']['name']!r} but the pretrained run used {run_backbone!r}"
        )
    plain["backbone"] = copy.deepcopy(pretrained_cfg["backbone"])
    given = dict(plain.get("data") or {})
    augmentations = given.pop("augmentations", None) or {}
    check_keys("data.augmentations", augmentations, ("crop_size", "mean", "std"))
    pretrained_data = {k: v for k, v in pretrained_cfg["data"].items() if k != "num_classes"}  # counted again
    data = check_data_cfg(
        evaluation_data(
            pretrained_data,
            given,
            "the run was pretrained on unlabelled images "
            "(data.no_labels); the linear classifier needs labelled folders "
            "(<class>/<image>): add +data.train_path=DIR (and +data.val_path=DIR)",
        )
    )
    spec = resolve_data(data)
    data["augmentations"] = {"crop_size": spec.native_size, "mean": list(spec.mean), "std": list(spec.std),
                             **augmentations}
    if spec.dataset != "custom" and augmentations:
        raise ValueError(
            f"data.augmentations is used for 'custom' datasets only (solo-learn's fixed pipeline "
            f"for {spec.dataset!r} has crop {spec.native_size} and its own statistics); remove it"
        )
    plain["data"] = data

    opt = plain["optimizer"]
    scale_optimizer(plain, opt)
    if opt["layer_decay"]:
        raise ValueError(
            "optimizer.layer_decay > 0 (layer-wise lr decay for ViT finetuning) is not supported"
        )
    check_scheduler(plain["scheduler"])
    if plain.get("auto_augment"):
        raise ValueError("auto_augment=true is not supported by the standalone host")
    for key, default in (("finetune", False), ("label_smoothing", 0.0), ("mixup", 0.0), ("cutmix", 0.0),
                         ("auto_augment", False), ("seed", 5), ("accumulate_grad_batches", 1)):
        plain.setdefault(key, default)
    plain.setdefault("name", f"linear-{pretrained_cfg.get('name', 'run')}")
    plain["pretrain_method"] = plain.get("pretrain_method") or pretrained_cfg.get("method")
    if "precision" in plain:
        plain["precision"] = resolve_precision(plain["precision"], plain.get("accelerator"),
                                               not plain["performance"]["disable_channel_last"])
    return plain


class LinearModule(L.LightningModule):
    """solo-learn's LinearModel: frozen backbone (eval mode) unless ``finetune``, a linear classifier."""

    def __init__(self, backbone: nn.Module, cfg: dict[str, Any], num_classes: int):
        super().__init__()
        self.cfg, self.backbone = cfg, backbone
        self.classifier = nn.Linear(backbone.num_features, num_classes)
        self.finetune = bool(cfg["finetune"])
        self.channels_last = not cfg["performance"]["disable_channel_last"]
        self.mixup = None
        if cfg["mixup"] > 0 or cfg["cutmix"] > 0:
            self.mixup = Mixup(
                mixup_alpha=cfg["mixup"],
                cutmix_alpha=cfg["cutmix"],
                prob=1.0,
                switch_prob=0.5,
                mode="batch",
                label_smoothing=cfg["label_smoothing"],
                num_classes=num_classes,
            )
            self.loss_fn = SoftTargetCrossEntropy()
        elif cfg["label_smoothing"] > 0:
            self.loss_fn = LabelSmoothingCrossEntropy(smoothing=cfg["label_smoothing"])
        else:
            self.loss_fn = nn.CrossEntropyLoss()
        if not self.finetune:
            self.backbone.requires_grad_(False)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last)
        with torch.set_grad_enabled(self.finetune and self.training):
            feats = self.backbone(x)
        return self.classifier(feats)

    def training_step(self, batch, batch_idx):
        if not self.finetune:
            self.backbone.eval()
        x, y = batch
        if self.mixup is not None:
            x, y = self.mixup(x, y)
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        self.log_dict({"val_loss": F.cross_entropy(logits, y),
                       "val_acc1": 100 * (top[:, 0] == y).float().mean(),
                       "val_acc5": 100 * (top == y[:, None]).any(1).float().mean()},
                      on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)

    def configure_optimizers(self):
        opt = self.cfg["optimizer"]
        groups = [{"name": "classifier", "params": list(self.classifier.parameters())}]
        if self.finetune:
            groups.insert(0, {"name": "backbone", "params": list(self.backbone.parameters())})
        optimizer = build_optimizer(opt, groups, opt["effective_lr"])
        total = int(self.trainer.estimated_stepping_batches)
        built = build_scheduler(
            self.cfg["scheduler"],
            optimizer,
            opt["effective_lr"],
            total,
            self.cfg.get("max_epochs"),
            max(total // max(int(self.cfg.get("max_epochs") or 1), 1), 1),
        )
        if built is None:
            return optimizer
        scheduler, interval = built
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


def linear_base(cfg: dict[str, Any], pretrained: str | Path) -> Path:
    """``<checkpoint.dir>/<name>``, or ``<the pretrained checkpoint's folder>/<name>`` without
    checkpoint.dir."""
    root = cfg["checkpoint"].get("dir")
    return (Path(root) if root else checkpoint_of(pretrained).parent) / cfg["name"]


def run_linear(config: Any) -> dict[str, Any]:
    """Train the linear classifier the config describes; returns its final validation metrics and the path of
    the head."""
    plain = to_plain(config)
    path = plain.get("pretrained_feature_extractor")
    if not path:
        raise ValueError("set pretrained_feature_extractor=PATH (a checkpoint or run folder of either host)")
    with naming("pretrained_feature_extractor", path):
        backbone, pretrained_cfg, source = load_identified(path)
    cfg = resolve_linear_config(plain, pretrained_cfg)
    L.seed_everything(cfg["seed"], workers=True)
    aug = cfg["data"]["augmentations"]
    data = resolve_data({k: v for k, v in cfg["data"].items() if k != "augmentations"})
    transforms = build_linear_transforms(data.dataset, int(aug["crop_size"]), aug["mean"], aug["std"])
    train_loader, val_loader = build_eval_dataloaders(
        data, int(cfg["optimizer"]["batch_size"]), train_augment=True, seed=cfg["seed"], transforms=transforms
    )
    num_classes = data.num_classes
    run = choose_run(linear_base(cfg, path), cfg, cfg["auto_resume"], cfg.get("resume_from_checkpoint"))
    head_copy = Path(cfg.get("output") or checkpoint_of(path).parent / "linear_head.pt")
    if run.finished:
        say(run.note)
        results = json.loads((run.path / "metrics.json").read_text())
        return {**results, "head": _publish(run.path / "linear_head.pt", head_copy, cfg)}
    out = run.path
    created = missing_root(out)
    module = LinearModule(backbone, cfg, num_classes)
    kwargs = {"accelerator": "auto", "devices": 1, **{k: cfg[k] for k in TRAINER_KEYS if k in cfg}}
    history = RunHistory(run)
    summary = [RunSummary({})] if cfg.get("enable_model_summary", True) else []
    # e.g. wandb without a login: no empty folder stays
    with removed_if_setup_fails(created), quiet_lightning():
        trainer = L.Trainer(default_root_dir=str(out),
                            logger=build_loggers(cfg, out, tensorboard=False, resuming=bool(run.resume_from)),
                            callbacks=[*epoch_checkpoints(cfg["checkpoint"], out), history, AgreedRun(run),
                                       *summary],
                            enable_checkpointing=cfg["checkpoint"]["enabled"],
                            plugins=[AtomicCheckpointIO(after_save=lambda _: point_latest(run.path))],
                            **kwargs)
        say(run.note)
        say(lr_scaling_line(cfg, trainer.world_size))
        start_wandb(trainer, module, cfg)
    open_run(run, cfg)
    expected = [*([] if cfg["finetune"] else [FROZEN_BACKBONE]),
                *resume_notes(run.resume_from, run.path, False)]
    with quiet_lightning(*expected):
        try:
            trainer.fit(module, train_loader, val_loader, ckpt_path=run.resume_from)
        except BaseException:  # a launch that wrote no checkpoint leaves no run folder
            discard_if_not_a_run(run.path, created)
            raise
    finish_wandb(trainer)
    out = run.path  # rank 0's
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
    if not trainer.is_global_zero:
        return metrics
    head = nn.Linear(module.classifier.in_features, num_classes)
    head.load_state_dict({k: v.float().contiguous() for k, v in module.classifier.state_dict().items()})
    # the backbone the head was trained on: the checkpoint's, or with finetune its trained copy
    trained_on = {
        **source,
        "backbone_sha256": backbone_digest(module.backbone),
        "finetuned": bool(cfg["finetune"]),
    }
    save_linear(out / "linear_head.pt", head, path, pretrained_cfg,
                {"val_top1": metrics.get("val_acc1", float("nan")), **metrics}, trained_on, run=out)
    results = {**metrics, "checkpoint": trained_on}
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    history.write(trainer, trainer.global_step, "finished")  # last: a finished run has all its outputs
    point_latest(out)
    return {**results, "head": _publish(out / "linear_head.pt", head_copy, cfg)}


def _publish(head: Path, copy_to: Path, cfg: dict[str, Any]) -> str:
    """Copy the head beside the pretrained checkpoint (or to ``output``): the head solo-coss-robustness and
    solo-coss-report use. A finetuned head belongs to its own backbone: it stays in its run folder."""
    if cfg["finetune"] and not cfg.get("output"):
        return str(head)
    shutil.copyfile(head, copy_to)
    return str(copy_to)

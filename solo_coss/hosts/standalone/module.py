"""The Lightning module of the standalone host: an SSLMethod trained with solo-learn's semantics (online
classifier on every large crop, optional momentum classifier, EMA schedule, optimizer groups and schedules),
plus the online kNN and the NaN guard."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from solo_coss.analysis.frozen_eval import knn_top1
from solo_coss.hosts.standalone.config import backbone_from_config, compile_mode, record
from solo_coss.hosts.standalone.optim import build_optimizer, build_scheduler, ema_tau, pretrain_groups
from solo_coss.methods import build_method


class NonFiniteLossError(RuntimeError):
    """Raised by the NaN guard: training stops at the bad step, before anything of it is saved."""


def classifier_loss(classifier: nn.Module, feats: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """solo-learn's online classifier loss: cross-entropy on each large crop's detached features, averaged
    over the crops; unlabelled samples (-1) are ignored (a batch without labels gives 0, not NaN)."""
    labelled = labels >= 0
    any_labelled = bool(labelled.any())
    losses = []
    for f in feats:
        logits = classifier(f.detach())
        losses.append(
            F.cross_entropy(logits[labelled], labels[labelled]) if any_labelled else logits.sum() * 0
        )
    return torch.stack(losses).mean()


class PretrainModule(L.LightningModule):
    """``cfg`` is the resolved plain-dict config (see config.resolve_pretrain_config);
    ``batches_per_epoch(world_size)``: the training loader's batches per rank (``batches_per_rank``), which
    a run bounded by max_steps alone counts its epochs in."""

    def __init__(self, cfg: dict[str, Any], batches_per_epoch: Callable[[int], int] | None = None):
        super().__init__()
        self.batches_per_epoch = batches_per_epoch
        self.save_hyperparameters({"cfg": record(cfg)})
        self.cfg = cfg
        backbone = backbone_from_config(cfg)
        self.method = build_method(
            cfg["method"],
            backbone,
            cfg["method_kwargs"],
            num_large_crops=cfg["data"]["num_large_crops"],
            max_epochs=cfg.get("max_epochs"),
            backbone_name=cfg["backbone"]["name"],
        )
        self.method.channels_last = not cfg["performance"]["disable_channel_last"]
        self.num_classes = int(cfg["data"]["num_classes"])  # resolve_pretrain_config / online_probes set it
        # 0 classes (unlabelled training images): no online classifier and no kNN bank
        self.classifier = nn.Linear(backbone.num_features, self.num_classes) if self.num_classes else None
        self.momentum_classifier = None
        if cfg["momentum"]["classifier"] and self.classifier is not None:
            if not self.method.momentum:
                raise ValueError(f"momentum.classifier=true: {cfg['method']} has no momentum network")
            self.momentum_classifier = nn.Linear(backbone.num_features, self.num_classes)
        if self.method.channels_last:  # as solo-learn's main_pretrain converts the whole model
            self.to(memory_format=torch.channels_last)
        self.compile_mode = compile_mode(cfg["performance"].get("compile"))
        self._compiled_loss = None  # torch.compile(method.training_loss), made at the first step
        self._bank: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._last_finite: dict[str, float] = {}

    @property
    def backbone(self) -> nn.Module:
        return self.method.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method(x)

    def training_loss(self, views, epoch: int) -> dict[str, Any]:
        """The method's training_loss, through torch.compile when ``performance.compile`` asks for it (the
        loss with both networks' forwards; the backward is compiled with it, the optimizer step is not)."""
        if self.compile_mode is None:
            return self.method.training_loss(views, epoch)
        if self._compiled_loss is None:
            self._compiled_loss = torch.compile(self.method.training_loss, mode=self.compile_mode)
        return self._compiled_loss(views, epoch)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_compiled_loss"] = None  # compiled code is not picklable; compiled again after loading
        return state

    def training_step(self, batch, batch_idx):
        views, labels = batch
        out = self.training_loss(views, self.current_epoch)
        if self.classifier is None:
            labels = torch.full_like(labels, -1)
            cls_loss = out["loss"].new_zeros(())
        else:
            cls_loss = classifier_loss(self.classifier, out["feats"], labels)
        loss = out["loss"] + cls_loss
        values = {"train/loss": out["loss"].detach(), "train/global_loss": out["global_loss"],
                  "train/local_loss": out["local_loss"], "train/online_linear_loss": cls_loss.detach()}
        if self.momentum_classifier is not None:
            momentum_loss = classifier_loss(self.momentum_classifier, out["momentum_feats"], labels)
            loss = loss + momentum_loss
            values["train/momentum_linear_loss"] = momentum_loss.detach()
        self._guard(values)
        # sync_dist: in DDP the logged values are the mean over the ranks, as solo-learn logs them
        self.log_dict(values, on_step=True, on_epoch=True, prog_bar=False, sync_dist=True)
        self.log("loss", out["loss"].detach(), prog_bar=True, logger=False)
        labelled = labels >= 0
        if self.cfg["knn_eval"]["enabled"] and labelled.any():
            for f in out["feats"]:  # solo-learn's bank: every large crop of the epoch
                self._bank.append((f[labelled].float().cpu(), labels[labelled].cpu()))
        return loss

    def on_after_backward(self) -> None:
        self.method.after_backward(self.current_epoch)

    def _guard(self, values: dict[str, torch.Tensor]) -> None:
        if not self.cfg.get("nan_guard", True):
            return
        bad = [k for k, v in values.items() if not torch.isfinite(v).all()]
        if bad:
            raise NonFiniteLossError(
                f"non-finite {bad} at step {self.global_step} (epoch {self.current_epoch}); last finite "
                "values: "
                f"{self._last_finite or 'none (first step)'}"
            )
        self._last_finite = {k: round(float(v), 6) for k, v in values.items()}

    def optimizer_step(self, *args, **kwargs) -> None:
        # The EMA update belongs to the optimizer step, not to on_train_batch_end: step checkpoints are
        # written by callbacks before the module's on_train_batch_end, and must include this update.
        super().optimizer_step(*args, **kwargs)
        pairs = self.method.momentum_pairs()
        if not pairs:
            return
        momentum = self.cfg["momentum"]
        # Lightning counts this step in global_step only once the hook returns: this is update global_step + 1
        tau = ema_tau(self.global_step + 1, self.trainer.estimated_stepping_batches, momentum["base_tau"],
                      momentum["final_tau"])
        with torch.no_grad():
            for online, target in pairs:  # solo-learn's arithmetic (not a fused foreach): the same rounding
                for p, q in zip(online.parameters(), target.parameters()):
                    q.data = tau * q.data + (1 - tau) * p.data
        self.log("train/tau", tau, on_step=True, on_epoch=False)

    def on_train_epoch_start(self) -> None:
        self._bank = []

    def validation_step(self, batch, batch_idx):
        if self.classifier is None:  # unlabelled training images: ValSetProbe, if any, does the probing
            return
        images, labels = batch
        feats = self.method(images)
        acc = (self.classifier(feats).argmax(1) == labels).float().mean()
        self.log("val/online_linear_acc", 100 * acc, on_epoch=True, prog_bar=True, batch_size=len(labels),
                 sync_dist=True)
        self._val.append((feats.float().cpu(), labels.cpu()))

    def on_validation_epoch_end(self) -> None:
        knn = self.cfg["knn_eval"]
        if knn["enabled"] and self._bank and self._val and not self.trainer.sanity_checking:
            max_bank = knn.get("max_bank") or None
            bank_f = torch.cat([f for f, _ in self._bank])
            bank_l = torch.cat([lab for _, lab in self._bank])
            if max_bank:
                bank_f, bank_l = bank_f[-int(max_bank):], bank_l[-int(max_bank):]
            val_f, val_l = torch.cat([f for f, _ in self._val]), torch.cat([lab for _, lab in self._val])
            acc = knn_top1(bank_f, bank_l, val_f, val_l, k=int(knn["k"]), temperature=float(knn["T"]),
                           num_classes=self.num_classes, distance=knn["distance_func"])
            self.log("val/online_knn_acc", acc, prog_bar=True, sync_dist=True)  # each rank's share, averaged
        self._val = []

    def configure_optimizers(self):
        cfg, accumulate = self.cfg, int(self.cfg.get("accumulate_grad_batches") or 1)
        effective_lr = cfg["optimizer"]["effective_lr"]  # batch-scaled and x accumulation (config.lr_stages)
        classifiers = [("classifier", self.classifier)] if self.classifier is not None else []
        if self.momentum_classifier is not None:
            classifiers.append(("momentum_classifier", self.momentum_classifier))
        groups = pretrain_groups(self.method.learnable_modules(), classifiers,
                                 cfg["optimizer"]["effective_classifier_lr"])
        optimizer = build_optimizer(cfg["optimizer"], groups, effective_lr)
        total = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = total
        if not cfg.get("max_epochs"):  # a run bounded by max_steps: an epoch is the loader's length
            if self.batches_per_epoch is None:
                raise ValueError("a run without max_epochs counts epochs in the training loader's batches: "
                                 "give PretrainModule batches_per_epoch")
            batches = self.batches_per_epoch(self.trainer.world_size)
            limit = self.trainer.limit_train_batches  # as Lightning applies it
            batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
            steps_per_epoch = max(math.ceil(batches / accumulate), 1)
        built = build_scheduler(
            cfg["scheduler"],
            optimizer,
            effective_lr,
            total,
            cfg.get("max_epochs"),
            steps_per_epoch,
            accumulate,
        )
        if built is None:
            return optimizer
        scheduler, interval = built
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}

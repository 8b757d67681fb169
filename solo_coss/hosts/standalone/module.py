"""The Lightning module of the standalone host: an SSLMethod + EMA schedule + online linear probe and kNN."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightly.models.utils import update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import nn

from solo_coss.analysis.frozen_eval import knn_top1
from solo_coss.data.datasets import dataset_num_classes
from solo_coss.hosts.standalone.config import backbone_from_config
from solo_coss.hosts.standalone.optim import build_optimizer, build_scheduler
from solo_coss.methods import build_method


class NonFiniteLossError(RuntimeError):
    """Raised by the NaN guard; the last checkpoint on disk predates the bad step."""


class PretrainModule(L.LightningModule):
    """``cfg`` is the checked plain-dict config (see config.check_pretrain_config)."""

    def __init__(self, cfg: dict[str, Any]):
        super().__init__()
        self.save_hyperparameters({"cfg": cfg})
        self.cfg = cfg
        backbone = backbone_from_config(cfg)
        self.method = build_method(cfg["method"], backbone, cfg.get("method_kwargs"))
        given = cfg["data"].get("num_classes")
        self.num_classes = dataset_num_classes(cfg["data"]["dataset"]) if given is None else int(given)
        # 0 classes (unlabelled training images): no online classifier and no kNN bank
        self.classifier = nn.Linear(backbone.num_features, self.num_classes) if self.num_classes else None
        self._bank: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._last_finite: dict[str, float] = {}

    @property
    def backbone(self) -> nn.Module:
        return self.method.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.method(x)

    def progress(self) -> float:
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        return min(self.global_step / total, 1.0) if total and math.isfinite(total) else 0.0

    def training_step(self, batch, batch_idx):
        views, labels = batch
        out = self.method.training_loss(views, self.progress())
        labelled = labels >= 0
        if self.classifier is None:
            labelled, cls_loss = torch.zeros_like(labelled), out["loss"].new_zeros(())
        else:
            logits = self.classifier(out["feats"])
            cls_loss = F.cross_entropy(logits[labelled], labels[labelled]) if labelled.any() else logits.sum() * 0
        loss = out["loss"] + cls_loss
        values = {"train/loss": out["loss"].detach(), "train/global_loss": out["global_loss"],
                  "train/local_loss": out["local_loss"], "train/online_linear_loss": cls_loss.detach()}
        self._guard(values)
        self.log_dict(values, on_step=True, on_epoch=True, prog_bar=False)
        self.log("loss", out["loss"].detach(), prog_bar=True, logger=False)
        if self.cfg["knn_eval"].get("enabled") and labelled.any():
            self._bank.append((out["feats"][labelled].float().cpu(), labels[labelled].cpu()))
        return loss

    def _guard(self, values: dict[str, torch.Tensor]) -> None:
        if not self.cfg.get("nan_guard", True):
            return
        bad = [k for k, v in values.items() if not torch.isfinite(v).all()]
        if bad:
            raise NonFiniteLossError(
                f"non-finite {bad} at step {self.global_step} (epoch {self.current_epoch}); last finite values: "
                f"{self._last_finite or 'none (first step)'}. The last checkpoint was kept; lower the lr or "
                f"check the data, then restart (auto_resume continues from it)."
            )
        self._last_finite = {k: round(float(v), 6) for k, v in values.items()}

    def optimizer_step(self, *args, **kwargs) -> None:
        # The EMA update belongs to the optimizer step, not to on_train_batch_end: step checkpoints are
        # written by callbacks before the module's on_train_batch_end, and must include this update.
        super().optimizer_step(*args, **kwargs)
        total = self.trainer.estimated_stepping_batches
        tau = cosine_schedule(self.global_step, max(int(total), 1), self.cfg["momentum"]["base_tau"],
                              self.cfg["momentum"]["final_tau"])
        pairs = self.method.momentum_pairs()
        for online, target in pairs:
            update_momentum(online, target, tau)
        if pairs:
            self.log("train/tau", tau, on_step=True, on_epoch=False)

    def on_train_epoch_start(self) -> None:
        self._bank = []

    def validation_step(self, batch, batch_idx):
        if self.classifier is None:
            return
        images, labels = batch
        feats = self.method(images)
        acc = (self.classifier(feats).argmax(1) == labels).float().mean()
        self.log("val/online_linear_acc", 100 * acc, on_epoch=True, prog_bar=True, batch_size=len(labels))
        self._val.append((feats.float().cpu(), labels.cpu()))

    def on_validation_epoch_end(self) -> None:
        knn = self.cfg["knn_eval"]
        if knn.get("enabled") and self._bank and self._val and not self.trainer.sanity_checking:
            max_bank = int(knn.get("max_bank", 50000))
            bank_f = torch.cat([f for f, _ in self._bank])[-max_bank:]
            bank_l = torch.cat([lab for _, lab in self._bank])[-max_bank:]
            val_f, val_l = torch.cat([f for f, _ in self._val]), torch.cat([lab for _, lab in self._val])
            acc = knn_top1(bank_f, bank_l, val_f, val_l, k=int(knn.get("k", 20)),
                           temperature=float(knn.get("T", 0.07)), num_classes=self.num_classes)
            self.log("val/online_knn_acc", acc, prog_bar=True)
        self._val = []

    def configure_optimizers(self):
        optimizer = build_optimizer(self.cfg["optimizer"], self.method,
                                    self.classifier if self.classifier is not None else nn.Identity())
        total = int(self.trainer.estimated_stepping_batches)
        max_epochs = max(int(self.trainer.max_epochs or 1), 1)
        scheduler = build_scheduler(self.cfg["scheduler"], optimizer, total, max(total // max_epochs, 1))
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

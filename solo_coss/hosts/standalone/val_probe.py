"""Online probes for unlabelled training images (data.no_labels) with a labelled data.val_path.

The training batches carry no labels, so the online linear probe and kNN are fitted on the validation
features instead: on one half (even positions) and scored on the other, then the other way round, after
each validation epoch. The logged accuracies cover every validation image once.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from solo_coss.analysis.frozen_eval import knn_top1, top1, train_linear_probe


def two_fold_scores(feats: torch.Tensor, labels: torch.Tensor, num_classes: int, k: int = 20,
                    temperature: float = 0.07, epochs: int = 20) -> tuple[float, float]:
    """(linear top-1, kNN top-1) in %, each fitted on one half of (feats, labels) and scored on the other,
    both ways, weighted by the size of the scored half."""
    halves = (torch.arange(0, len(feats), 2), torch.arange(1, len(feats), 2))
    linear = knn = 0.0
    for fit, score in (halves, halves[::-1]):
        if len(fit) == 0 or len(score) == 0:
            continue
        head = train_linear_probe(feats[fit], labels[fit], num_classes, epochs=epochs, batch_size=256)
        linear += top1(head, feats[score], labels[score]) * len(score)
        knn += knn_top1(feats[fit], labels[fit], feats[score], labels[score], k=k, temperature=temperature,
                        num_classes=num_classes) * len(score)
    return linear / max(len(feats), 1), knn / max(len(feats), 1)


class ValSetProbe(L.Callback):
    """Logs val/online_linear_acc (and val/online_knn_acc when knn_eval.enabled) from the validation set."""

    def __init__(self, num_classes: int, knn_cfg: dict[str, Any]):
        self.num_classes, self.knn_cfg = num_classes, knn_cfg
        self._feats: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._feats = []

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if not trainer.sanity_checking:
            images, labels = batch
            self._feats.append((pl_module(images).float().cpu(), labels.cpu()))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self._feats:
            return
        # validation runs in inference mode; the probe needs autograd and ordinary tensors, and seeds torch's
        # global RNG, which training goes on drawing from
        with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=[]):
            feats = torch.cat([f for f, _ in self._feats]).clone()
            labels = torch.cat([lab for _, lab in self._feats]).clone()
            linear, knn = two_fold_scores(feats, labels, self.num_classes, k=int(self.knn_cfg.get("k", 20)),
                                          temperature=float(self.knn_cfg.get("T", 0.07)))
        # under DDP each rank scores its own share of the validation set: log the mean over ranks
        pl_module.log("val/online_linear_acc", linear, prog_bar=True, sync_dist=True)
        if self.knn_cfg.get("enabled"):
            pl_module.log("val/online_knn_acc", knn, prog_bar=True, sync_dist=True)
        self._feats = []

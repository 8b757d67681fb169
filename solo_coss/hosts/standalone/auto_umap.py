"""solo-learn's ``auto_umap``: every ``auto_umap.frequency`` epochs, a UMAP of the validation set's features
(all ranks' images gathered), written by rank 0 as ``<auto_umap.dir>/<name>-ep=<epoch>.png`` inside the run
folder (an absolute ``auto_umap.dir``: ``<auto_umap.dir>/<run id>/...``; solo-learn: a PDF under a folder
per logger version, so that no run writes over another's) and, with wandb, logged as ``validation_umap`` as
solo-learn does. Each plot is announced in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from solo_coss.analysis.umap_plot import umap_2d, umap_figure
from solo_coss.data.datasets import class_names


class AutoUMAP(Callback):
    def __init__(self, name: str, folder: str | Path, frequency: int):
        self.name, self.folder, self.frequency = name, Path(folder), frequency
        self.written: list[Path] = []

    def path(self, epoch: int) -> Path:
        return self.folder / f"{self.name}-ep={epoch}.png"

    @torch.no_grad()
    def _features(self, trainer: L.Trainer, module: L.LightningModule) -> tuple[torch.Tensor, torch.Tensor]:
        loader = trainer.val_dataloaders
        loader = loader[0] if isinstance(loader, (list, tuple)) else loader
        feats, labels = [], []
        for images, targets in loader:
            f = module(images.to(module.device, non_blocking=True)).float()
            y = torch.as_tensor(targets, device=module.device)
            feats.append(module.all_gather(f).reshape(-1, f.shape[-1]).cpu())
            labels.append(module.all_gather(y).reshape(-1).cpu())
        return torch.cat(feats), torch.cat(labels)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if trainer.sanity_checking or epoch % self.frequency:
            return
        was_training = module.training
        module.eval()
        feats, labels = self._features(trainer, module)
        module.train(was_training)
        if not trainer.is_global_zero:
            return
        names = class_names(getattr(trainer.val_dataloaders, "dataset", None))
        path = umap_figure(
            umap_2d(feats),
            labels,
            self.path(epoch),
            f"{self.name}, epoch {epoch}: validation features",
            class_names=names,
        )
        self.written.append(path)
        print(f"auto_umap: epoch {epoch}'s validation UMAP written to {path}", flush=True)
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # wandb, as solo-learn
                logger.log_image(key="validation_umap", images=[str(path)], step=trainer.global_step)


def auto_umap_callback(cfg: dict[str, Any], val_loader, run: Path) -> AutoUMAP:
    """The callback of the run whose folder is ``run``."""
    block = cfg["auto_umap"]
    if val_loader is None:
        raise ValueError("auto_umap.enabled=true plots validation features, and this run has no labelled "
                         "validation images: set data.val_path (fashion_mnist has its test split)")
    folder = Path(block["dir"])
    folder = folder / run.name if folder.is_absolute() else run / folder
    return AutoUMAP(cfg["name"], folder, int(block["frequency"]))

"""Optimizers (torch / timm) and the warm-up cosine schedule (lightly's) from the config."""

from __future__ import annotations

from typing import Any

import torch
from lightly.utils.scheduler import CosineWarmupScheduler
from timm.optim import Lamb, Lars
from torch import nn


def split_decay(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights, biases and norm parameters) of the trainable parameters: the second group gets no weight
    decay and, for LARS, no trust-ratio adaptation (solo-learn's exclude_bias_n_norm)."""
    decay, no_decay = [], []
    for param in module.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return decay, no_decay


def build_optimizer(opt_cfg: dict[str, Any], model: nn.Module, classifier: nn.Module) -> torch.optim.Optimizer:
    name = opt_cfg.get("name", "lars")
    lr, wd = float(opt_cfg["lr"]), float(opt_cfg.get("weight_decay", 1e-5))
    kwargs = dict(opt_cfg.get("kwargs") or {})
    decay, no_decay = split_decay(model)
    groups = [
        {"params": decay, "weight_decay": wd},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": list(classifier.parameters()), "lr": float(opt_cfg.get("classifier_lr", lr)), "weight_decay": 0.0},
    ]
    if name == "lars":
        return Lars(groups, lr=lr, momentum=kwargs.get("momentum", 0.9), trust_coeff=kwargs.get("eta", 0.02),
                    trust_clip=kwargs.get("clip_lr", True))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=kwargs.get("momentum", 0.9))
    if name == "lamb":
        return Lamb(groups, lr=lr)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(kwargs.get("betas", (0.9, 0.999))))


def build_scheduler(sched_cfg: dict[str, Any], optimizer, total_steps: int, steps_per_epoch: int):
    """A per-step schedule (Lightning 'interval: step'), or None."""
    name = sched_cfg.get("name", "warmup_cosine")
    if name == "none":
        return None
    warmup = 0 if name == "cosine" else int(float(sched_cfg.get("warmup_epochs", 10)) * steps_per_epoch)
    warmup = min(warmup, max(total_steps - 1, 0))
    end_value = float(sched_cfg.get("min_lr", 0.0)) / max(optimizer.defaults["lr"], 1e-12)
    return CosineWarmupScheduler(optimizer, warmup_epochs=warmup, max_epochs=max(total_steps, 1),
                                 end_value=end_value)

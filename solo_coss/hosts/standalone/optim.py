"""Optimizers and schedules with solo-learn's training semantics (read from solo-learn 9187ea3).

- Parameter groups: solo-learn's ``learnable_params`` order; every group gets ``weight_decay`` except the
  online classifiers (0); ``optimizer.exclude_bias_n_norm_wd`` moves 1-D parameters to groups without decay.
- LARS as solo-learn's: the trust ratio applies whatever the group's weight decay (timm's skips groups with
  weight_decay 0), optional ``clip_lr``, and ``exclude_bias_n_norm`` leaves 1-D parameters plain SGD.
- ``warmup_cosine``: solo-learn's LinearWarmupCosineAnnealingLR, in closed form (a pure function of the
  step, so a resumed run with a longer ``max_epochs`` follows the schedule rebuilt for the new total).
- The EMA coefficient of the k-th update is solo-learn's cosine at step k - 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, MultiStepLR


class LARS(torch.optim.Optimizer):
    """SGD with layer-wise adaptive rate scaling (You et al. 2017) as solo-learn applies it.

    For each parameter with a gradient, unless it is 1-D and ``exclude_bias_n_norm``:
    ratio = eta * |p| / (|g| + weight_decay * |p| + eps) (skipped when |p| or |g| is 0), clipped to lr with
    ``clip_lr`` (ratio = min(ratio / lr, 1)); the update direction is ratio * (g + weight_decay * p), then
    SGD momentum. A skipped parameter gets neither the ratio nor weight decay.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        eta: float = 1e-3,
        eps: float = 1e-8,
        clip_lr: bool = False,
        exclude_bias_n_norm: bool = False,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(
                f"LARS needs lr, momentum, weight_decay >= 0, got {lr}, {momentum}, {weight_decay}"
            )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("LARS: Nesterov momentum needs momentum > 0 and dampening 0")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                eta=eta,
                eps=eps,
                clip_lr=clip_lr,
                exclude_bias_n_norm=exclude_bias_n_norm,
            ),
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd, momentum = group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if p.ndim != 1 or not group["exclude_bias_n_norm"]:
                    p_norm, g_norm = torch.norm(p), torch.norm(p.grad)
                    if p_norm != 0 and g_norm != 0:
                        ratio = p_norm / (g_norm + p_norm * wd + group["eps"])
                        ratio *= group["eta"]
                        if group["clip_lr"]:
                            ratio = torch.clamp(ratio / group["lr"], max=1)
                        d_p = d_p.add(p, alpha=wd)
                        d_p *= ratio
                if momentum != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum).add_(d_p, alpha=1 - group["dampening"])
                    d_p = d_p.add(buf, alpha=momentum) if group["nesterov"] else buf
                p.add_(d_p, alpha=-group["lr"])
        return loss


OPTIMIZER_CLASSES = {
    "sgd": torch.optim.SGD,
    "lars": LARS,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


def split_bias_and_norm(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """solo-learn's exclude_bias_n_norm_wd: each group split into its >= 2-D parameters and its 1-D ones,
    the latter with weight_decay 0."""
    out = []
    for group in groups:
        params = list(group["params"])
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        if decay:
            out.append({**group, "params": decay})
        if no_decay:
            out.append(
                {**group, "params": no_decay, "weight_decay": 0, "name": f"{group.get('name')}_no_decay"}
            )
    return out


def pretrain_groups(learnable: Sequence[tuple[str, nn.Module]], classifiers: Sequence[tuple[str, nn.Module]],
                    classifier_lr: float) -> list[dict[str, Any]]:
    """solo-learn's pretraining groups: backbone, then the online classifiers (``classifier_lr``, no weight
    decay), then the method's heads; ``learnable`` is the method's (name, module) list, backbone first."""
    groups = [{"name": name, "params": list(m.parameters())} for name, m in learnable]
    groups[1:1] = [{"name": name, "params": list(m.parameters()), "lr": classifier_lr, "weight_decay": 0}
                   for name, m in classifiers]
    return groups


def build_optimizer(opt_cfg: dict[str, Any], groups: list[dict[str, Any]], effective_lr: float):
    """solo-learn's optimizer over parameter ``groups``: the config's weight decay and ``effective_lr``
    (config.json's ``optimizer.effective_lr``) unless a group sets its own;
    ``exclude_bias_n_norm_wd`` splits off the 1-D parameters without decay; ``kwargs`` go to the class."""
    if opt_cfg.get("exclude_bias_n_norm_wd"):
        groups = split_bias_and_norm(groups)
    cls = OPTIMIZER_CLASSES[opt_cfg["name"]]
    kwargs = dict(opt_cfg.get("kwargs") or {})
    try:
        return cls(groups, lr=effective_lr, weight_decay=float(opt_cfg["weight_decay"]), **kwargs)
    except TypeError as err:
        raise ValueError(f"optimizer.kwargs {sorted(kwargs)} do not fit {opt_cfg['name']}: {err}") from err


def warmup_cosine_lr(
    step: int, peak_lr: float, warmup_steps: float, total_steps: float, warmup_start_lr: float, min_lr: float
) -> float:
    """The lr solo-learn's LinearWarmupCosineAnnealingLR gives a group at ``step``; ``peak_lr`` is the group's
    lr once warmed up (what torch's schedulers call the group's ``base_lr``: config.json's ``effective_lr``).

    Its recurrence in closed form: linear warm-up from ``warmup_start_lr`` reaching peak_lr at
    ``warmup_steps`` (a float: warmup_epochs x steps per epoch), then a cosine to ``min_lr`` at
    ``total_steps``. When warmup_steps is not an integer, the cosine starts from the last warm-up value, as
    the recurrence does. A warm-up that covers every step (``warmup_steps >= total_steps``) is warm-up to
    the end, as there. A cosine span under one step (``0 < total - warmup < 1``, a run shorter than its
    warm-up by a fraction of a step) takes the recurrence's other branch, the one that keeps it from dividing
    0 by 0: its steps are replayed (there are at most one or two).
    """
    if step == 0:
        return warmup_start_lr
    if step < warmup_steps:
        return warmup_start_lr + step * (peak_lr - warmup_start_lr) / (warmup_steps - 1)
    if step == warmup_steps:
        return peak_lr
    first = math.floor(warmup_steps) + 1  # first cosine step
    anchor = warmup_cosine_lr(first - 1, peak_lr, warmup_steps, total_steps, warmup_start_lr, min_lr)
    span = total_steps - warmup_steps
    if span < 1:
        lr = anchor
        for k in range(first, step + 1):
            lr = _cosine_recurrence(lr, k, peak_lr, warmup_steps, total_steps, min_lr)
        return lr
    shape = 1 + math.cos(math.pi * (step - warmup_steps) / span)
    return min_lr + (anchor - min_lr) * shape / (1 + math.cos(math.pi * (first - 1 - warmup_steps) / span))


def _cosine_recurrence(lr: float, step: int, peak_lr: float, warmup_steps: float, total_steps: float,
                       min_lr: float) -> float:
    """One step of solo-learn's cosine recurrence from ``lr`` (the value at ``step - 1``), both branches."""
    span = total_steps - warmup_steps
    if (step - 1 - total_steps) % (2 * span) == 0:
        return lr + (peak_lr - min_lr) * (1 - math.cos(math.pi / span)) / 2
    return ((1 + math.cos(math.pi * (step - warmup_steps) / span))
            / (1 + math.cos(math.pi * (step - warmup_steps - 1) / span)) * (lr - min_lr) + min_lr)


class WarmupCosine(LRScheduler):
    """solo-learn's warm-up cosine for every parameter group (all groups share ``warmup_start_lr``).

    Only the step count is checkpointed: a run resumed with another total follows the schedule of the new
    total from where it is.
    """

    def __init__(
        self, optimizer, warmup_steps: float, total_steps: float, warmup_start_lr: float, min_lr: float
    ):
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.warmup_start_lr, self.min_lr = warmup_start_lr, min_lr
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [
            warmup_cosine_lr(
                self.last_epoch, base, self.warmup_steps, self.total_steps, self.warmup_start_lr, self.min_lr
            )
            for base in self.base_lrs
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "_step_count": self._step_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_epoch, self._step_count = state_dict["last_epoch"], state_dict["_step_count"]
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def build_scheduler(sched_cfg: dict[str, Any], optimizer, effective_lr: float, total_steps: int,
                    max_epochs: int | None, steps_per_epoch: float, accumulate: int = 1):
    """solo-learn's configure_optimizers schedule -> (scheduler, interval), or None for 'none'.

    ``effective_lr``: config.json's ``optimizer.effective_lr``; ``total_steps``:
    trainer.estimated_stepping_batches. solo-learn counts an epoch as total_steps / max_epochs optimizer
    steps; runs bounded by ``max_steps`` alone (``max_epochs: null``, which solo-learn cannot run) use the
    loader's ``steps_per_epoch``.
    """
    name = sched_cfg["name"]
    if name == "none":
        return None
    if name == "step":  # solo-learn hands Lightning a bare MultiStepLR: stepped once per epoch
        return MultiStepLR(optimizer, list(sched_cfg["lr_decay_steps"])), "epoch"
    interval = sched_cfg.get("interval", "step")
    warmup_epochs = float(sched_cfg.get("warmup_epochs", 10))
    if interval == "step":
        per_epoch = total_steps / max_epochs if max_epochs else steps_per_epoch
        warmup, total = warmup_epochs * per_epoch, total_steps
    else:
        if not max_epochs:
            raise ValueError("scheduler.interval='epoch' needs max_epochs")
        warmup, total = warmup_epochs, max_epochs
    # With no warm-up solo-learn starts every group at the first group's lr.
    start = float(sched_cfg.get("warmup_start_lr", 3e-5)) * accumulate if warmup_epochs > 0 else effective_lr
    scheduler = WarmupCosine(optimizer, warmup_steps=warmup, total_steps=total, warmup_start_lr=start,
                             min_lr=float(sched_cfg.get("min_lr", 0.0)) * accumulate)
    return scheduler, interval


def ema_tau(update: int, total_steps: float, base_tau: float, final_tau: float) -> float:
    """EMA coefficient of the ``update``-th momentum update (1-based), solo-learn's MomentumUpdater: cosine
    from base_tau to final_tau over the run, evaluated at the previous step."""
    return final_tau - (final_tau - base_tau) * (math.cos(math.pi * (update - 1) / total_steps) + 1) / 2

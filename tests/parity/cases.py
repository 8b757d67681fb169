"""The parity cases and the standalone side of every comparison (no solo-learn needed here).

A case is a shipped YAML plus overrides (tiny heads, batch 8, CPU) and a few fixed batches. Both hosts
build their model from it, start from the same weights (the standalone model's, built under a fixed seed,
mapped onto solo-learn's) and take the same optimizer steps under a Lightning Trainer; a callback records
the logged losses, the gradients before each step and the full state after each step.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config
from solo_coss.hosts.standalone.module import PretrainModule
from solo_coss.hosts.standalone.optim import ema_tau

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).with_name("solo_reference.json")


@contextlib.contextmanager
def one_thread():
    """Parity cases compute with one torch thread, when recorded and when checked: the CPU kernels split
    reductions by thread, and on these tiny BatchNorm networks another thread count moves some gradient
    norms by ~0.3% (measured), more than the reference tolerances."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
SEED = 7
TINY = ["optimizer.batch_size=8", "method_kwargs.proj_hidden_dim=64", "method_kwargs.proj_output_dim=32",
        "accelerator=cpu", "devices=[0]", "precision=32", "strategy=auto", "sync_batchnorm=false",
        "max_epochs=1", "+scheduler.warmup_epochs=0", "data.num_workers=0", "checkpoint.enabled=false",
        "auto_resume.enabled=false"]
PRED = ["method_kwargs.pred_hidden_dim=64"]
SMALL_RF = ["backbone.name=rf29_resnet18", "+backbone.kwargs.widths=[16,32,64,128]"]


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    overrides: tuple[str, ...] = ()
    crops: tuple[int, ...] = (32, 32)  # view sizes: the first pipeline's size = large crops
    batches: int = 2
    folder: str = "cifar"

    def config(self):
        extra = list(self.overrides)
        if any(m in self.method for m in ("byol", "mocov3")):
            extra = PRED + extra
        if "dino" in self.method:
            extra = ["method_kwargs.num_prototypes=48"] + extra
        cfg = load_config(str(ROOT / "scripts/pretrain" / self.folder), f"{self.method}.yaml", [*TINY, *extra])
        small = sorted(set(self.crops[2:]))
        if small:  # multi-crop: a third pipeline (a copy of the first at the small size) for the small crops
            extra_pipeline = OmegaConf.to_container(cfg.augmentations[0])
            extra_pipeline.update(crop_size=small[0], num_crops=len(self.crops) - 2)
            cfg.augmentations.append(extra_pipeline)
        return cfg


SGD = ["optimizer.name=sgd", "~optimizer.kwargs"]
ADAMW = ["optimizer.name=adamw", "~optimizer.kwargs", "optimizer.lr=5e-4", "optimizer.weight_decay=0.04"]
VIT = ["backbone.name=vit_tiny", "+backbone.kwargs.img_size=32", "+backbone.kwargs.patch_size=8"]
CASES = [
    # The shipped CIFAR recipes (LARS, eta 0.02, clip_lr, exclude_bias_n_norm) on torchvision's ResNet-18.
    *(Case(m, m) for m in ("byol", "co_byol", "simclr", "co_simclr", "mocov3", "co_mocov3", "dino", "co_dino")),
    # SGD with weight decay on every parameter, then without decay on 1-D ones; the momentum classifier.
    Case("co_byol-sgd-wd", "co_byol", (*SMALL_RF, *SGD, "optimizer.weight_decay=1e-3", "+momentum.classifier=true")),
    Case("byol-sgd-exclude-wd", "byol", (*SMALL_RF, *SGD, "optimizer.weight_decay=1e-3",
                                         "+optimizer.exclude_bias_n_norm_wd=true")),
    # LARS with the trust ratio on every parameter (also where weight_decay is 0), no lr clipping.
    Case("co_byol-lars-plain", "co_byol", (*SMALL_RF, "optimizer.kwargs.exclude_bias_n_norm=false",
                                           "optimizer.kwargs.clip_lr=false", "optimizer.weight_decay=0")),
    # Multi-crop: small crops through the online branch only; SimCLR with several positives.
    Case("co_byol-multicrop", "co_byol", SMALL_RF, crops=(32, 32, 16, 16)),
    Case("co_simclr-multicrop", "co_simclr", SMALL_RF, crops=(32, 32, 16, 16)),
    # DINO's options: BN in the heads, trained prototypes norm, clipping, teacher warm-up over 2 of 3 epochs.
    Case("co_dino-options", "co_dino", (*SMALL_RF, "+method_kwargs.use_bn_in_head=true",
                                        "+method_kwargs.norm_last_layer=false", "+method_kwargs.clip_grad=0.3",
                                        "+method_kwargs.freeze_last_layer=0", "max_epochs=3",
                                        "+method_kwargs.warmup_teacher_temperature_epochs=2",
                                        "momentum.base_tau=0.99"), batches=1),
    # MoCo v3's head depth follows the backbone name ("resnet" -> 2 layers, else 3 with a final BN).
    Case("co_mocov3-bagnet", "co_mocov3", ("backbone.name=bagnet33", "+backbone.kwargs.widths=[16,32,64,128]")),
    # Gradient accumulation scales the lrs; 4 batches make 2 optimizer steps.
    Case("co_byol-accumulate", "co_byol", (*SMALL_RF, *SGD, "+accumulate_grad_batches=2"), batches=4),
    # solo-learn's other backbone families (its builders fix their sizes: the smallest of each). ViTs: the
    # patch tokens after the final norm, AdamW; co_mocov3 gets MoCo v3's ViT in both hosts.
    Case("co_dino-vit", "co_dino", (*VIT, *ADAMW)),
    Case("co_mocov3-vit", "co_mocov3", (*VIT, *ADAMW)),
    Case("co_mocov3-vit-block", "co_mocov3", (*VIT, *ADAMW, "+method_kwargs.co.stage=6")),
    Case("co_byol-wide_resnet", "co_byol", ("backbone.name=wide_resnet28w2",)),
    Case("co_simclr-poolformer", "co_simclr", ("backbone.name=poolformer_s12",), crops=(64, 64)),
]
CASES_BY_ID = {c.id: c for c in CASES}


def make_batches(case: Case) -> list[tuple[list[torch.Tensor], torch.Tensor]]:
    g = torch.Generator().manual_seed(SEED)
    out = []
    for _ in range(case.batches):
        views = [torch.randn(8, 3, s, s, generator=g) for s in case.crops]
        out.append((views, torch.randint(0, 10, (8,), generator=g)))
    return out


def build_standalone(case: Case) -> tuple[PretrainModule, dict]:
    cfg = resolve_pretrain_config(case.config())
    torch.manual_seed(SEED)
    return PretrainModule(cfg), cfg


class Capture(L.Callback):
    """Records per optimizer step: the logged values, the gradients, the state after the step."""

    def __init__(self):
        self.logged: list[dict[str, float]] = []
        self.grads: list[dict[str, torch.Tensor]] = []
        self.states: list[dict[str, torch.Tensor]] = []

    def setup(self, trainer, pl_module, stage):
        original = pl_module.log

        def log(name, value, *args, **kwargs):
            if self.logged:
                self.logged[-1][name] = float(value)
            return original(name, value, *args, **kwargs)

        pl_module.log = log

    def on_train_start(self, trainer, pl_module):
        self.states.append(snapshot(pl_module))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.logged.append({})
        self._after_step(trainer, pl_module)

    def _after_step(self, trainer, pl_module):
        # the previous optimizer step is complete (EMA included, whichever hook each host does it in)
        if trainer.global_step > len(self.states) - 1:
            self.states.append(snapshot(pl_module))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.grads.append({n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None})

    def on_train_end(self, trainer, pl_module):
        self._after_step(trainer, pl_module)


def snapshot(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def fit(module, batches, max_epochs: int, accumulate: int) -> Capture:
    capture = Capture()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[capture], accumulate_grad_batches=accumulate,
                        deterministic=False)
    trainer.fit(module, DataLoader(batches, batch_size=None))
    return capture


def run_standalone(case: Case) -> tuple[dict, Capture]:
    module, cfg = build_standalone(case)
    capture = fit(module, make_batches(case), cfg["max_epochs"], cfg["accumulate_grad_batches"])
    return cfg, capture


STANDALONE_LOSSES = {"global": "train/global_loss", "local": "train/local_loss",
                     "classifier": "train/online_linear_loss", "momentum_classifier": "train/momentum_linear_loss"}


def losses_of(logged: dict[str, float], names: dict[str, str]) -> dict[str, float]:
    return {k: logged.get(v, 0.0) for k, v in names.items()}


# The entries whose first values after the last step the reference keeps (when the model has them).
SLICED = ("method.backbone.stem.0.weight", "method.momentum_backbone.layer4.1.conv2.weight",
          "method.projector.layers.0.weight", "method.predictor.layers.3.weight", "method.head.mlp.0.weight",
          "method.co_term.projector.net.0.weight", "method.co_term.momentum_projector.net.3.bias",
          "classifier.weight")


def summarize(capture: Capture, losses: dict[str, str], rename: dict[str, str] | None = None) -> dict:
    """What the reference file keeps of a run: per step the losses, each gradient's norm and each state
    entry's change (norm), then the first values of a few final entries; names are the standalone's."""
    rename = rename or {}
    back = {v: k for k, v in rename.items()}

    def ours(name):
        return back.get(name, name)

    steps = []
    for i, grads in enumerate(capture.grads):
        before, after = capture.states[i], capture.states[i + 1]
        steps.append({
            "grad_norm": {ours(n): float(g.double().norm()) for n, g in grads.items()},
            "update_norm": module_update_norms({ours(n): v for n, v in before.items()},
                                               {ours(n): v for n, v in after.items()}),
        })
    final = capture.states[-1]
    sliced = [n for n in final if ours(n) in SLICED]
    first = {ours(n): final[n].flatten()[:4].double().tolist() for n in sliced}
    return {"batch_losses": [losses_of(entry, losses) for entry in capture.logged], "steps": steps,
            "final_values": first}


def module_update_norms(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, float]:
    """Norm of the change of every module's floating state (parameters and running statistics) in one step,
    modules named as in the standalone model (``method.backbone``, ``method.momentum_projector``, ...)."""
    squares: dict[str, float] = {}
    for name, value in after.items():
        if value.is_floating_point():
            module = ".".join(name.split(".")[:2]) if name.startswith("method.") else name.split(".")[0]
            squares[module] = squares.get(module, 0.0) + float((value.double() - before[name].double()).pow(2).sum())
    return {module: total ** 0.5 for module, total in squares.items()}


def state_checksum(state: dict[str, torch.Tensor]) -> float:
    """Sum of |x| over a state dict: a fingerprint of the initial weights (the reference is stale when the
    standalone model no longer starts from the same ones)."""
    return float(sum(v.double().abs().sum() for v in state.values() if v.is_floating_point()))


TAUS = [(12, 0.99, 1.0), (40, 0.996, 1.0)]
SCALINGS = {  # overrides whose resolved lr / classifier_lr the reference keeps
    "batch-8": [],
    "batch-64-devices-3-nodes-2": ["optimizer.batch_size=64", "devices=[0,1,2]", "+num_nodes=2"],
    "no-val-path": ["data.val_path=null", "optimizer.batch_size=128"],
}


# Schedules: (id, overrides, steps per epoch, max_epochs, accumulate)
SCHEDULES = [
    ("warmup-2.5-of-10", ["scheduler.warmup_epochs=2.5", "max_epochs=10"], 4, 10, 1),
    ("no-warmup", ["scheduler.warmup_epochs=0", "max_epochs=6", "+scheduler.min_lr=0.001"], 5, 6, 1),
    ("warmup-epoch-interval", ["scheduler.warmup_epochs=2", "max_epochs=8", "+scheduler.interval=epoch"], 3, 8, 1),
    ("warmup-accumulate-devices", ["scheduler.warmup_epochs=1", "max_epochs=5", "+accumulate_grad_batches=2",
                                   "devices=[0,1,2]", "+num_nodes=2"], 4, 5, 2),
    ("step", ["scheduler.name=step", "+scheduler.lr_decay_steps=[3,7]", "max_epochs=12"], 1, 12, 1),
]


class FakeTrainer:
    """What configure_optimizers reads from a Trainer."""

    def __init__(self, steps_per_epoch: int, max_epochs: int, accumulate: int):
        self.num_training_batches = steps_per_epoch * accumulate
        self.estimated_stepping_batches = steps_per_epoch * max_epochs
        self.max_epochs = max_epochs
        self.accumulate_grad_batches = accumulate
        self.global_step = 0


def schedule_config(overrides):
    return load_config(str(ROOT / "scripts/pretrain/cifar"), "co_byol.yaml", [*TINY, *PRED, *SMALL_RF, *overrides])


def step_schedule(optimizer, scheduler, interval: str, steps_per_epoch: int, max_epochs: int) -> list[list[float]]:
    """The lr of every parameter group at every optimizer step, stepping the scheduler as Lightning does."""
    lrs = []
    for _epoch in range(max_epochs):
        for _ in range(steps_per_epoch):
            lrs.append([g["lr"] for g in optimizer.param_groups])
            if interval == "step" and scheduler is not None:
                scheduler.step()
        if interval == "epoch" and scheduler is not None:
            scheduler.step()
    return lrs


def standalone_lrs(overrides, steps_per_epoch, max_epochs, accumulate) -> list[list[float]]:
    cfg = resolve_pretrain_config(schedule_config(overrides))
    module = PretrainModule(cfg)
    module.trainer = FakeTrainer(steps_per_epoch, max_epochs, accumulate)
    out = module.configure_optimizers()
    scheduler = out["lr_scheduler"]["scheduler"] if isinstance(out, dict) else None
    interval = out["lr_scheduler"]["interval"] if isinstance(out, dict) else "step"
    optimizer = out["optimizer"] if isinstance(out, dict) else out
    return step_schedule(optimizer, scheduler, interval, steps_per_epoch, max_epochs)


def standalone_taus(total: int, base: float, final: float) -> list[float]:
    return [ema_tau(k, total, base, final) for k in range(1, total + 1)]


def relative_errors(a: dict[str, float] | list, b, path="") -> list[tuple[str, float, float]]:
    """(where, ours, reference) for every number of two nested structures, pairwise."""
    out = []
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append((f"{path}/{k} missing on one side", math.nan, math.nan))
            else:
                out += relative_errors(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            return [(f"{path} lengths {len(a)} vs {len(b)}", math.nan, math.nan)]
        for i, (x, y) in enumerate(zip(a, b)):
            out += relative_errors(x, y, f"{path}[{i}]")
    else:
        out.append((path, float(a), float(b)))
    return out


def mismatches(ours, reference, rtol: float, atol: float) -> list[str]:
    bad = []
    for where, x, y in relative_errors(ours, reference):
        if math.isnan(x) or abs(x - y) > atol + rtol * abs(y):
            bad.append(f"{where}: {x!r} vs {y!r}")
    return bad


def plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


__all__ = ["CASES", "CASES_BY_ID", "Case", "SCHEDULES", "field"]

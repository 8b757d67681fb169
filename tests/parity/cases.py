"""The parity cases and the standalone side of every comparison (no solo-learn needed here).

A case is a shipped YAML plus overrides (tiny heads, batch 8, CPU) and a few fixed batches. Both hosts
build their model from it, start from the same weights (the standalone model's, built under a fixed seed,
its random tensors drawn again from integers so that they are the same bytes on every CPU
(parity/portable.py), mapped onto solo-learn's) and take the same optimizer steps under a Lightning Trainer,
in float64 unless asked otherwise (Lightning's "64-true" precision: models, batches and tensors made in
forward); a callback records the logged losses, the gradients before each step and the full state after each
step.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from parity.portable import portable_views, restart_portably
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
        "accelerator=cpu", "devices=[0]", "precision=32", "++strategy=auto", "++sync_batchnorm=false",
        "max_epochs=1", "++scheduler.warmup_epochs=0", "data.num_workers=0", "checkpoint.enabled=false",
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
        cfg = load_config(
            str(ROOT / "scripts/pretrain" / self.folder), f"{self.method}.yaml", [*TINY, *extra]
        )
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
    *(
        Case(m, m)
        for m in ("byol", "co_byol", "simclr", "co_simclr", "mocov3", "co_mocov3", "dino", "co_dino")
    ),
    # SGD with weight decay on every parameter, then without decay on 1-D ones; the momentum classifier.
    Case(
        "co_byol-sgd-wd",
        "co_byol",
        (*SMALL_RF, *SGD, "optimizer.weight_decay=1e-3", "+momentum.classifier=true"),
    ),
    Case(
        "byol-sgd-exclude-wd",
        "byol",
        (*SMALL_RF, *SGD, "optimizer.weight_decay=1e-3", "+optimizer.exclude_bias_n_norm_wd=true"),
    ),
    # LARS with the trust ratio on every parameter (also where weight_decay is 0), no lr clipping.
    Case(
        "co_byol-lars-plain",
        "co_byol",
        (
            *SMALL_RF,
            "optimizer.kwargs.exclude_bias_n_norm=false",
            "optimizer.kwargs.clip_lr=false",
            "optimizer.weight_decay=0",
        ),
    ),
    # Multi-crop: small crops through the online branch only; SimCLR with several positives.
    Case("co_byol-multicrop", "co_byol", SMALL_RF, crops=(32, 32, 16, 16)),
    Case("co_simclr-multicrop", "co_simclr", SMALL_RF, crops=(32, 32, 16, 16)),
    # DINO's options: BN in the heads, trained prototypes norm, clipping, teacher warm-up over 2 of 3 epochs.
    Case(
        "co_dino-options",
        "co_dino",
        (
            *SMALL_RF,
            "+method_kwargs.use_bn_in_head=true",
            "+method_kwargs.norm_last_layer=false",
            "+method_kwargs.clip_grad=0.3",
            "+method_kwargs.freeze_last_layer=0",
            "max_epochs=3",
            "+method_kwargs.warmup_teacher_temperature_epochs=2",
            "momentum.base_tau=0.99",
        ),
        batches=1,
    ),
    # MoCo v3's head depth follows the backbone name ("resnet" -> 2 layers, else 3 with a final BN).
    Case(
        "co_mocov3-bagnet", "co_mocov3", ("backbone.name=bagnet33", "+backbone.kwargs.widths=[16,32,64,128]")
    ),
    # Gradient accumulation scales the lrs; 4 batches make 2 optimizer steps.
    Case("co_byol-accumulate", "co_byol", (*SMALL_RF, *SGD, "+accumulate_grad_batches=2"), batches=4),
    # solo-learn's other backbone families (its builders fix their sizes: the smallest of each). ViTs: the
    # patch tokens after the final norm, AdamW; co_mocov3 gets MoCo v3's ViT in both hosts.
    Case("co_dino-vit", "co_dino", (*VIT, *ADAMW)),
    Case("co_mocov3-vit", "co_mocov3", (*VIT, *ADAMW)),
    Case("co_mocov3-vit-block", "co_mocov3", (*VIT, *ADAMW, "+method_kwargs.co.stage=6")),
    Case("co_byol-wide_resnet", "co_byol", ("backbone.name=wide_resnet28w2",)),
    Case("co_simclr-poolformer", "co_simclr", ("backbone.name=poolformer_s12",), crops=(64, 64)),
    # The shipped Fashion-MNIST CO-MoCoV3 (rf29_resnet18: MoCo v3's 2-layer heads, "resnet" is in the name;
    # SGD) with the co options a run can set: local_mean target, a position subset, the weight, the local
    # head sizes and temperature, and a non-default EMA. solo-learn knows no fashion_mnist dataset: the
    # batches are fixed, and cifar10 with a val_path keeps classifier_lr's batch scaling as Fashion-MNIST's.
    Case(
        "co_mocov3-fashion-mnist-co-options",
        "co_mocov3",
        (
            "data.dataset=cifar10",
            "data.train_path=./datasets",
            "data.val_path=./datasets",
            "method_kwargs.co.target=local_mean",
            "method_kwargs.co.num_positions=5",
            "method_kwargs.co.weight=0.5",
            "+method_kwargs.co.proj_hidden_dim=48",
            "+method_kwargs.co.proj_output_dim=24",
            "+method_kwargs.co.pred_hidden_dim=40",
            "+method_kwargs.co.temperature=0.3",
            "momentum.base_tau=0.98",
            "momentum.final_tau=0.999",
        ),
        folder="fashion-mnist",
    ),
    # CO-DINO's own co options and DINO's temperatures (the teacher's warming up over the first 2 of 3 epochs;
    # the prototypes frozen in the first), on LARS without eta (solo-learn's default 1e-3) and momentum 0.8.
    Case(
        "co_dino-co-options-lars-default-eta",
        "co_dino",
        (
            *SMALL_RF,
            "~optimizer.kwargs.eta",
            "+optimizer.kwargs.momentum=0.8",
            "+method_kwargs.co.num_prototypes=40",
            "+method_kwargs.co.student_temperature=0.2",
            "+method_kwargs.co.center_momentum=0.8",
            "+method_kwargs.co.use_bn_in_head=true",
            "+method_kwargs.co.norm_last_layer=false",
            "+method_kwargs.student_temperature=0.15",
            "+method_kwargs.teacher_temperature=0.05",
            "+method_kwargs.warmup_teacher_temperature=0.03",
            "+method_kwargs.warmup_teacher_temperature_epochs=2",
            "max_epochs=3",
        ),
        batches=1,
    ),
]
CASES_BY_ID = {c.id: c for c in CASES}


def make_batches(case: Case) -> list[tuple[list[torch.Tensor], torch.Tensor]]:
    """The case's fixed batches, drawn from integers only (the same bytes on every CPU:
    parity/portable.py)."""
    g = torch.Generator().manual_seed(SEED)
    out = []
    for _ in range(case.batches):
        views = [portable_views(8, s, g) for s in case.crops]
        out.append((views, torch.randint(0, 10, (8,), generator=g)))
    return out


def build_standalone(case: Case) -> tuple[PretrainModule, dict]:
    """The standalone model of ``case`` as the host builds it (its law is compared with solo-learn's)."""
    cfg = resolve_pretrain_config(case.config())
    torch.manual_seed(SEED)
    return PretrainModule(cfg), cfg


def build_started(case: Case) -> tuple[PretrainModule, dict]:
    """The standalone model of ``case`` holding the weights both hosts start from: its random tensors drawn
    again from integers (parity/portable.py), so that the recorded runs hold on every CPU."""
    module, cfg = build_standalone(case)
    restart_portably(module, SEED)
    return module, cfg


class Capture(L.Callback):
    """Records per optimizer step: the logged values, the gradients, the state after the step."""

    def __init__(self):
        self.logged: list[dict[str, float]] = []
        self.grads: list[dict[str, torch.Tensor]] = []
        self.states: list[dict[str, torch.Tensor]] = []
        self.parameters: set[str] = set()  # state entries that are parameters (the rest are buffers)

    def setup(self, trainer, pl_module, stage):
        self.parameters = {n for n, _ in pl_module.named_parameters(remove_duplicate=False)}
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
        self.grads.append(
            {n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None}
        )

    def on_train_end(self, trainer, pl_module):
        self._after_step(trainer, pl_module)


def snapshot(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


PRECISION = {torch.float64: "64-true", torch.float32: "32-true"}


def fit(module, batches, max_epochs: int, accumulate: int, dtype: torch.dtype = torch.float64) -> Capture:
    # Training draws from the global generator where co.num_positions picks positions: every run starts from
    # the same state, in both hosts and whatever ran before.
    torch.manual_seed(SEED)
    capture = Capture()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[capture], accumulate_grad_batches=accumulate,
                        deterministic=False, precision=PRECISION[dtype])
    trainer.fit(module, DataLoader(batches, batch_size=None))
    return capture


STANDALONE_LOSSES = {
    "global": "train/global_loss",
    "local": "train/local_loss",
    "classifier": "train/online_linear_loss",
    "momentum_classifier": "train/momentum_linear_loss",
}


def losses_of(logged: dict[str, float], names: dict[str, str]) -> dict[str, float]:
    return {k: logged.get(v, 0.0) for k, v in names.items()}


# The entries whose first values after the last step the reference keeps (when the model has them).
SLICED = ("method.backbone.stem.0.weight", "method.momentum_backbone.layer4.1.conv2.weight",
          "method.projector.layers.0.weight", "method.predictor.layers.3.weight", "method.head.mlp.0.weight",
          "method.co_term.projector.net.0.weight", "method.co_term.momentum_projector.net.3.bias",
          "classifier.weight")


def is_momentum(name: str) -> bool:
    """A momentum (EMA target) network's entry, in the standalone's names (the momentum classifier is
    trained by gradient, not by EMA)."""
    return name.startswith("method.") and any(part.startswith("momentum_") for part in name.split("."))


def summarize(capture: Capture, losses: dict[str, str], rename: dict[str, str] | None = None) -> dict:
    """What the reference file keeps of a run, in the standalone's names: per batch the logged losses; per
    optimizer step each gradient's norm and each state entry's change (norm), kept apart by kind
    (``KINDS``: trained parameters, momentum-network parameters, buffers such as BatchNorm statistics);
    then the first values of a few final entries."""
    rename = rename or {}
    back = {v: k for k, v in rename.items()}

    def ours(name):
        return back.get(name, name)

    steps = []
    for i, grads in enumerate(capture.grads):
        before, after = capture.states[i], capture.states[i + 1]
        step = {"grad_norm": {ours(n): float(g.double().norm()) for n, g in grads.items()},
                "param_update": {}, "momentum_update": {}, "buffer_update": {}}
        for name, value in after.items():
            if value.is_floating_point():
                mine = ours(name)
                kind = "buffer_update" if name not in capture.parameters else \
                    "momentum_update" if is_momentum(mine) else "param_update"
                step[kind][mine] = float((value.double() - before[name].double()).norm())
        steps.append(step)
    final = capture.states[-1]
    sliced = [n for n in final if ours(n) in SLICED]
    first = {ours(n): final[n].flatten()[:4].double().tolist() for n in sliced}
    return {"batch_losses": [losses_of(entry, losses) for entry in capture.logged], "steps": steps,
            "final_values": first}


KINDS = ("grad_norm", "param_update", "momentum_update", "buffer_update")


def state_checksum(state: dict[str, torch.Tensor]) -> float:
    """Sum of |x| over a state dict: a fingerprint of the initial weights."""
    return float(sum(v.double().abs().sum() for v in state.values() if v.is_floating_point()))


def state_fingerprints(state: dict[str, torch.Tensor]) -> dict[str, float]:
    """Sum of |x| per floating entry: says which tensors a changed start comes from."""
    return {k: float(v.double().abs().sum()) for k, v in state.items() if v.is_floating_point()}


OUTLIER_SIGMAS = 30.0


def without_outliers(v: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The values of ``v`` within OUTLIER_SIGMAS standard deviations of its mean, and how many were left out.

    timm's trunc_normal_ (solo-learn's ViT, PoolFormer, ... initialisation, and ours) takes erfinv of a
    float32 uniform draw; a draw on the end of the interval gives an infinite value, clamped to the truncation
    bound (±2 absolute: ~100 standard deviations at std 0.02). A tensor of a million values holds one such
    value with a probability of about 6 % in either host, and that one value moves its std by 0.4 % and its
    mad/std by 0.004, beyond the sampling tolerance of the law; the law is therefore taken without such
    values."""
    flat = v.flatten()
    if flat.numel() < 2:
        return flat, 0
    far = (flat - flat.mean()).abs() > OUTLIER_SIGMAS * flat.std(unbiased=False)
    return flat[~far], int(far.sum())


def init_law(state: dict[str, torch.Tensor], rename: dict[str, str] | None = None) -> dict[str, dict]:
    """Per floating entry of a freshly built model, in the standalone's names: its shape, mean, standard
    deviation and mean absolute deviation over the standard deviation (about 0.87 for a uniform law, 0.80
    for a normal one), taken without values beyond OUTLIER_SIGMAS (``without_outliers``; their count is
    kept), and the other entries that start bit-equal to it (a momentum network copied from its online twin),
    among entries that are not constant."""
    back = {v: k for k, v in (rename or {}).items()}
    floating = {back.get(k, k): v.detach().double() for k, v in state.items() if v.is_floating_point()}
    law, by_value = {}, {}
    for name, v in floating.items():
        kept, outliers = without_outliers(v)
        mean = float(kept.mean()) if kept.numel() else 0.0
        std = float(kept.std(unbiased=False)) if kept.numel() else 0.0
        law[name] = {"shape": list(v.shape), "mean": mean, "std": std, "outliers": outliers,
                     "mad_ratio": float((kept - mean).abs().mean()) / std if std > 0 else 0.0, "copies": []}
        if std > 0:
            digest = hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()
            by_value.setdefault((tuple(v.shape), digest), []).append(name)
    for names in by_value.values():
        for name in names:
            law[name]["copies"] = sorted(set(names) - {name})
    return law


TAUS = [(12, 0.99, 1.0), (40, 0.996, 1.0)]
SCALINGS = {  # overrides whose resolved lr / classifier_lr the reference keeps
    "batch-8": [],
    "batch-64-devices-3-nodes-2": ["optimizer.batch_size=64", "devices=[0,1,2]", "+num_nodes=2"],
    "no-val-path": ["data.val_path=null", "optimizer.batch_size=128"],
}
RESOLVED = {  # overrides whose resolved optimizer, momentum and scheduler sections the reference keeps
    "default": [],
    "batch-64-devices-3-nodes-2": ["optimizer.batch_size=64", "devices=[0,1,2]", "+num_nodes=2"],
    "no-val-path": ["data.val_path=null"],
    "sgd": ["optimizer.name=sgd", "~optimizer.kwargs"],
    "lars-without-eta": ["~optimizer.kwargs.eta", "+optimizer.kwargs.momentum=0.8"],
}
RESOLVED_SCHEDULER = ("min_lr", "warmup_start_lr", "warmup_epochs", "interval")


def resolved_sections(resolved: dict) -> dict:
    """What the reference keeps of a resolved config: solo-learn's optimizer and momentum sections and the
    scheduler keys both hosts fill."""
    return {"optimizer": resolved["optimizer"], "momentum": resolved["momentum"],
            "scheduler": {k: resolved["scheduler"][k] for k in RESOLVED_SCHEDULER}}


# Schedules: (id, overrides, steps per epoch, max_epochs, accumulate)
SCHEDULES = [
    ("warmup-2.5-of-10", ["scheduler.warmup_epochs=2.5", "max_epochs=10"], 4, 10, 1),
    ("no-warmup", ["scheduler.warmup_epochs=0", "max_epochs=6", "+scheduler.min_lr=0.001"], 5, 6, 1),
    (
        "warmup-epoch-interval",
        ["scheduler.warmup_epochs=2", "max_epochs=8", "+scheduler.interval=epoch"],
        3,
        8,
        1,
    ),
    (
        "warmup-accumulate-devices",
        [
            "scheduler.warmup_epochs=1",
            "max_epochs=5",
            "+accumulate_grad_batches=2",
            "devices=[0,1,2]",
            "+num_nodes=2",
        ],
        4,
        5,
        2,
    ),
    ("step", ["scheduler.name=step", "+scheduler.lr_decay_steps=[3,7]", "max_epochs=12"], 1, 12, 1),
    (
        "warmup-start-lr",
        ["scheduler.warmup_epochs=2", "max_epochs=6", "+scheduler.warmup_start_lr=0.01"],
        3,
        6,
        1,
    ),
    (
        "min-lr-accumulate",
        [
            "scheduler.warmup_epochs=1",
            "max_epochs=5",
            "+scheduler.min_lr=0.001",
            "+accumulate_grad_batches=2",
        ],
        4,
        5,
        2,
    ),
    # runs shorter than their warm-up (issue #30): a cosine span of half a step (fashion-mnist's
    # co_mocov3_vit.yaml with the README's tiny overrides), a warm-up over every step, one whose last warm-up
    # step overshoots
    ("warmup-half-a-step-past-the-run", ["scheduler.warmup_epochs=0.5", "max_epochs=1"], 1, 1, 1),
    (
        "warmup-covers-every-step",
        ["scheduler.warmup_epochs=3", "max_epochs=2", "+scheduler.min_lr=0.001"],
        2,
        2,
        1,
    ),
    ("warmup-1.5-of-2", ["scheduler.warmup_epochs=1.5", "max_epochs=2"], 1, 2, 1),
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
    return load_config(
        str(ROOT / "scripts/pretrain/cifar"), "co_byol.yaml", [*TINY, *PRED, *SMALL_RF, *overrides]
    )


def step_schedule(
    optimizer, scheduler, interval: str, steps_per_epoch: int, max_epochs: int
) -> list[list[float]]:
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


def mismatches(ours, reference, rtol: float, atol: float, path: str = "") -> list[str]:
    bad = []
    for where, x, y in relative_errors(ours, reference, path):
        if math.isnan(x) or abs(x - y) > atol + rtol * abs(y):
            bad.append(f"{where}: {x!r} vs {y!r}")
    return bad


# Tolerances of every float64 comparison, live and against the reference file (see test_parity's docstring).
FIRST_RTOL = 1e-9  # the first batch's losses and the first optimizer step
LATER_RTOL = 1e-7  # every later batch and step, and the final values
FLOOR = 1e-9  # values below FLOOR x the largest of their kind in that step compare absolutely (at that level)


def compare_runs(ours: dict, reference: dict, first: float = FIRST_RTOL, later: float = LATER_RTOL,
                 floor: float = FLOOR) -> list[str]:
    """The mismatches between two ``summarize`` results: each number within ``first`` (first batch, first
    step) or ``later`` relative, each kind of each step with its own absolute floor (a gradient that is zero
    up to rounding, e.g. of a bias before BatchNorm, is compared at that level, not relatively)."""
    bad = []
    if len(ours["batch_losses"]) != len(reference["batch_losses"]) or len(ours["steps"]) != len(
        reference["steps"]
    ):
        return [f"{len(ours['batch_losses'])} batches / {len(ours['steps'])} steps here but "
                f"{len(reference['batch_losses'])} / {len(reference['steps'])} in the reference"]
    for i, (a, b) in enumerate(zip(ours["batch_losses"], reference["batch_losses"])):
        bad += mismatches(a, b, first if i == 0 else later, 0.0, f"/batch_losses[{i}]")
    for i, (a, b) in enumerate(zip(ours["steps"], reference["steps"])):
        for kind in KINDS:
            scale = max((abs(v) for v in b[kind].values()), default=0.0)
            bad += mismatches(
                a[kind], b[kind], first if i == 0 else later, floor * scale, f"/steps[{i}]/{kind}"
            )
    for name, values in reference["final_values"].items():
        scale = max((abs(v) for v in values), default=0.0)
        bad += mismatches(
            ours["final_values"].get(name, []), values, later, floor * scale, f"/final_values/{name}"
        )
    bad += [f"/final_values/{name} missing in the reference" for name in set(ours["final_values"])
            - set(reference["final_values"])]
    return bad


LAW_SIGMAS = 6.0  # sampling tolerance of the initialisation law, in standard errors


def law_mismatches(ours: dict[str, dict], reference: dict[str, dict]) -> list[str]:
    """Where two models' initial states differ in law: the entries, their shapes (up to size-1 dimensions),
    which entries start as copies of which, constants exactly, and for random entries the mean, standard
    deviation and mad_ratio within LAW_SIGMAS standard errors of the sample size."""
    from solo_coss.hosts.solo_learn.convert import same_up_to_unit_dims

    bad = [
        f"{n}: only in the {side}"
        for side, names in (
            ("standalone model", set(ours) - set(reference)),
            ("reference", set(reference) - set(ours)),
        )
        for n in sorted(names)
    ]
    for name in sorted(set(ours) & set(reference)):
        a, b = ours[name], reference[name]
        n = math.prod(b["shape"]) or 1
        if not same_up_to_unit_dims(torch.Size(a["shape"]), torch.Size(b["shape"])):
            bad.append(f"{name}: shape {a['shape']} vs {b['shape']}")
            continue
        if a["copies"] != b["copies"]:
            bad.append(
                f"{name}: starts as a copy of {a['copies'] or 'nothing'}, solo-learn's of "
                f"{b['copies'] or 'nothing'}"
            )
        if b["std"] == 0:
            if a["std"] != 0 or abs(a["mean"] - b["mean"]) > 1e-12 * max(1.0, abs(b["mean"])):
                bad.append(
                    f"{name}: constant {b['mean']} in solo-learn, here mean {a['mean']} std {a['std']}"
                )
            continue
        se_mean, se_std, se_mad = b["std"] / math.sqrt(n), 1 / math.sqrt(2 * n), 0.6 / math.sqrt(n)
        if (
            abs(a["mean"] - b["mean"]) > LAW_SIGMAS * se_mean
            or abs(a["std"] / b["std"] - 1) > LAW_SIGMAS * se_std
            or abs(a["mad_ratio"] - b["mad_ratio"]) > LAW_SIGMAS * se_mad
        ):
            bad.append(
                f"{name}: initialised with mean {a['mean']:.4g} std {a['std']:.4g} mad/std "
                f"{a['mad_ratio']:.3f}, solo-learn {b['mean']:.4g} / {b['std']:.4g} / {b['mad_ratio']:.3f} "
                f"({n} values)"
            )
    return bad


def plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


__all__ = ["CASES", "CASES_BY_ID", "Case", "SCHEDULES", "field"]

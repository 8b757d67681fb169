"""Loading solo-learn-style YAML configs (Hydra's compose API) and resolving them as solo-learn does.

``resolve_pretrain_config`` fills every default solo-learn fills (``solo/args/pretrain.py`` and the methods'
``add_and_assert_specific_cfg``), derives what it derives (number of classes and of large / small crops),
and scales ``optimizer.lr`` / ``classifier_lr`` by batch_size x devices x num_nodes / 256 (``lr_stages``:
config.json keeps ``base_lr``, ``lr`` and ``effective_lr``); the result is what the run folder's
``config.json`` records, like solo-learn's ``args.json``. Every key is either honoured as in solo-learn or
refused with an error naming it; the schema, with the few keys of ours marked, is ``schema.py``.
"""

from __future__ import annotations

import copy
import inspect
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from solo_coss.backbones import check_backbone_kwargs, check_backbone_name
from solo_coss.core import check_choice, check_fields, check_keys, check_positive, refuse
from solo_coss.data.datasets import NUM_CLASSES
from solo_coss.data.spec import check_data_cfg
from solo_coss.data.transforms import normalize_augmentations
from solo_coss.hosts.standalone.precision import resolve_precision
from solo_coss.hosts.standalone.schema import (
    Optimizer,
    PretrainConfig,
    PretrainOptimizer,
    Scheduler,
    fill_section,
    key_names,
    require,
    required_keys,
)
from solo_coss.methods import MethodKwargs, record_kwargs, resolve_method_kwargs

HYDRA_KEYS = ("hydra", "defaults")
TRAINER_KEYS = tuple(p for p in inspect.signature(L.Trainer.__init__).parameters if p != "self")
# what each Trainer argument accepts, as Lightning annotates it; precision also takes our "auto"
TRAINER_HINTS = typing.get_type_hints(L.Trainer.__init__)
_LIGHTNING_PRECISIONS = TRAINER_HINTS["precision"]
TRAINER_HINTS["precision"] = typing.Union[_LIGHTNING_PRECISIONS, typing.Literal["auto"]]  # noqa: UP007
OPTIMIZERS = ("sgd", "lars", "adam", "adamw")
SCHEDULERS = ("warmup_cosine", "step", "none")
OPTIMIZER_KWARG_DEFAULTS = {
    "sgd": {"momentum": 0.9},
    "lars": {"momentum": 0.9, "eta": 1e-3, "clip_lr": False, "exclude_bias_n_norm": False},
    "adamw": {"betas": [0.9, 0.999]},
    "adam": {},
}
KNN_DISTANCES = ("euclidean", "cosine")
# torch.compile's
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def load_config(config_path: str, config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose ``config_name`` from the folder ``config_path`` (relative to the cwd) with Hydra overrides."""
    folder = Path(config_path).expanduser().resolve()
    if not (folder / f"{config_name.removesuffix('.yaml')}.yaml").is_file():
        raise FileNotFoundError(f"config {config_name!r} not found in {folder}")
    with initialize_config_dir(str(folder), version_base="1.3"):
        cfg = compose(config_name.removesuffix(".yaml"), overrides=list(overrides or []))
    return cfg


def to_plain(cfg: DictConfig | dict) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return copy.deepcopy(dict(cfg))


def record(cfg: dict[str, Any]) -> dict[str, Any]:
    """The resolved config as config.json (and a checkpoint's ``hyper_parameters.cfg``) records it: plain JSON
    values, the typed method_kwargs as ``record_kwargs`` writes them, tuples as lists, paths as strings. The
    one place the typed values become a dict again."""
    def plain(value: Any) -> Any:
        return record_kwargs(value) if isinstance(value, MethodKwargs) else str(value)

    return json.loads(json.dumps(cfg, default=plain))


def check_knn(where: str, ks: list, temperatures: list, distance: str) -> None:
    """k: positive integers; T (cosine only): positive numbers."""
    check_choice(f"{where}.distance_func", distance, KNN_DISTANCES)
    for k in ks:
        check_positive(f"{where}.k", k, what=" (the number of neighbours)")
    for t in temperatures if distance == "cosine" else []:
        check_positive(f"{where}.T", t, float, what=" (the temperature)")


def check_run_keys(plain: dict[str, Any], schema: type) -> None:
    """The top-level values of a pretrain or linear config: the schema's and the Trainer's by their
    annotations, and a training budget solo-learn can count its schedules in."""
    check_fields("", plain, schema)
    check_fields("", {k: v for k, v in plain.items() if k in TRAINER_KEYS}, None, hints=TRAINER_HINTS)
    epochs, steps = plain.get("max_epochs"), plain.get("max_steps")
    if steps not in (None, -1):
        check_positive("max_steps", steps)
    if epochs not in (None, -1) or steps in (None, -1):
        check_positive("max_epochs", epochs, what=" (solo-learn's schedules are counted in epochs), or set "
                       "max_steps to a positive number of steps")
    for key in ("accumulate_grad_batches", "num_nodes"):
        if plain.get(key) is not None:
            check_positive(key, plain[key])


def device_count(devices: Any) -> int:
    """How many devices solo-learn's lr scaling counts (it takes len(cfg.devices))."""
    if devices is None:
        return 1
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, int) and devices >= 1:
        return devices
    if isinstance(devices, str) and devices.strip() == "1":
        return 1
    refuse("devices", devices, "give a list of device ids or a positive integer (solo-learn scales the lr by "
           "len(devices), which is ambiguous for 'auto', -1 or strings)")


def lr_scaling_line(cfg: dict[str, Any], world_size: int) -> str:
    """One line: how the lr was scaled and the number of processes it counted (refused when the Trainer runs
    another number, since the lr would then be scaled for a batch that is not the one trained on)."""
    opt, nodes = cfg["optimizer"], int(cfg.get("num_nodes") or 1)
    devices = device_count(cfg.get("devices"))
    if devices * nodes != world_size:
        refuse("devices", cfg.get("devices"), f"the lr is scaled for {devices} device(s) x {nodes} node(s) = "
               f"{devices * nodes} processes, but the Trainer runs {world_size}; give the devices it runs on")
    line = (f"lr scaling: optimizer.lr {opt['base_lr']:g} x batch_size {opt['batch_size']} x {world_size} "
            f"process(es) (devices {devices} x num_nodes {nodes}) / 256 = {opt['lr']:g}")
    if opt["effective_lr"] != opt["lr"]:
        line += (f"; x accumulate_grad_batches {cfg.get('accumulate_grad_batches')} = "
                 f"{opt['effective_lr']:g}, the optimizer's lr")
    return line


def compile_mode(value) -> str | None:
    """``performance.compile``: false (eager), true (torch.compile's default mode) or one of its mode
    names."""
    if value is None or value is False:
        return None
    if value is True:
        return "default"
    check_choice("performance.compile", value, [False, True, *COMPILE_MODES])
    return value


def large_and_small_crops(augmentations: list[dict]) -> tuple[int, int]:
    """solo-learn's rule: pipelines with the first pipeline's crop size are large crops, others small."""
    pipelines = normalize_augmentations(augmentations)
    big = pipelines[0]["crop_size"]
    large = sum(p["num_crops"] for p in pipelines if p["crop_size"] == big)
    return large, sum(p["num_crops"] for p in pipelines) - large


@dataclass(frozen=True)
class LRStages:
    """The stages of one learning rate, as solo-learn computes them; config.json names them ``base_<key>``,
    ``<key>`` and ``effective_<key>`` (``record_lr``), and the code reads them by those names only: ``lr``
    alone is the batch-scaled stage, as in solo-learn's args.json."""

    base: float          # base_lr: the YAML's value
    batch_scaled: float  # lr: x batch_size x devices x num_nodes / 256, solo-learn's args.json value
    # effective_lr: x accumulate_grad_batches (pretraining), what the optimizer starts from
    effective: float


def lr_stages(base: float, batch_scale: float, accumulate: int = 1) -> LRStages:
    """``base`` scaled by the batch (``batch_scale``, see ``scale_optimizer``) and by gradient
    accumulation."""
    scaled = float(base) * batch_scale
    return LRStages(float(base), scaled, scaled * accumulate)


def record_lr(opt: dict[str, Any], key: str, stages: LRStages) -> None:
    """config.json's names of the stages: ``base_<key>``, ``<key>`` (batch-scaled, as args.json) and
    ``effective_<key>``."""
    opt[f"base_{key}"], opt[key], opt[f"effective_{key}"] = stages.base, stages.batch_scaled, stages.effective


def scale_optimizer(plain: dict[str, Any], opt: dict[str, Any], accumulate: int = 1) -> float:
    """What the pretrain and linear schemas share for ``optimizer``: the required keys, a known name, its
    kwargs defaults, and the stages of ``lr`` (``lr_stages``: solo-learn's scaling by batch_size x devices x
    num_nodes / 256, then x ``accumulate``) recorded in ``opt``; the batch factor is returned."""
    require("optimizer", opt, Optimizer)
    check_choice("optimizer.name", opt["name"], OPTIMIZERS)
    opt["kwargs"] = {**OPTIMIZER_KWARG_DEFAULTS[opt["name"]], **(opt.get("kwargs") or {})}
    plain.setdefault("num_nodes", 1)
    scale = int(opt["batch_size"]) * device_count(plain.get("devices")) * int(plain["num_nodes"]) / 256
    record_lr(opt, "lr", lr_stages(opt["lr"], scale, accumulate))
    return scale


# solo-learn normalises these with its own statistics whatever a pipeline's mean / std say
SOLO_NORMALISED_DATASETS = ("cifar10", "cifar100", "stl10", "imagenet100", "imagenet")


def _refuse_unsupported(plain: dict[str, Any]) -> None:
    if plain["data"]["dataset"] in SOLO_NORMALISED_DATASETS:
        for i, pipeline in enumerate(plain["augmentations"]):
            given = [k for k in ("mean", "std") if (pipeline or {}).get(k) is not None]
            if given:
                raise ValueError(
                    f"augmentations[{i}].{given[0]} is set, but solo-learn normalises "
                    f"data.dataset={plain['data']['dataset']} with its own statistics and ignores it; "
                    "remove it (or use data.dataset=custom, where a pipeline's mean / std apply)"
                )
    frequency = plain["auto_umap"]["frequency"]
    if plain["auto_umap"]["enabled"] and not (isinstance(frequency, int) and frequency >= 1):
        raise ValueError(f"auto_umap.frequency={frequency!r}: give a positive number of epochs")
    if plain["dali"]["encode_indexes_into_labels"]:
        raise ValueError("dali.encode_indexes_into_labels=true is not supported: no solo-coss method needs "
                         "sample indexes")
    if plain["data"]["num_large_crops"] != 2:
        raise ValueError(
            f"{plain['method']} needs exactly 2 large crops (pipelines with the first pipeline's "
            f"crop_size), got {plain['data']['num_large_crops']}: solo-learn's rule"
        )


def _resolve_optimizer(plain: dict[str, Any], has_val: bool) -> None:
    opt = fill_section(plain, "optimizer", PretrainConfig)
    accumulate = int(plain["accumulate_grad_batches"] or 1)
    scale = scale_optimizer(plain, opt, accumulate)
    require("optimizer", opt, PretrainOptimizer, {"classifier_lr": " (the online linear classifier's lr)"})
    # solo-learn scales classifier_lr by the batch only when there is a validation set
    record_lr(opt, "classifier_lr", lr_stages(opt["classifier_lr"], scale if has_val else 1.0, accumulate))


# solo-learn's schedulers the standalone host leaves out, and what to use instead
UNSUPPORTED_SCHEDULERS = {
    "cosine": "it is not a solo-learn scheduler; use 'warmup_cosine' with scheduler.warmup_epochs=0",
    "reduce": f"solo-learn's linear-only scheduler is not supported by the standalone host; use one of "
              f"{SCHEDULERS}",
    "exponential": f"solo-learn's linear-only scheduler is not supported by the standalone host; use one of "
                   f"{SCHEDULERS}",
}


def check_scheduler(sched: dict[str, Any]) -> None:
    """The scheduler block of both schemas (filled by ``fill_section``): a known name, its required keys."""
    if sched.get("name") in UNSUPPORTED_SCHEDULERS:
        refuse("scheduler.name", sched["name"], UNSUPPORTED_SCHEDULERS[sched["name"]])
    check_choice("scheduler.name", sched.get("name"), SCHEDULERS)
    require("scheduler", sched, Scheduler)
    check_choice("scheduler.interval", sched["interval"], ("step", "epoch"))
    if sched["name"] == "step" and not sched.get("lr_decay_steps"):
        refuse("scheduler.lr_decay_steps", sched.get("lr_decay_steps"), "scheduler.name='step' needs a list "
               "of epochs (or steps, with scheduler.interval='step') where the lr is divided by 10")


def _resolve_scheduler(plain: dict[str, Any]) -> None:
    check_scheduler(fill_section(plain, "scheduler", PretrainConfig))


def resolve_pretrain_config(cfg: DictConfig | dict) -> dict[str, Any]:
    """Validate a pretraining config and resolve it as solo-learn does; returns a plain dict."""
    plain = to_plain(cfg)
    for key in HYDRA_KEYS:
        plain.pop(key, None)
    check_keys("the config", plain, set(key_names(PretrainConfig)) | set(TRAINER_KEYS))
    for key in required_keys(PretrainConfig):
        if key not in plain:
            raise ValueError(f"the config has no {key!r} section")
    check_run_keys(plain, PretrainConfig)
    for section in ("backbone", "momentum", "checkpoint", "auto_resume", "knn_eval", "performance", "wandb",
                    "dali", "auto_umap"):
        fill_section(plain, section, PretrainConfig)
    check_backbone_name(plain["backbone"].get("name"))
    knn = plain["knn_eval"]
    check_knn("knn_eval", [knn["k"]], [knn["T"]], knn["distance_func"])
    compile_mode(plain["performance"]["compile"])
    # every method_kwargs key and the co block (filled with the method's defaults), before anything is
    # written: the method's typed kwargs, built from them as they are
    plain["method_kwargs"] = resolve_method_kwargs(plain["method"], plain.get("method_kwargs"))

    data = plain["data"]
    if (
        plain["dali"].get("device")
        and data.get("dali_device")
        and plain["dali"]["device"] != data["dali_device"]
    ):
        raise ValueError(
            f"dali.device={plain['dali']['device']!r} and data.dali_device={data['dali_device']!r} "
            "disagree; set one"
        )
    if plain["dali"].get("device"):
        data["dali_device"] = plain["dali"]["device"]
    data = plain["data"] = check_data_cfg(data)
    data.setdefault("val_path", None)
    data.setdefault("no_labels", False)
    data.setdefault("fraction", -1)
    data["num_large_crops"], data["num_small_crops"] = large_and_small_crops(plain["augmentations"])
    check_backbone_kwargs(*backbone_spec(plain))
    if data["dataset"] in NUM_CLASSES:
        data["num_classes"] = NUM_CLASSES[data["dataset"]]
    has_val = data["val_path"] is not None or data["dataset"] == "fashion_mnist"  # its test split is built in
    if plain["auto_umap"]["enabled"] and not has_val:
        raise ValueError("auto_umap.enabled=true plots the validation features: set data.val_path")

    plain.setdefault("accumulate_grad_batches", 1)
    _resolve_optimizer(plain, has_val)
    _resolve_scheduler(plain)
    plain.setdefault("name", plain["method"])
    plain.setdefault("seed", 5)
    plain.setdefault("nan_guard", True)
    plain.setdefault("debug_augmentations", False)
    plain.setdefault("resume_from_checkpoint", None)
    if "precision" in plain:
        plain["precision"] = resolve_precision(plain["precision"], plain.get("accelerator"),
                                               not plain["performance"]["disable_channel_last"])
    _refuse_unsupported(plain)
    return plain


PRETRAINING_ONLY_DATA = ("num_large_crops", "num_small_crops", "no_labels")


def evaluation_data(
    pretrained: dict[str, Any], given: dict[str, Any] | None, unlabelled_error: str
) -> dict[str, Any]:
    """The data block of an evaluation (kNN, linear) of a pretraining run: the run's ``data`` without what
    only pretraining uses (crop counts, ``no_labels``), the user's ``given`` keys over it. A run pretrained on
    unlabelled images needs a labelled ``given`` train_path: ValueError ``unlabelled_error`` otherwise."""
    given = dict(given or {})
    if pretrained.get("no_labels") and "train_path" not in given:
        raise ValueError(unlabelled_error)
    return {**{k: v for k, v in pretrained.items() if k not in PRETRAINING_ONLY_DATA}, **given}


def trainer_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every config key that is a Lightning Trainer argument (as solo-learn does)."""
    return {k: cfg[k] for k in TRAINER_KEYS if k in cfg}


CIFAR_DATASETS = ("cifar10", "cifar100")


def backbone_spec(cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, kwargs) for ``build_backbone`` of the config's backbone. As solo-learn does, torchvision ResNets
    ("resnet*") get a 3x3 stride-1 stem (padding 2, as solo-learn writes it) without max-pool on CIFAR, so
    one YAML means the same network under both hosts; a ViT is the one its method gets (co_X: X's), so its
    kwargs name the method."""
    from solo_coss.backbones.vit import MOCOV3_SIZES
    from solo_coss.data.datasets import canonical_name

    name, kwargs = cfg["backbone"]["name"], dict(cfg["backbone"].get("kwargs") or {})
    if name.startswith("resnet") and canonical_name(cfg["data"]["dataset"]) in CIFAR_DATASETS:
        kwargs.setdefault("cifar_stem", True)
    if name in MOCOV3_SIZES:
        kwargs["method"] = cfg.get("method")
    return name, kwargs


def backbone_from_config(cfg: dict[str, Any]):
    """The config's backbone (``backbone_spec``)."""
    from solo_coss.backbones import build_backbone

    name, kwargs = backbone_spec(cfg)
    return build_backbone(name, **kwargs)

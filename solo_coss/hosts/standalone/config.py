"""Loading and checking solo-learn-style YAML configs with Hydra's compose API.

The same YAML runs under the solo-learn host; keys solo-learn has and we do not use are accepted and named
in IGNORED_KEYS, anything else fails with the valid keys listed.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import lightning as L
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

SECTIONS = {
    "name": "run name (folder under checkpoint.dir)",
    "method": "byol, co_byol, simclr, co_simclr, mocov3, co_mocov3, dino, co_dino",
    "backbone": "name + kwargs",
    "method_kwargs": "method hyper-parameters; CO methods: the co sub-block",
    "momentum": "base_tau, final_tau (EMA coefficient, cosine schedule)",
    "data": "solo-learn's data block",
    "augmentations": "list of augmentation pipelines",
    "optimizer": "name, batch_size, lr, classifier_lr, weight_decay, kwargs",
    "scheduler": "name (warmup_cosine, cosine, none), warmup_epochs, min_lr, warmup_start_lr, interval",
    "checkpoint": "enabled, dir, frequency",
    "auto_resume": "enabled, max_hours",
    "knn_eval": "enabled, k, T: online kNN on the validation set each epoch",
    "seed": "random seed",
    "wandb": "enabled, project, entity, offline",
    "nan_guard": "stop at the first non-finite loss (default true)",
}
IGNORED_KEYS = ("performance", "debug_augmentations", "resume_from_checkpoint", "dali", "hydra", "defaults")
TRAINER_KEYS = tuple(p for p in inspect.signature(L.Trainer.__init__).parameters if p != "self")
SUB_KEYS = {
    "backbone": ("name", "kwargs"),
    "momentum": ("base_tau", "final_tau", "classifier"),
    "optimizer": ("name", "batch_size", "lr", "classifier_lr", "weight_decay", "kwargs", "exclude_bias_n_norm_wd"),
    "scheduler": ("name", "warmup_epochs", "min_lr", "warmup_start_lr", "interval", "lr_decay_steps"),
    "checkpoint": ("enabled", "dir", "frequency", "keep_prev", "every_n_steps"),
    "auto_resume": ("enabled", "max_hours"),
    "knn_eval": ("enabled", "k", "T", "distance_func", "max_bank"),
    "wandb": ("enabled", "project", "entity", "offline", "tags"),
}
OPTIMIZERS = ("lars", "sgd", "adamw", "lamb")
SCHEDULERS = ("warmup_cosine", "cosine", "none")


def _check(where: str, given, valid) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; valid keys: {sorted(valid)}")


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
    return dict(cfg)


def check_pretrain_config(cfg: DictConfig | dict) -> dict[str, Any]:
    """Validate a pretraining config and fill defaults; returns a plain dict."""
    from solo_coss.backbones import list_backbones
    from solo_coss.data.loaders import check_data_cfg
    from solo_coss.methods import METHODS

    plain = to_plain(cfg)
    _check("the config", plain, set(SECTIONS) | set(IGNORED_KEYS) | set(TRAINER_KEYS))
    for section, valid in SUB_KEYS.items():
        _check(section, plain.get(section) or {}, valid)
    for key in ("method", "backbone", "data", "augmentations", "optimizer"):
        if key not in plain:
            raise ValueError(f"the config has no {key!r} section")
    if plain["method"] not in METHODS:
        raise ValueError(f"unknown method {plain['method']!r}; choose from {sorted(METHODS)}")
    if plain["backbone"].get("name") not in list_backbones():
        raise ValueError(f"unknown backbone {plain['backbone'].get('name')!r}; choose from {list_backbones()}")
    opt = plain["optimizer"]
    if opt.get("name", "lars") not in OPTIMIZERS:
        raise ValueError(f"optimizer.name={opt.get('name')!r} is not valid; choose from {list(OPTIMIZERS)}")
    sched = plain.setdefault("scheduler", {"name": "warmup_cosine"})
    if sched.get("name", "warmup_cosine") not in SCHEDULERS:
        raise ValueError(f"scheduler.name={sched.get('name')!r} is not valid; choose from {list(SCHEDULERS)}")
    check_data_cfg(plain["data"])
    plain.setdefault("name", plain["method"])
    plain.setdefault("seed", 5)
    plain.setdefault("method_kwargs", {})
    plain.setdefault("momentum", {"base_tau": 0.99, "final_tau": 1.0})
    plain.setdefault("checkpoint", {"enabled": True, "dir": "trained_models", "frequency": 1})
    plain.setdefault("auto_resume", {"enabled": False})
    plain.setdefault("knn_eval", {"enabled": True, "k": 20, "T": 0.07})
    plain.setdefault("nan_guard", True)
    for key in IGNORED_KEYS:
        plain.pop(key, None)
    return plain


def trainer_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every config key that is a Lightning Trainer argument (as solo-learn does)."""
    return {k: cfg[k] for k in TRAINER_KEYS if k in cfg}


CIFAR_DATASETS = ("cifar10", "cifar100")


def backbone_from_config(cfg: dict[str, Any]):
    """The config's backbone. As solo-learn does, torchvision ResNets ("resnet*") get the 3x3 stride-1 stem
    without max-pool on CIFAR unless backbone.kwargs.cifar_stem says otherwise, so one YAML means the same
    network under both hosts."""
    from solo_coss.backbones import build_backbone
    from solo_coss.data.datasets import canonical_name

    name, kwargs = cfg["backbone"]["name"], dict(cfg["backbone"].get("kwargs") or {})
    if name.startswith("resnet") and canonical_name(cfg["data"]["dataset"]) in CIFAR_DATASETS:
        kwargs.setdefault("cifar_stem", True)
    return build_backbone(name, **kwargs)

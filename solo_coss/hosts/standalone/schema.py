"""The schema of the standalone host's pretrain and linear configs (solo-learn's keys, a few of ours marked):
one dataclass per section, the top-level keys as one dataclass per config.

A field without a default is required; a field whose default is None is optional and absent from the
resolved config unless given (as solo-learn leaves it); any other default is filled in. The dataclasses
are the schema only: ``fill_section`` checks a section's keys and the types of its values against the field
annotations (``solo_coss.core.keys``) and fills its defaults; the other values are checked where they are
used (``config.resolve_pretrain_config``, ``linear.resolve_linear_config``). ``data`` and
``augmentations`` are checked by the data layer, and ``method_kwargs`` (with its ``co`` block) by
``solo_coss.methods.resolve_method_kwargs``.
"""

import copy
import dataclasses
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal

from solo_coss.core import check_fields, check_keys, refuse


def _empty() -> dict:
    return {}


@dataclass(kw_only=True)
class Backbone:
    name: str | None = None  # required by pretraining (checked with the valid names); linear: the run's
    kwargs: dict = field(default_factory=_empty)


@dataclass(kw_only=True)
class Momentum:
    base_tau: float = 0.99
    final_tau: float = 1.0
    classifier: bool = False


@dataclass(kw_only=True)
class Optimizer:
    name: str
    batch_size: int
    lr: float  # the base lr; config.json's lr is batch-scaled (``lr_stages``)
    weight_decay: float
    kwargs: dict = field(default_factory=_empty)
    exclude_bias_n_norm_wd: bool = False


@dataclass(kw_only=True)
class PretrainOptimizer(Optimizer):
    classifier_lr: float  # the online linear classifier's lr


@dataclass(kw_only=True)
class LinearOptimizer(Optimizer):
    layer_decay: float = 0.0


@dataclass(kw_only=True)
class Scheduler:
    name: str
    lr_decay_steps: list | None = None
    min_lr: float = 0.0
    warmup_start_lr: float = 3e-5
    warmup_epochs: float = 10
    interval: str = "step"


@dataclass(kw_only=True)
class Checkpoint:
    enabled: bool = False
    dir: str = "trained_models"
    frequency: int = 1
    keep_prev: bool = False
    every_n_steps: int | None = None  # ours: step checkpoints for exact resume


@dataclass(kw_only=True)
class LinearCheckpoint:
    enabled: bool = False
    dir: str | None = None  # ours: None puts the run folder beside the pretrained checkpoint
    frequency: int = 1
    keep_prev: bool = False


@dataclass(kw_only=True)
class AutoResume:
    enabled: bool = False
    max_hours: float = 36


@dataclass(kw_only=True)
class KnnEval:
    enabled: bool = False
    k: int = 20
    distance_func: str = "euclidean"
    T: float = 0.07  # ours: the cosine kNN's temperature
    max_bank: int | None = None  # ours: the bank's most recent features kept


@dataclass(kw_only=True)
class Performance:
    disable_channel_last: bool = False


@dataclass(kw_only=True)
class PretrainPerformance(Performance):
    # ours: torch.compile of the training loss (true or a mode name, torch.compile's); standalone only
    compile: bool | Literal["default", "reduce-overhead", "max-autotune",
                            "max-autotune-no-cudagraphs"] = False


@dataclass(kw_only=True)
class Wandb:
    enabled: bool = False
    entity: str | None = None
    project: str = "solo-learn"
    offline: bool = False
    tags: list | None = None


@dataclass(kw_only=True)
class Dali:
    device: str | None = None
    encode_indexes_into_labels: bool = False


@dataclass(kw_only=True)
class LinearDali:
    device: str | None = None


@dataclass(kw_only=True)
class AutoUmap:
    enabled: bool = False
    dir: str = "auto_umap"
    frequency: int = 1


@dataclass(kw_only=True)
class RunConfig:
    """What the pretrain and linear schemas share."""

    name: str | None = None  # pretraining: the method; linear: linear-<the run's name>
    seed: int | None = None  # default 5
    auto_resume: AutoResume = field(default_factory=AutoResume)
    performance: Performance = field(default_factory=Performance)
    wandb: Wandb = field(default_factory=Wandb)
    resume_from_checkpoint: str | None = None


@dataclass(kw_only=True)
class PretrainConfig(RunConfig):
    """solo-learn's main_pretrain schema; any Lightning Trainer argument is accepted beside it."""

    method: str
    backbone: Backbone
    data: dict
    augmentations: list
    optimizer: PretrainOptimizer
    scheduler: Scheduler
    method_kwargs: dict | None = None
    performance: PretrainPerformance = field(default_factory=PretrainPerformance)
    momentum: Momentum = field(default_factory=Momentum)
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    knn_eval: KnnEval = field(default_factory=KnnEval)
    dali: Dali = field(default_factory=Dali)
    auto_umap: AutoUmap = field(default_factory=AutoUmap)
    debug_augmentations: bool | None = None
    nan_guard: bool | None = None  # ours: stop at a non-finite loss (default true)


@dataclass(kw_only=True)
class LinearConfig(RunConfig):
    """solo-learn's main_linear schema; any Lightning Trainer argument is accepted beside it."""

    pretrained_feature_extractor: str
    optimizer: LinearOptimizer
    scheduler: Scheduler
    pretrain_method: str | None = None
    data: dict | None = None  # default: the pretraining run's
    backbone: Backbone = field(default_factory=Backbone)
    checkpoint: LinearCheckpoint = field(default_factory=LinearCheckpoint)
    dali: LinearDali = field(default_factory=LinearDali)
    finetune: bool | None = None
    label_smoothing: float | None = None
    mixup: float | None = None
    cutmix: float | None = None
    auto_augment: bool | None = None
    output: str | None = None  # ours: where the head is copied


def key_names(schema: type) -> list[str]:
    """The keys a schema dataclass accepts."""
    return [f.name for f in dataclasses.fields(schema)]


def required_keys(schema: type) -> list[str]:
    """The keys without a default."""
    return [
        f.name for f in dataclasses.fields(schema) if f.default is MISSING and f.default_factory is MISSING
    ]


def sections(schema: type) -> dict[str, type]:
    """The top-level keys of ``schema`` that are sections, with their dataclass."""
    hints = typing.get_type_hints(schema)
    return {name: hint for name, hint in hints.items() if dataclasses.is_dataclass(hint)}


def fill_section(plain: dict[str, Any], key: str, schema: type) -> dict[str, Any]:
    """Check ``plain[key]`` against the section ``sections(schema)[key]`` and fill its defaults, in place.

    Returns the filled section. A None default is not written (optional), a required key is not checked
    here (its error names what it is for where it is used).
    """
    section = sections(schema)[key]
    given = plain.get(key)
    if given is not None and not isinstance(given, dict):
        refuse(key, given, f"give a mapping of {key}'s keys: {key_names(section)}")
    given = given or {}
    check_keys(key, given, key_names(section))
    check_fields(key, given, section)
    filled = {}
    for f in dataclasses.fields(section):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if default is not MISSING and default is not None:
            filled[f.name] = copy.deepcopy(default)
    filled.update(given)
    plain[key] = filled
    return filled


def require(where: str, section: dict[str, Any], schema: type, hints: dict[str, str] | None = None) -> None:
    """Refuse a missing (or null) required key of ``schema``: ``<where>.<key> is required``, plus its hint."""
    for key in required_keys(schema):
        if section.get(key) is None:
            hint = (hints or {}).get(key)
            raise ValueError(f"{where}.{key} is required" + (f" {hint}" if hint else ""))

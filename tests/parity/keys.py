"""The YAML keys of the standalone host that change training, and which parity configs (run cases, lr
schedules, lr scalings, resolved configs) give each one a non-default value; tests/test_parity.py asserts
that every such key has one. The keys come from the schema (``hosts/standalone/schema.py``), the methods'
signatures (their ``method_kwargs``) and ``COConfig`` (the ``co`` block), so a key added there is a
training key, with no case, until a case sets it or ``NOT_TRAINING`` says why it needs none.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from omegaconf import OmegaConf

from parity.cases import CASES, RESOLVED, SCALINGS, SCHEDULES, schedule_config
from solo_coss.core import COConfig
from solo_coss.hosts.standalone import schema
from solo_coss.hosts.standalone.config import OPTIMIZER_KWARG_DEFAULTS, device_count
from solo_coss.methods import METHODS, method_kwarg_names

REQUIRED = "<required>"  # a key without a default: any value given counts
NOT_APPLICABLE = "<not applicable>"  # e.g. LARS's kwargs in a config with another optimizer

NOT_TRAINING = {  # top-level keys and sections that change no optimizer step, and why
    "name": "the run's label",
    "seed": "picks the initial weights and the data order; the parity cases give both hosts the same ones",
    "resume_from_checkpoint": "restores a run (tests/test_resume.py)",
    "debug_augmentations": "logs the augmented images",
    "nan_guard": "stops a run at a non-finite loss",
    "data": "the parity cases feed fixed batches; data loading is tests/test_data.py's and the augmentation "
            "parity's (tests/test_augmentation_parity.py)",
    "augmentations": "augmentation parity (tests/test_augmentation_parity.py); the crops the cases feed are "
                     "what the pipelines give (large crops first, multi-crop cases)",
    "checkpoint": "saves the run", "auto_resume": "restarts a run", "knn_eval": "an evaluation",
    "wandb": "logging", "dali": "a GPU data loader", "auto_umap": "a plot of the validation features",
    "performance": "memory layout (disable_channel_last) and torch.compile of the same computation "
                   "(tests/test_compile.py)",
}
# Lightning Trainer arguments the host itself reads (lr scaling, schedules) and their defaults; the others
# go to Lightning's Trainer unchanged in both hosts. max_steps alone (max_epochs null) is refused by
# solo-learn, so no parity case can run it.
HOST_TRAINER_KEYS = {"max_epochs": REQUIRED, "accumulate_grad_batches": 1, "devices": 1, "num_nodes": 1}
# optimizer.kwargs: LARS is the host's own (solo-learn's semantics), so its keys are training keys; the
# other optimizers are torch's, their kwargs passed through.
LARS_KWARGS = OPTIMIZER_KWARG_DEFAULTS["lars"]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def training_keys() -> list[str]:
    """Every dotted key that changes training: schema sections and fields, the LARS kwargs, every method's
    method_kwargs and the co block's keys, the Trainer arguments the host reads."""
    keys = list(HOST_TRAINER_KEYS)
    sections = schema.sections(schema.PretrainConfig)
    for f in dataclasses.fields(schema.PretrainConfig):
        if f.name in NOT_TRAINING:
            continue
        if f.name in sections:
            for sub in dataclasses.fields(sections[f.name]):
                if (f.name, sub.name) == ("optimizer", "kwargs"):
                    keys += [f"optimizer.kwargs.{k}" for k in LARS_KWARGS]
                else:
                    keys.append(f"{f.name}.{sub.name}")
        elif f.name == "method_kwargs":
            names = {k for m in METHODS for k in method_kwarg_names(m)} - {"co"}
            keys += [f"method_kwargs.{k}" for k in sorted(names)]
            keys += [f"method_kwargs.co.{f.name}" for f in dataclasses.fields(COConfig)]
        else:
            keys.append(f.name)
    return keys


def default_of(key: str, cfg: dict) -> Any:
    """What the host uses for ``key`` when ``cfg`` does not set it (None: nothing, an optional key)."""
    if key in HOST_TRAINER_KEYS:
        return HOST_TRAINER_KEYS[key]
    section, _, rest = key.partition(".")
    if section == "method_kwargs":
        if rest.startswith("co."):
            return _default(next(f for f in dataclasses.fields(COConfig) if f.name == rest[3:]))
        fields = {f.name: f for f in dataclasses.fields(METHODS[cfg["method"]].Kwargs)}
        field = fields.get(rest)
        return REQUIRED if field is None or field.default is dataclasses.MISSING else field.default
    if key.startswith("optimizer.kwargs."):
        lars = cfg["optimizer"]["name"] == "lars"
        return LARS_KWARGS[rest.removeprefix("kwargs.")] if lars else NOT_APPLICABLE
    if not rest:
        return _default(next(f for f in dataclasses.fields(schema.PretrainConfig) if f.name == key))
    fields = dataclasses.fields(schema.sections(schema.PretrainConfig)[section])
    return _default(next(f for f in fields if f.name == rest))


def value_of(key: str, cfg: dict) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def sets_non_default(key: str, cfg: dict) -> bool:
    default, value = default_of(key, cfg), value_of(key, cfg)
    if default is NOT_APPLICABLE or value is None:
        return False
    if key == "devices":
        return device_count(value) != 1
    return default is REQUIRED or value != default


@functools.cache
def parity_configs() -> dict[str, dict]:
    """Every config a parity check runs, composed (not resolved: a key left out is the host's default)."""
    configs = {f"run[{c.id}]": c.config() for c in CASES}
    configs |= {f"schedule[{name}]": schedule_config(overrides) for name, overrides, *_ in SCHEDULES}
    configs |= {f"scaling[{name}]": schedule_config(overrides) for name, overrides in SCALINGS.items()}
    configs |= {f"resolved[{name}]": schedule_config(overrides) for name, overrides in RESOLVED.items()}
    return {name: OmegaConf.to_container(cfg, resolve=True) for name, cfg in configs.items()}


def where_set() -> dict[str, list[str]]:
    """{training key: the parity configs that give it a non-default value}."""
    configs = parity_configs()
    return {key: [name for name, cfg in configs.items() if sets_non_default(key, cfg)]
            for key in training_keys()}

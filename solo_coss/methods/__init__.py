"""BYOL, SimCLR, MoCo v3, DINO and their CO variants, as plain nn.Modules (the standalone host's methods)."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from solo_coss.core import parse_co_block
from solo_coss.methods.base import SSLMethod
from solo_coss.methods.byol import BYOL
from solo_coss.methods.dino import DINO
from solo_coss.methods.mocov3 import MoCoV3
from solo_coss.methods.simclr import SimCLR

BASELINES: dict[str, type[SSLMethod]] = {"byol": BYOL, "simclr": SimCLR, "mocov3": MoCoV3, "dino": DINO}
METHODS: dict[str, type[SSLMethod]] = {**BASELINES, **{f"co_{k}": v for k, v in BASELINES.items()}}
# Arguments the host passes from outside method_kwargs (derived from other config sections).
CONTEXT_ARGS = ("backbone", "num_large_crops", "max_epochs", "backbone_name")


def _kwarg_params(name: str) -> dict[str, inspect.Parameter]:
    """The constructor parameters of method ``name`` that come from method_kwargs."""
    params = inspect.signature(METHODS[name].__init__).parameters
    return {p: v for p, v in params.items() if p not in ("self", *CONTEXT_ARGS)}


def method_kwarg_names(name: str) -> list[str]:
    """The method_kwargs keys ``name`` accepts (``co`` too for CO methods)."""
    return list(_kwarg_params(name)) + (["co"] if name.startswith("co_") else [])


def method_kwarg_defaults(name: str) -> dict[str, Any]:
    """The defaults of the optional method_kwargs (solo-learn's defaults)."""
    return {p: v.default for p, v in _kwarg_params(name).items() if v.default is not inspect.Parameter.empty}


def check_method_kwargs(name: str, method_kwargs: dict[str, Any] | None):
    """Refuse an unknown method, unknown or missing method_kwargs and unknown ``co`` keys, naming the valid
    ones (what config resolution checks before anything is written); returns the parsed co block, if any."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    kwargs = dict(method_kwargs or {})
    co_block = kwargs.pop("co", None)
    if co_block is not None and not name.startswith("co_"):
        raise ValueError(f"method {name!r} has no local term: use 'co_{name}' to use method_kwargs.co")
    valid = method_kwarg_names(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown method_kwargs {unknown} for {name!r}; valid keys: {valid}")
    missing = [p for p, v in _kwarg_params(name).items() if v.default is inspect.Parameter.empty and p not in kwargs]
    if missing:
        raise ValueError(f"method {name!r} needs method_kwargs {missing} (solo-learn requires them)")
    return parse_co_block(co_block) if name.startswith("co_") else None


def build_method(name: str, backbone: nn.Module, method_kwargs: dict[str, Any] | None = None,
                 num_large_crops: int = 2, max_epochs: int | None = None, backbone_name: str = "") -> SSLMethod:
    """``method_kwargs`` follows solo-learn's schema; CO methods read their ``co`` sub-block.

    The context arguments come from other config sections: ``num_large_crops`` (the augmentation
    pipelines), ``max_epochs`` (DINO's temperature schedule), ``backbone_name`` (MoCo v3's head depth)."""
    co = check_method_kwargs(name, method_kwargs)
    kwargs = {k: v for k, v in (method_kwargs or {}).items() if k != "co"}
    context = {"num_large_crops": num_large_crops, "max_epochs": max_epochs, "backbone_name": backbone_name}
    params = inspect.signature(METHODS[name].__init__).parameters
    method = METHODS[name](backbone, **kwargs, **{k: v for k, v in context.items() if k in params})
    if name.startswith("co_"):
        method.attach_co_term(name, co, kwargs, backbone_name)
    return method


__all__ = ["BASELINES", "BYOL", "DINO", "METHODS", "MoCoV3", "SSLMethod", "SimCLR", "build_method",
           "check_method_kwargs", "method_kwarg_defaults", "method_kwarg_names"]

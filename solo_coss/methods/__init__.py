"""BYOL, SimCLR, MoCo v3, DINO and their CO variants, as plain nn.Modules (the standalone host's methods)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from torch import nn

from solo_coss.core import SPECS, COConfig, COSpec, check_keys, resolve_co
from solo_coss.core.keys import check_choice
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


def check_method_kwargs(name: str, method_kwargs: dict[str, Any] | None) -> COConfig | None:
    """Refuse an unknown method, unknown or missing method_kwargs and a bad ``co`` block, naming the valid
    choices (what config resolution checks before anything is written); returns the complete co block of a
    CO method (``resolve_co``), None for a baseline."""
    check_choice("method", name, sorted(METHODS))
    kwargs = dict(method_kwargs or {})
    if "co" in kwargs and not name.startswith("co_"):
        raise ValueError(f"method {name!r} has no local term: use 'co_{name}' to use method_kwargs.co")
    check_keys(f"method_kwargs of {name!r}", kwargs, method_kwarg_names(name))
    missing = [p for p, v in _kwarg_params(name).items() if v.default is inspect.Parameter.empty and p not in kwargs]
    if missing:
        raise ValueError(f"method {name!r} needs method_kwargs {missing} (solo-learn requires them)")
    return resolve_co(name, kwargs) if name.startswith("co_") else None


def resolve_method_kwargs(name: str, method_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``method_kwargs`` checked (``check_method_kwargs``) and complete: the method's defaults (solo-learn's)
    filled in and, for a CO method, the whole ``co`` block (what config.json records)."""
    co = check_method_kwargs(name, method_kwargs)
    kwargs = {**method_kwarg_defaults(name), **(method_kwargs or {})}
    if co is not None:
        kwargs["co"] = dataclasses.asdict(co)
    return kwargs


def build_method(name: str, backbone: nn.Module, method_kwargs: dict[str, Any] | None = None,
                 num_large_crops: int = 2, max_epochs: int | None = None, backbone_name: str = "") -> SSLMethod:
    """Build a method of the standalone host.

    Args:
        name: ``byol``, ``simclr``, ``mocov3``, ``dino`` or their CO variant (``co_byol``, ...).
        backbone: the backbone (``solo_coss.backbones.build_backbone``); the method owns it.
        method_kwargs: solo-learn's ``method_kwargs`` schema; CO methods read their ``co`` block. Checked
            (``check_method_kwargs``): unknown or missing keys are refused, naming the valid ones.
        num_large_crops: views that also go through the momentum branch (from the augmentation pipelines).
        max_epochs: the run's length (DINO's teacher temperature schedule).
        backbone_name: the configured backbone name (MoCo v3's head depth follows it, as in solo-learn).

    Returns:
        The SSLMethod, with its COTerm attached for a CO method.
    """
    kwargs = resolve_method_kwargs(name, method_kwargs)
    co = kwargs.pop("co", None)
    context = {"num_large_crops": num_large_crops, "max_epochs": max_epochs, "backbone_name": backbone_name}
    params = inspect.signature(METHODS[name].__init__).parameters
    method = METHODS[name](backbone, **kwargs, **{k: v for k, v in context.items() if k in params})
    if co is not None:
        method.attach_co_term(name, COConfig(**co), kwargs, backbone_name)
    return method


def register_method(name: str, cls: type[SSLMethod], co: COSpec | None = None) -> None:
    """Make a method of your own known to the standalone host (``build_method``, the configs' ``method``).

    Args:
        name: the baseline's name; with ``co``, ``co_<name>`` is registered too.
        cls: an SSLMethod subclass; its constructor's keyword arguments are the method_kwargs keys.
        co: how the local term joins the method's loss: the local loss kind (``byol``, ``infonce``,
            ``dino``), momentum twins of the local heads, the pair reduction and MoCo v3's 2T factor.

    Raises:
        ValueError: ``name`` (or ``co_<name>``) is taken, or ``cls`` is not an SSLMethod.
    """
    taken = [n for n in (name, f"co_{name}") if n in METHODS]
    if taken:
        raise ValueError(f"method name(s) {taken} are taken; registered: {sorted(METHODS)}")
    if not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        raise ValueError(f"register_method({name!r}, ...): {cls!r} is not an SSLMethod subclass")
    BASELINES[name] = METHODS[name] = cls
    if co is not None:
        SPECS[name] = co
        METHODS[f"co_{name}"] = cls


__all__ = ["BASELINES", "BYOL", "DINO", "METHODS", "MoCoV3", "SSLMethod", "SimCLR", "build_method",
           "check_method_kwargs", "method_kwarg_defaults", "method_kwarg_names", "register_method",
           "resolve_method_kwargs"]

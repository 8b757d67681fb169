"""BYOL, SimCLR, MoCo v3, DINO and their CO variants, as plain nn.Modules (the standalone host's methods)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from solo_coss.core import COSpec, check_fields, check_keys, resolve_co
from solo_coss.core.config import SPECS
from solo_coss.core.keys import check_choice
from solo_coss.methods.base import MethodContext, MethodKwargs, SSLMethod
from solo_coss.methods.byol import BYOL, BYOLKwargs
from solo_coss.methods.dino import DINO, DINOKwargs
from solo_coss.methods.mocov3 import MoCoV3, MoCoV3Kwargs
from solo_coss.methods.simclr import SimCLR, SimCLRKwargs

BASELINES: dict[str, type[SSLMethod]] = {"byol": BYOL, "simclr": SimCLR, "mocov3": MoCoV3, "dino": DINO}
METHODS: dict[str, type[SSLMethod]] = {**BASELINES, **{f"co_{k}": v for k, v in BASELINES.items()}}


def _own_fields(name: str) -> list[dataclasses.Field]:
    """The fields of method ``name``'s kwargs dataclass that come from method_kwargs itself (not ``co``)."""
    return [f for f in dataclasses.fields(METHODS[name].Kwargs) if f.name != "co"]


def method_kwarg_names(name: str) -> list[str]:
    """The method_kwargs keys ``name`` accepts (``co`` too for CO methods)."""
    return [f.name for f in _own_fields(name)] + (["co"] if name.startswith("co_") else [])


def resolve_method_kwargs(name: str, method_kwargs: Mapping[str, Any] | None) -> MethodKwargs:
    """The method_kwargs of method ``name`` as its typed kwargs, checked and complete, once: unknown, missing
    or mistyped keys refused naming the valid ones, solo-learn's defaults filled, and for a CO method the
    ``co`` block resolved with the method's defaults (``resolve_co``). What config resolution stores, what
    ``build_method`` takes as it is, and (``record_kwargs``) what config.json records."""
    check_choice("method", name, sorted(METHODS))
    values = dict(method_kwargs or {})
    if "co" in values and not name.startswith("co_"):
        raise ValueError(f"method {name!r} has no local term: use 'co_{name}' to use method_kwargs.co")
    check_keys(f"method_kwargs of {name!r}", values, method_kwarg_names(name))
    co = values.pop("co", None)
    missing = [f.name for f in _own_fields(name) if f.default is dataclasses.MISSING and f.name not in values]
    if missing:
        raise ValueError(f"method {name!r} needs method_kwargs {missing} (solo-learn requires them)")
    kwargs_class = METHODS[name].Kwargs
    check_fields("method_kwargs", values, kwargs_class)
    kwargs = kwargs_class(**values)
    if name.startswith("co_"):
        kwargs.co = resolve_co(name, {**record_kwargs(kwargs), "co": co})
    return kwargs


def record_kwargs(kwargs: MethodKwargs) -> dict[str, Any]:
    """The typed kwargs as config.json records them (a baseline has no ``co`` key)."""
    record = dataclasses.asdict(kwargs)
    if record["co"] is None:
        del record["co"]
    return record


def build_method(
    name: str,
    backbone: nn.Module,
    kwargs: MethodKwargs | Mapping[str, Any] | None = None,
    num_large_crops: int = 2,
    max_epochs: int | None = None,
    backbone_name: str = "",
) -> SSLMethod:
    """Build a method of the standalone host.

    Args:
        name: ``byol``, ``simclr``, ``mocov3``, ``dino`` or their CO variant (``co_byol``, ...).
        backbone: the backbone (``solo_coss.backbones.build_backbone``); the method owns it.
        kwargs: the method's typed kwargs (what config resolution stores), taken as they are; a CO method's
            ``kwargs.co`` gives its COTerm. A mapping (solo-learn's method_kwargs schema, written by hand) is
            resolved here (``resolve_method_kwargs``) instead.
        num_large_crops: views that also go through the momentum branch (from the augmentation pipelines).
        max_epochs: the run's length (DINO's teacher temperature schedule).
        backbone_name: the configured backbone name (MoCo v3's head depth follows it, as in solo-learn).

    Returns:
        The SSLMethod, with its COTerm attached for a CO method.
    """
    if not isinstance(kwargs, MethodKwargs):
        kwargs = resolve_method_kwargs(name, kwargs)
    if not isinstance(kwargs, METHODS[name].Kwargs):
        raise TypeError(f"build_method({name!r}, ...) takes a {METHODS[name].Kwargs.__name__}, got "
                        f"{type(kwargs).__name__}")
    if name.startswith("co_") != (kwargs.co is not None):
        raise ValueError(f"method {name!r} and kwargs.co={kwargs.co!r} disagree (resolve_method_kwargs)")
    method = METHODS[name](backbone, kwargs, MethodContext(num_large_crops, max_epochs, backbone_name))
    if kwargs.co is not None:
        method.attach_co_term(name, kwargs.co, backbone_name)
    return method


def register_method(name: str, cls: type[SSLMethod], co: COSpec | None = None) -> None:
    """Make a method of your own known to the standalone host (``build_method``, the configs' ``method``).

    Args:
        name: the baseline's name; with ``co``, ``co_<name>`` is registered too.
        cls: an SSLMethod subclass taking ``(backbone, kwargs, context)``; its ``Kwargs`` (a MethodKwargs
            subclass of its own) declares the method_kwargs keys and their defaults.
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
    if cls.Kwargs is MethodKwargs:
        raise ValueError(f"register_method({name!r}, ...): {cls.__name__}.Kwargs must be a MethodKwargs "
                         "subclass declaring its method_kwargs")
    BASELINES[name] = METHODS[name] = cls
    if co is not None:
        SPECS[name] = co
        METHODS[f"co_{name}"] = cls


__all__ = [
    "BASELINES",
    "BYOL",
    "DINO",
    "METHODS",
    "BYOLKwargs",
    "DINOKwargs",
    "MethodContext",
    "MethodKwargs",
    "MoCoV3",
    "MoCoV3Kwargs",
    "SSLMethod",
    "SimCLR",
    "SimCLRKwargs",
    "build_method",
    "method_kwarg_names",
    "record_kwargs",
    "register_method",
    "resolve_method_kwargs",
]

"""BYOL, SimCLR, MoCo v3, DINO and their CO variants, as plain nn.Modules (the standalone host's methods)."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from solo_coss.core import COConfig
from solo_coss.methods.base import SSLMethod
from solo_coss.methods.byol import BYOL
from solo_coss.methods.dino import DINO
from solo_coss.methods.mocov3 import MoCoV3
from solo_coss.methods.simclr import SimCLR

BASELINES: dict[str, type[SSLMethod]] = {"byol": BYOL, "simclr": SimCLR, "mocov3": MoCoV3, "dino": DINO}
METHODS: dict[str, type[SSLMethod]] = {**BASELINES, **{f"co_{k}": v for k, v in BASELINES.items()}}


def method_kwarg_names(name: str) -> list[str]:
    params = inspect.signature(METHODS[name].__init__).parameters
    return [p for p in params if p not in ("self", "backbone")]


def build_method(name: str, backbone: nn.Module, method_kwargs: dict[str, Any] | None = None) -> SSLMethod:
    """``method_kwargs`` follows solo-learn's schema; CO methods read their ``co`` sub-block."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    kwargs = dict(method_kwargs or {})
    co_block = kwargs.pop("co", None)
    if name.startswith("co_"):
        kwargs["co"] = COConfig.from_dict(co_block)
    elif co_block is not None:
        raise ValueError(f"method {name!r} has no local term: use 'co_{name}' to use method_kwargs.co")
    valid = method_kwarg_names(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown method_kwargs {unknown} for {name!r}; valid keys: {valid}")
    return METHODS[name](backbone, **kwargs)


__all__ = ["BASELINES", "BYOL", "DINO", "METHODS", "MoCoV3", "SSLMethod", "SimCLR", "build_method"]

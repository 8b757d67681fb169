"""Losses in float32 under mixed precision.

Under bf16 / fp16 autocast, matmul-like ops (einsum, mm) run in the low precision even on float32 inputs;
a loss built from normalised dot products, logits and softmaxes would then lose the small differences it is
made of. ``float32_loss`` runs the wrapped function with autocast off and its tensor arguments (also inside
lists) in float32; without autocast it changes nothing. ``upcast`` lifts half-precision tensors to float32 and
leaves float32 / float64 ones as they are (the parity checks run in float64).
"""

from __future__ import annotations

import contextlib
import functools

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


def upcast(x: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision tensors; float32 / float64 (and integer) tensors unchanged."""
    return x.float() if x.dtype in LOW_PRECISION else x


def _float(value):
    if isinstance(value, torch.Tensor):
        return upcast(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_float(v) for v in value)
    return value


def float32_loss(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        active = [d for d in ("cpu", "cuda") if torch.is_autocast_enabled(d)]
        if not active:
            return fn(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for device in active:
                stack.enter_context(torch.autocast(device_type=device, enabled=False))
            return fn(*_float(args), **{k: _float(v) for k, v in kwargs.items()})

    return wrapper

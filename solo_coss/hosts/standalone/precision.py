"""``precision: auto``: bf16 autocast where the hardware computes in bf16 natively, fp32 elsewhere."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX-BF16 (Linux /proc/cpuinfo flags)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def resolve_precision(value, accelerator: str | None = "auto") -> str | int | None:
    """Lightning's precision for ``value``; ``auto`` becomes ``bf16-mixed`` on a CUDA device with bf16 or
    a CPU with native bf16, else ``32-true`` (said in one log line). Other values pass through."""
    if value != "auto":
        return value
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator in ("auto", None) and torch.cuda.is_available())
    if on_gpu:
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16-mixed"
        log.warning("precision=auto: this GPU has no bf16; training in fp32")
        return "32-true"
    if cpu_has_native_bf16():
        return "bf16-mixed"
    log.warning("precision=auto: this CPU has no native bf16 (%s); training in fp32", " / ".join(NATIVE_BF16_FLAGS))
    return "32-true"

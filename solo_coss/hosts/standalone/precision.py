"""``precision: auto``: the precision that trained the main job fastest on this kind of hardware.

Measured per CPU kind (docs/performance.md, ``benchmarks/precision.py``), both with a channels_last model:
- native bf16 (AVX512-BF16 / AMX): bf16 autocast + channels_last, 2.6x fp32 NCHW in the Trainer;
- no native bf16 (AVX2 only, e.g. AMD Zen 3): fp32 + channels_last, 1.1-1.25x fp32 NCHW (emulated AVX2;
  1.27x on a Zen 3 core); bf16 autocast there is emulated and slower than fp32.
The layout is solo-learn's ``performance.disable_channel_last`` (default false: channels_last), which is
the fastest layout on both kinds, so ``auto`` only chooses the precision; an explicit
``disable_channel_last: true`` is honoured and named in the log line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

log = logging.getLogger(__name__)
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# oneDNN's ONEDNN_MAX_CPU_ISA values whose instruction sets have bf16 dot products (or no cap at all)
ONEDNN_BF16_ISAS = (
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "AVX10_2_512",
    "AVX10_2_512_AMX_2",
    "DEFAULT",
    "ALL",
)


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU flags of Linux /proc/cpuinfo (or of the given text); empty elsewhere."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    return flags


def bf16_blocker(cpuinfo: str | None = None, capability: str | None = None,
                 env: Mapping[str, str] | None = None) -> str | None:
    """None when torch computes bf16 natively on this CPU, else the reason it does not: no AVX512-BF16 /
    AMX-BF16 flag, torch without oneDNN, or ATen / oneDNN capped below them (``ATEN_CPU_CAPABILITY``,
    ``ONEDNN_MAX_CPU_ISA``, which is how an AVX2-only CPU is emulated)."""
    native = sorted(cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS))
    if not native:
        return f"the CPU flags list neither {' nor '.join(NATIVE_BF16_FLAGS)}"
    if not torch.backends.mkldnn.is_available():
        return "torch was built without oneDNN"
    capability = capability or torch.backends.cpu.get_cpu_capability()
    if not capability.startswith("AVX512"):
        return f"ATen's CPU capability is {capability} (ATEN_CPU_CAPABILITY), below AVX512"
    env = os.environ if env is None else env
    isa = env.get("ONEDNN_MAX_CPU_ISA") or env.get("DNNL_MAX_CPU_ISA")
    if isa and isa.upper() not in ONEDNN_BF16_ISAS:
        return f"ONEDNN_MAX_CPU_ISA={isa} caps oneDNN below bf16 dot products"
    return None


def cpu_has_native_bf16(cpuinfo: str | None = None, capability: str | None = None,
                        env: Mapping[str, str] | None = None) -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX-BF16 and neither ATen nor oneDNN is capped below."""
    return bf16_blocker(cpuinfo, capability, env) is None


def resolve_precision(
    value, accelerator: str | None = "auto", channels_last: bool = True
) -> str | int | None:
    """Lightning's precision for ``value``; ``auto`` becomes ``bf16-mixed`` on a CUDA device with bf16 or
    a CPU with native bf16, else ``32-true``, said in one log line with the layout (``channels_last``:
    ``not performance.disable_channel_last``) and why. Other values pass through."""
    if value != "auto":
        return value
    layout = (
        "a channels_last model" if channels_last else "an NCHW model (performance.disable_channel_last: true)"
    )
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator in ("auto", None) and torch.cuda.is_available())
    if on_gpu:
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            log.info("precision=auto: this GPU computes bf16 -> bf16-mixed autocast with %s", layout)
            return "bf16-mixed"
        log.warning("precision=auto: this GPU has no bf16 -> fp32 with %s", layout)
        return "32-true"
    blocker = bf16_blocker()
    if blocker is None:
        native = ", ".join(sorted(cpu_flags() & set(NATIVE_BF16_FLAGS)))
        log.info(
            "precision=auto: this CPU computes bf16 natively (%s) -> bf16-mixed autocast with %s, the "
            "fastest "
            "measured there (2.6x fp32 NCHW on the main job)",
            native,
            layout,
        )
        return "bf16-mixed"
    log.warning("precision=auto: no native bf16 on this CPU (%s) -> fp32 with %s, the fastest measured there "
                "(bf16 autocast would be emulated, slower than fp32)", blocker, layout)
    return "32-true"

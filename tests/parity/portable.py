"""Starting weights and batches of the parity cases that are the same bytes on every x86-64 CPU.

A recorded reference holds on another CPU only if everything a case starts from is computed by operations
whose result does not depend on the CPU's kernels. torch's float32 random draws are not such operations:
``randn`` / ``normal_`` (Box-Muller with vectorised log and cos), ``erfinv_`` (timm's and torch's
``trunc_normal_``), ``uniform_`` with bounds (``xavier_uniform_``, ``kaiming_*``) round differently with
AVX-512, AVX2 or no vector kernels, and MKL and the vector-math libraries pick other code paths on AMD CPUs
than on Intel ones. A ViT initialised by ``trunc_normal_`` started ~1e-10 apart on an AMD EPYC and an Intel
Xeon, and the float64 training carried that into every recorded value beyond the 1e-9 tolerance.

What is exact everywhere: integer draws of a CPU ``torch.Generator`` (``randint``: a serial Mersenne twister)
and IEEE arithmetic (+, -, *, / and casts are correctly rounded in every kernel, vectorised or not). So the
cases start from a model built as usual (its law is what ``init_law`` compares with solo-learn's) whose
random tensors are then drawn again from integers: uniform, with the tensor's own standard deviation
rounded to two significant digits and its mean to three of the larger of the two. Rounding makes the scale
independent of the ~1e-10 by which the built tensor differs between CPUs; a value too close to a rounding
boundary is refused, so no CPU can round it the other way. Constant tensors (BatchNorm's ones and zeros,
DINO's centre) are exact already and kept; a tensor that starts as a copy of another (a momentum network)
stays a copy.
"""

from __future__ import annotations

import hashlib
import math

import torch

BITS = 24  # integer draws in [0, 2^24): the float64 mapping below is exact
# Distance to a rounding boundary refused, in rounding steps. A step is at least 1/1000 of the value rounded,
# so this holds against CPUs whose built tensors differ by up to 1e-9 relative (seen: 3e-10).
MARGIN = 1e-6


def unit_uniform(shape, generator: torch.Generator) -> torch.Tensor:
    """float64 values of mean 0 and standard deviation 1 (uniform on ±sqrt(3)), from integers only."""
    k = torch.randint(0, 2**BITS, tuple(shape), generator=generator, dtype=torch.int64).double()
    centred = (k * 2 + 1) / 2**BITS - 1  # odd multiples of 2^-24 in (-1, 1), exactly
    return centred * math.sqrt(3.0)


def rounded(x: float, digits: int, at_least: float, what: str) -> float:
    """``x`` rounded to ``digits`` significant digits of the larger of |x| and ``at_least``, refusing an ``x``
    within MARGIN steps of a rounding boundary. Near a power of ten the grids of both decades hold that power,
    so a CPU whose ``x`` lies across it rounds to the same value. Steps come from decimal strings (exact
    conversions in every Python), not from libm's pow and log10."""
    exponent = int(format(max(abs(x), at_least), "e").split("e")[1])
    step = float(f"1e{exponent - digits + 1}")
    steps = x / step
    if abs(abs(steps - math.floor(steps)) - 0.5) < MARGIN:
        raise ValueError(
            f"{what}={x!r} is within {MARGIN:g} steps of {step:g} of a rounding boundary: another "
            "CPU could round it the other way; change the case's seed"
        )
    return round(steps) * step


def restart_portably(module: torch.nn.Module, seed: int) -> None:
    """Draws every random floating entry of ``module``'s state again from integers (see the module docstring),
    in place; constants and copies keep their structure."""
    generator = torch.Generator().manual_seed(seed)
    drawn: dict[tuple, torch.Tensor] = {}  # (shape, bytes digest of the built tensor) -> its new values
    with torch.no_grad():
        for name, value in module.state_dict().items():
            if not value.is_floating_point() or value.numel() == 0:
                continue
            flat = value.detach().flatten()
            if bool((flat == flat[0]).all()):
                continue
            key = (
                tuple(value.shape),
                hashlib.sha256(value.detach().cpu().contiguous().numpy().tobytes()).digest(),
            )
            if key not in drawn:
                v = flat.double()
                mean, std = float(v.mean()), float(v.std(unbiased=False))
                std_r = rounded(std, 2, 0.0, f"{name} std")
                mean_r = rounded(mean, 3, std_r, f"{name} mean")
                drawn[key] = unit_uniform(value.shape, generator) * std_r + mean_r
            value.copy_(drawn[key].to(value.dtype))


def portable_views(batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """A float32 batch of images with pixels of mean 0 and standard deviation 1, from integers only."""
    return unit_uniform((batch, 3, size, size), generator).float()

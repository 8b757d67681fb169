"""Training-step time in float32 vs bf16 autocast + channels_last on CPU, measured in one run.

    python benchmarks/precision.py [--batch 128] [--repeats 6] [--warmup 2] [--threads 2]

Speed-ups are fp32 time / bf16 time, the median of the per-repeat ratios; "bf16 NCHW" is autocast without
channels_last, to show what the memory format adds. One step = CO-BYOL / BYOL loss of two views (online + momentum networks, local term for CO-BYOL),
backward, SGD step. Both variants start from the same weights and see the same views; their steps
alternate, so a change of machine load hits both alike; the ratio is the median of the per-repeat ratios.
bf16 is skipped, and the script says why, when the CPU has neither avx512_bf16 nor amx_bf16.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from solo_coss.backbones import build_backbone
from solo_coss.methods import build_method

HALF_WIDTH = {"widths": [32, 64, 128, 256]}
# (label, backbone name, kwargs, image size): the main job's network first
CASES = {
    "rf29_resnet18-half@32": ("rf29_resnet18", HALF_WIDTH, 32),
    "rf29_resnet18@32": ("rf29_resnet18", {}, 32),
    "resnet18@64": ("resnet18", {}, 64),
    "resnet18@32": ("resnet18", {}, 32),
}
HEADS = {"proj_hidden_dim": 1024, "proj_output_dim": 128, "pred_hidden_dim": 1024}  # the Fashion-MNIST configs


def cpu_bf16_support() -> tuple[bool, str]:
    """(supported, reason): native bf16 dot products (AVX512-BF16 or AMX-BF16) and oneDNN present."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if not torch.backends.mkldnn.is_available():
        return False, "torch was built without oneDNN (torch.backends.mkldnn unavailable)"
    if not native:
        return False, "the CPU flags list neither avx512_bf16 nor amx_bf16 (bf16 would be emulated, slower)"
    return True, f"CPU flags {', '.join(native)}; oneDNN available"


def build(method: str, backbone: str, kwargs: dict, channels_last: bool, template=None):
    if template is None:
        torch.manual_seed(0)
        model = build_method(method, build_backbone(backbone, **kwargs), dict(HEADS))
    else:
        model = copy.deepcopy(template)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    return model, opt


def step(model, opt, views, bf16: bool) -> float:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model.training_loss(views, 0.5)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if not torch.isfinite(loss):
        raise RuntimeError(f"non-finite loss {loss.item()} ({'bf16' if bf16 else 'fp32'})")
    return time.perf_counter() - start


def compare(method: str, case: str, batch: int, repeats: int, warmup: int, bf16: bool):
    """Median s/step of fp32, bf16 + channels_last and bf16 in NCHW, and the medians of the paired
    fp32/bf16 ratios (NaN when bf16 is skipped)."""
    backbone, kwargs, size = CASES[case]
    gen = torch.Generator().manual_seed(0)
    views = [torch.randn(batch, 3, size, size, generator=gen) for _ in range(2)]
    views_cl = [v.contiguous(memory_format=torch.channels_last) for v in views]
    fp32 = build(method, backbone, kwargs, channels_last=False)
    variants = [(fp32, views, False)]
    if bf16:
        variants += [(build(method, backbone, kwargs, True, template=fp32[0]), views_cl, True),
                     (build(method, backbone, kwargs, False, template=fp32[0]), views, True)]
    times: list[list[float]] = [[] for _ in variants]
    for i in range(warmup + repeats):
        for t, (run, v, low) in zip(times, variants):
            elapsed = step(*run, v, bf16=low)
            if i >= warmup:
                t.append(elapsed)
    nan = float("nan")
    medians = [statistics.median(t) for t in times] + [nan] * (3 - len(times))
    ratios = [statistics.median(a / b for a, b in zip(times[0], t)) for t in times[1:]] + [nan] * (3 - len(times))
    return medians, ratios


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128, help="images per view (the main job: 128)")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--methods", nargs="+", default=["co_byol", "byol"])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16, reason = cpu_bf16_support()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} x 2 views, "
          f"median of {args.repeats} (warm-up {args.warmup} excluded)")
    print(f"bf16: {'measured' if bf16 else 'SKIPPED'} ({reason})")
    print("| backbone @ px | method | fp32 s/step | bf16 + channels_last s/step | speed-up | bf16 NCHW s/step | "
          "speed-up |")
    print("|---|---|---|---|---|---|---|")
    for case in args.cases:
        for method in args.methods:
            (t32, tcl, tnchw), (rcl, rnchw) = compare(method, case, args.batch, args.repeats, args.warmup, bf16)
            print(f"| {case} | {method} | {t32:.3f} | {tcl:.3f} | {rcl:.2f}x | {tnchw:.3f} | {rnchw:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

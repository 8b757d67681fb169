"""Training-step time per precision and memory layout on this CPU, measured in one run.

    python benchmarks/precision.py [--batch 128] [--repeats 6] [--warmup 2] [--threads 2] [--compile]

Rows: fp32 NCHW, fp32 channels_last, bf16 autocast + channels_last, bf16 NCHW, and with ``--compile`` the
layout ``precision: auto`` picks here under ``torch.compile`` (its first step, the compilation, printed;
``--compile-only`` times only auto's layout, eager against compiled). For a cold, one-process compile time set
``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 TORCHINDUCTOR_COMPILE_THREADS=1``: the CPU seconds printed then
count the whole compilation, the C++ compiler included. bf16 rows are skipped,
with the reason, on a CPU without native bf16 (or with ATen / oneDNN capped below it: set
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` to emulate an AVX2-only CPU such as AMD Zen 3).
One step = CO-BYOL / BYOL loss of two views (online + momentum networks, local term for CO-BYOL),
backward, SGD step. Every variant starts from the same weights and sees the same views; their steps
alternate, so a change of machine load hits all alike; speed-ups are the medians of the per-repeat ratios
to fp32 NCHW.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import time
from dataclasses import dataclass

import step_time
import torch

from solo_coss.backbones import build_backbone
from solo_coss.hosts.standalone.precision import bf16_blocker
from solo_coss.methods import build_method

HALF_WIDTH = {"widths": [32, 64, 128, 256]}
# label -> (backbone name, kwargs, image size): the main job's network first
CASES = {
    "rf29_resnet18-half@32": ("rf29_resnet18", HALF_WIDTH, 32),
    "rf29_resnet18@32": ("rf29_resnet18", {}, 32),
    "resnet18@64": ("resnet18", {}, 64),
    "resnet18@32": ("resnet18", {}, 32),
}
# the Fashion-MNIST configs
HEADS = {"proj_hidden_dim": 1024, "proj_output_dim": 128, "pred_hidden_dim": 1024}


@dataclass(frozen=True)
class Variant:
    name: str
    bf16: bool
    channels_last: bool
    compiled: bool = False


VARIANTS = (Variant("fp32 NCHW", False, False), Variant("fp32 channels_last", False, True),
            Variant("bf16 + channels_last", True, True), Variant("bf16 NCHW", True, False))


def build(method: str, backbone: str, kwargs: dict, variant: Variant, template=None):
    if template is None:
        torch.manual_seed(0)
        model = build_method(method, build_backbone(backbone, **kwargs), dict(HEADS))
    else:
        model = copy.deepcopy(template)
    model.channels_last = variant.channels_last
    if variant.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    loss_fn = torch.compile(model.training_loss) if variant.compiled else model.training_loss
    return model, opt, loss_fn


def step(run, views, bf16: bool) -> float:
    _, opt, loss_fn = run
    start = step_time.clock()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = loss_fn(views, 0)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if not torch.isfinite(loss):
        raise RuntimeError(f"non-finite loss {loss.item()}")
    return step_time.clock() - start


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the C++ compiler runs inductor spawns)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def compare(method: str, case: str, variants: list[Variant], batch: int, repeats: int, warmup: int):
    """Median s/step per variant, median paired ratio to the first variant, and each variant's first step
    (wall seconds, CPU seconds): its compilation when compiled."""
    backbone, kwargs, size = CASES[case]
    gen = torch.Generator().manual_seed(0)
    views = [torch.randn(batch, 3, size, size, generator=gen) for _ in range(2)]
    first = build(method, backbone, kwargs, variants[0])
    runs = [first] + [build(method, backbone, kwargs, v, template=first[0]) for v in variants[1:]]
    times: list[list[float]] = [[] for _ in variants]
    first_steps = []
    for i in range(warmup + repeats):
        for t, run, variant in zip(times, runs, variants):
            start = time.perf_counter(), cpu_seconds()
            t.append(step(run, views, variant.bf16))
            if i == 0:
                first_steps.append((time.perf_counter() - start[0], cpu_seconds() - start[1]))
    timed = [t[warmup:] for t in times]
    medians = [statistics.median(t) for t in timed]
    ratios = [statistics.median(a / b for a, b in zip(timed[0], t)) for t in timed]
    return medians, ratios, first_steps


def auto_variant(blocker: str | None) -> Variant:
    """What ``precision: auto`` (with solo-learn's default layout, channels_last) trains with here."""
    return Variant("auto", blocker is None, True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=128, help="images per view (the main job: 128)")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--methods", nargs="+", default=["co_byol", "byol"])
    parser.add_argument("--compile", action="store_true",
                        help="add auto's variant under torch.compile (default mode; compiling takes minutes)")
    parser.add_argument("--compile-only", action="store_true",
                        help="with --compile: only auto's variant, eager against compiled (ratios to eager)")
    step_time.add_timing_options(parser)
    args = parser.parse_args(argv)
    step_time.apply_timing_options(args)
    blocker = bf16_blocker()
    variants = [v for v in VARIANTS if blocker is None or not v.bf16]
    auto = auto_variant(blocker)
    auto_name = next(v.name for v in VARIANTS if (v.bf16, v.channels_last) == (auto.bf16, auto.channels_last))
    if args.compile:
        if args.compile_only:
            variants = [v for v in variants if v.name == auto_name]
        variants.append(Variant(f"{auto_name}, compiled", auto.bf16, auto.channels_last, compiled=True))
    print(f"torch {torch.__version__}, ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads, batch {args.batch} x 2 views, median of {args.repeats} "
          f"(warm-up {args.warmup} excluded), {args.clock} clock")
    print(
        f"bf16: {'measured (native)' if blocker is None else f'SKIPPED ({blocker}; emulated bf16 is slower)'}"
    )
    print(f"precision: auto picks here: {auto_name}")
    first = variants[0].name
    print("| backbone @ px | method | " + " | ".join(f"{v.name} s/step | vs {first}" for v in variants[1:])
          + f" | {first} s/step |" + (" compiling step: wall s / CPU s |" if args.compile else ""))
    print("|---|---|" + "---|---|" * (len(variants) - 1) + "---|" + ("---|" if args.compile else ""))
    for case in args.cases:
        for method in args.methods:
            medians, ratios, firsts = compare(method, case, variants, args.batch, args.repeats, args.warmup)
            cells = " | ".join(f"{t:.3f} | {r:.2f}x" for t, r in zip(medians[1:], ratios[1:]))
            extra = f" {firsts[-1][0]:.0f} / {firsts[-1][1]:.0f} |" if args.compile else ""
            print(f"| {case} | {method} | {cells} | {medians[0]:.3f} |{extra}", flush=True)


if __name__ == "__main__":
    main()

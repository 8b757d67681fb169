"""Where CO-BYOL's extra time over BYOL goes, against its FLOPs: a profile of the local term at the main job's
size.

    python benchmarks/local_term_profile.py [--case main-job] [--repeats 5] [--threads 1] [--precision auto]

1. Whole steps of BYOL and CO-BYOL (same weights, same views, alternating): time ratio and FLOPs ratio.
2. The local term alone (COTerm forward + backward on the maps of one step, the backbone excluded), profiled
   by op kind (GEMMs of the local heads, BatchNorm, ReLU, the loss's normalisations and the rest), with the
   GFLOP/s each reaches, against the GFLOP/s of the BYOL step (mostly the backbone's convolutions).
If the local term's GEMMs run at least as fast per FLOP as the backbone, the time ratio cannot go below
the FLOPs ratio without changing the maths (fewer positions, smaller heads).
"""

from __future__ import annotations

import argparse
import statistics

import step_time
import torch
from step_time import CASES, build, compare, make_views, resolve_bf16, step_flops, train_step
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

KINDS = {  # profiler op name -> kind
    "aten::mm": "GEMM", "aten::addmm": "GEMM", "aten::bmm": "GEMM",
    "aten::native_batch_norm": "BatchNorm", "aten::native_batch_norm_backward": "BatchNorm",
    "aten::_batch_norm_with_update": "BatchNorm", "aten::batch_norm_backward": "BatchNorm",
    "aten::clamp_min_": "ReLU", "aten::clamp_min": "ReLU", "aten::threshold_backward": "ReLU",
    "aten::relu_": "ReLU", "aten::relu": "ReLU",
}


def local_term_inputs(model, views, bf16: bool):
    """The online maps (as leaves that take a gradient) and the target maps of one step."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        online = [model.encode(model.backbone, v)[1] for v in views]
        target = [model.encode(model.momentum_backbone, v)[1] for v in views]
    return [m.detach().requires_grad_() for m in online], target


def local_step(term, online, target, bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = term(online, target)
    loss.backward()


def op_times(fn, repeats: int) -> dict[str, float]:
    """Self seconds per kind, per call of fn, as the profiler sees them (wall time inside each op)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
    kinds: dict[str, float] = {}
    for event in prof.key_averages():
        if event.key.startswith(("autograd::", "Optimizer")) or event.self_cpu_time_total <= 0:
            continue
        kind = KINDS.get(event.key, "other")
        kinds[kind] = kinds.get(kind, 0.0) + event.self_cpu_time_total / 1e6 / repeats
    return kinds


def flops_by_kind(fn) -> tuple[int, int]:
    """(GEMM FLOPs, all FLOPs) of one call of fn."""
    with FlopCounterMode(display=False) as counter:
        fn()
    per_op = counter.get_flop_counts()["Global"]
    gemm = sum(v for op, v in per_op.items() if str(op).split(".")[1] in ("mm", "addmm", "bmm"))
    return gemm, counter.get_total_flops()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="main-job", choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", default="auto", help="auto (as precision: auto), fp32 or bf16")
    step_time.add_timing_options(parser)
    args = parser.parse_args(argv)
    step_time.apply_timing_options(args)
    case = CASES[args.case]
    bf16 = resolve_bf16(args.precision, "cpu")
    print(f"{args.case}: {case.backbone} {case.backbone_kwargs} @ {case.size}px, batch {case.batch}, heads "
          f"{case.heads['proj_hidden_dim']}/{case.heads['proj_output_dim']}; {'bf16' if bf16 else 'fp32'} + "
          f"channels_last, {torch.get_num_threads()} threads, ATen {torch.backends.cpu.get_cpu_capability()}")

    whole = compare("byol", case, "cpu", bf16, args.repeats, args.warmup)
    print(f"\n1. whole step: BYOL {whole['base_s']:.3f} s, CO-BYOL {whole['co_s']:.3f} s, time ratio "
          f"{whole['ratio']:.3f} (median of paired ratios), FLOPs ratio {whole['flops_ratio']:.3f}")

    model, _ = build("co_byol", case, "cpu")
    views = make_views(case, "cpu")
    online, target = local_term_inputs(model, views, bf16)
    term = model.co_term
    run = lambda: local_step(term, online, target, bf16)  # noqa: E731
    gemm_flops, all_flops = flops_by_kind(run)
    byol, opt = build("byol", case, "cpu")
    byol_flops = step_flops(byol, opt, views, bf16)
    for _ in range(args.warmup):
        run()
        train_step(byol, opt, views, bf16)
    times = []
    for _ in range(args.repeats):
        start = step_time.clock()
        run()
        times.append(step_time.clock() - start)
    byol_times = []
    for _ in range(args.repeats):
        start = step_time.clock()
        train_step(byol, opt, views, bf16)
        byol_times.append(step_time.clock() - start)
    local_s, byol_s = statistics.median(times), statistics.median(byol_times)
    kinds = op_times(run, args.repeats)
    total = sum(kinds.values())
    print(f"\n2. the local term alone (forward + backward of COTerm on one step's maps): {local_s:.3f} s = "
          f"{local_s / byol_s:.3f} of a BYOL step ({byol_s:.3f} s, measured just after); "
          f"{all_flops / 1e9:.2f} GFLOPs = {all_flops / byol_flops:.3f} of BYOL's {byol_flops / 1e9:.1f}")
    print(f"BYOL step: {byol_flops / byol_s / 1e9:.0f} GFLOP/s overall")
    print("By op kind: the profile's shares of the local term, applied to its measured time above:")
    print("| op kind | share | s per step | GFLOP/s |\n|---|---|---|---|")
    for kind in ("GEMM", "BatchNorm", "ReLU", "other"):
        share = kinds.get(kind, 0.0) / total
        rate = f"{gemm_flops / (share * local_s) / 1e9:.0f}" if kind == "GEMM" and share else "-"
        print(f"| {kind} | {100 * share:.0f} % | {share * local_s:.4f} | {rate} |")


if __name__ == "__main__":
    main()

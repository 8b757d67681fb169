"""Training-step time of each CO method over its baseline, measured in one run, with two FLOPs ratios beside
it: the whole steps' and the local heads' over the backbone's.

    python benchmarks/step_time.py [--cases main-job resnet18@64 ...] [--pairs byol simclr] [--repeats 10]
                                   [--precision auto|fp32|bf16] [--threads N] [--clock wall|cpu]
    python benchmarks/step_time.py --backbones vit_tiny convnext_tiny [--size 64] [--batch 64]
    python benchmarks/step_time.py --configs imagenet-100/dino_vit.yaml imagenet-100/mocov3_vit.yaml --size
    112

Rows: the named ``--cases`` (default: all of CASES, the main job's network first), or every ``--backbones``
name x baseline at ``--size`` / ``--batch`` with generic heads (2048 hidden, 256 out; DINO 4096 prototypes),
or shipped baseline configs (``--configs``) against their ``co_`` twins (heads, co block and backbone of the
YAMLs). ViTs are built for the image size (img_size) with 16 px patches.
Same process, same batch, warm-up excluded, baseline and CO steps alternating, median of the per-repeat
ratios. A step: loss of two views (online + momentum networks), backward, SGD step. The model is
channels_last; ``--precision auto`` is what the host's ``precision: auto`` picks: bf16 autocast on a CUDA GPU
or a CPU with native bf16, fp32 elsewhere. FLOPs (torch.utils.flop_counter): the step FLOPs ratio counts the
matmuls and convolutions of one whole step, forward and backward, and is the floor the time ratio would have
if every FLOP cost the same; the heads / backbone ratio counts the forward of one image, the local heads
(every position of the local map, plus the target projection) against the backbone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from solo_coss.backbones import build_backbone
from solo_coss.hosts.standalone.config import backbone_from_config, load_config, to_plain
from solo_coss.methods import build_method

CONFIGS = Path(__file__).resolve().parents[1] / "scripts" / "pretrain"
PAIRS = (("byol", "co_byol"), ("simclr", "co_simclr"), ("mocov3", "co_mocov3"), ("dino", "co_dino"))
HEADS = {"proj_hidden_dim": 2048, "proj_output_dim": 256, "pred_hidden_dim": 2048, "num_prototypes": 4096}
# scripts/pretrain/fashion-mnist/*.yaml (tests/test_benchmarks.py checks these against the configs)
FASHION_MNIST_HEADS = {"proj_hidden_dim": 1024, "proj_output_dim": 128, "pred_hidden_dim": 1024,
                       "num_prototypes": 1024}


@dataclass(frozen=True)
class Case:
    backbone: str
    size: int
    batch: int
    heads: dict = field(default_factory=lambda: dict(HEADS))
    backbone_kwargs: dict = field(default_factory=dict)
    # a baseline YAML under scripts/pretrain: models from it and its co_ twin instead
    config: str | None = None


CASES = {
    # the main job: scripts/pretrain/fashion-mnist (rf29_resnet18 at half width, 32 px, batch 128)
    "main-job": Case("rf29_resnet18", 32, 128, dict(FASHION_MNIST_HEADS), {"widths": [32, 64, 128, 256]}),
    "resnet18@64": Case("resnet18", 64, 64),
    "rf29_resnet18@64": Case("rf29_resnet18", 64, 64),
    "vit_tiny@64": Case("vit_tiny", 64, 64),
    "convnext_tiny@64": Case("convnext_tiny", 64, 64),
}


def method_kwargs(name: str, heads: dict) -> dict:
    """The heads of ``heads`` that method ``name`` takes (a predictor for BYOL / MoCo v3, prototypes for
    DINO), with ``heads[<base method>]``'s sizes where a method differs, plus the temperature SimCLR and MoCo
    v3 require (0.2, as the configs)."""
    base = name.removeprefix("co_")
    sizes = {**heads, **heads.get(base, {})}
    keep = ["proj_hidden_dim", "proj_output_dim"]
    keep += ["num_prototypes"] if base == "dino" else [] if base == "simclr" else ["pred_hidden_dim"]
    kwargs = {k: sizes[k] for k in keep}
    if base in ("simclr", "mocov3"):
        kwargs["temperature"] = 0.2
    return kwargs


def resolve_bf16(precision: str, device: str) -> bool:
    """bf16 autocast for ``precision`` (auto | fp32 | bf16) on ``device``; ValueError naming the choices."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"--precision={precision!r}; choose from ['auto', 'fp32', 'bf16']")
    if precision != "auto":
        return precision == "bf16"
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    from solo_coss.hosts.standalone.precision import cpu_has_native_bf16

    return cpu_has_native_bf16()


def config_method(case: Case) -> str:
    """The baseline method of a ``config`` case."""
    return to_plain(load_config(str((CONFIGS / case.config).parent), Path(case.config).name))["method"]


def build_model(name: str, case: Case):
    """Method ``name`` (a baseline or its co_ variant) for ``case``, from the seed 0."""
    if case.config:
        path = CONFIGS / case.config
        path = path.with_name(f"co_{path.name}") if name.startswith("co_") else path
        cfg = to_plain(load_config(str(path.parent), path.name))
        if cfg["backbone"]["name"].startswith("vit"):
            cfg["backbone"]["kwargs"] = {**(cfg["backbone"].get("kwargs") or {}), "img_size": case.size}
        torch.manual_seed(0)
        return build_method(cfg["method"], backbone_from_config(cfg), cfg.get("method_kwargs"),
                            max_epochs=cfg.get("max_epochs"), backbone_name=cfg["backbone"]["name"])
    kwargs = {"img_size": case.size} if case.backbone.startswith("vit") else {}
    torch.manual_seed(0)
    backbone = build_backbone(case.backbone, method=name, **{**kwargs, **case.backbone_kwargs})
    return build_method(name, backbone, method_kwargs(name, case.heads), backbone_name=case.backbone)


def build(name: str, case: Case, device: str):
    model = build_model(name, case).to(device).to(memory_format=torch.channels_last)
    model.channels_last = True
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    return model, opt


def train_step(model, opt, views, bf16: bool) -> torch.Tensor:
    device = views[0].device.type
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        loss = model.training_loss(views, 0)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    model.after_backward(0)
    opt.step()
    return loss.detach()


# wall: time.perf_counter; cpu: the process's CPU time, which on an oversubscribed machine (more runnable
# threads than cores) leaves out the time spent waiting for a core; with one torch thread it is the step's
# own compute time (cache and memory-bandwidth sharing still count)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def set_clock(name: str) -> None:
    global clock
    if name not in CLOCKS:
        raise ValueError(f"--clock={name!r}; choose from {list(CLOCKS)}")
    clock = CLOCKS[name]


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """--threads and --clock, shared by the benchmark scripts."""
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--clock", default="wall", choices=list(CLOCKS),
                        help="cpu: process CPU time (use with --threads 1 on a shared machine)")


def apply_timing_options(args, device: str = "cpu") -> None:
    """Sets the clock (the wall clock on a GPU, whose work the CPU time does not see) and torch's threads."""
    set_clock(args.clock if device == "cpu" else "wall")
    if args.threads:
        torch.set_num_threads(args.threads)


def timed_step(model, opt, views, bf16: bool) -> float:
    cuda = views[0].is_cuda
    if cuda:
        torch.cuda.synchronize()
    start = clock()
    loss = train_step(model, opt, views, bf16)
    if cuda:
        torch.cuda.synchronize()
    if not torch.isfinite(loss):
        raise RuntimeError(f"non-finite loss {loss.item()} ({type(model).__name__})")
    return clock() - start


def count_flops(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def step_flops(model, opt, views, bf16: bool) -> int:
    return count_flops(train_step, model, opt, views, bf16)


@torch.no_grad()
def heads_flops_ratio(co_model, size: int) -> tuple[str, float]:
    """(local map size, local heads' forward FLOPs / backbone's), per image."""
    backbone, term = co_model.backbone.eval(), co_model.co_term.eval()
    x = torch.zeros(2, 3, size, size, device=next(backbone.parameters()).device)
    fmap = backbone.global_and_local(x, co_model.co_stage)[1]
    f_backbone = count_flops(backbone, x)
    f_heads = count_flops(term.local_embeddings, fmap) + count_flops(term.global_target, fmap)
    backbone.train(), term.train()
    return f"{fmap.shape[-2]}x{fmap.shape[-1]}", f_heads / f_backbone


def make_views(case: Case, device: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.rand(case.batch, 3, case.size, case.size, generator=gen).to(device) for _ in range(2)]


def compare(base: str, case: Case, device: str, bf16: bool, repeats: int, warmup: int) -> dict:
    """Steps of the baseline and its CO variant alternate, so a change of machine load hits both alike.
    Returns median s/step of each, the median of the per-repeat CO / baseline ratios, the step FLOPs ratio,
    and the local map with the local heads' FLOPs over the backbone's."""
    views = make_views(case, device)
    runs = [build(base, case, device), build(f"co_{base}", case, device)]
    flops = [step_flops(*run, views, bf16) for run in runs]
    side, heads = heads_flops_ratio(runs[1][0], case.size)
    t_base, t_co = [], []
    for i in range(warmup + repeats):
        a, b = (timed_step(*run, views, bf16) for run in runs)
        if i >= warmup:
            t_base.append(a)
            t_co.append(b)
    return {
        "base_s": statistics.median(t_base),
        "co_s": statistics.median(t_co),
        "ratio": statistics.median(b / a for a, b in zip(t_base, t_co)),
        "flops_ratio": flops[1] / flops[0],
        "local_map": side,
        "heads_flops_ratio": heads,
    }


def describe(case: Case) -> str:
    if case.config:
        return f"{case.config} @ {case.size}px, batch {case.batch}"
    width = f" {case.backbone_kwargs}" if case.backbone_kwargs else ""
    return (
        f"{case.backbone}{width} @ {case.size}px, batch {case.batch}, heads {case.heads['proj_hidden_dim']}/"
        f"{case.heads['proj_output_dim']}"
    )


def rows(args) -> list[tuple[str, str, Case]]:
    """(label, baseline, case) for every row asked for."""
    if args.configs:
        cases = [(rel, Case("", args.size, args.batch, config=rel)) for rel in args.configs]
        return [(label, config_method(case), case) for label, case in cases]
    if args.backbones:
        cases = [(name, Case(name, args.size, args.batch)) for name in args.backbones]
    else:
        cases = [(label, CASES[label]) for label in args.cases]
        if args.size or args.batch:  # --size / --batch resize the named cases too
            cases = [(label, replace(case, size=args.size or case.size, batch=args.batch or case.batch))
                     for label, case in cases]
    return [(label, base, case) for label, case in cases for base in args.pairs]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--backbones", nargs="+", default=None,
                        help="instead of --cases: these backbones at --size / --batch with generic heads")
    parser.add_argument("--configs", nargs="+", default=None,
                        help="instead of --cases: baseline configs under scripts/pretrain (e.g. "
                             "imagenet-100/dino_vit.yaml), each measured against its co_ twin")
    parser.add_argument(
        "--pairs",
        nargs="+",
        default=[b for b, _ in PAIRS[:2]],
        choices=[b for b, _ in PAIRS],
        help="baselines to compare with their CO variant",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="image size (default: the case's; 64 otherwise)"
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="batch per view (default: the case's; 64 otherwise)"
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", default="auto", help="auto (as precision: auto), fp32 or bf16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_timing_options(parser)
    args = parser.parse_args(argv)
    if args.backbones or args.configs:
        args.size, args.batch = args.size or 64, args.batch or 64
    apply_timing_options(args, args.device)
    bf16 = resolve_bf16(args.precision, args.device)
    print(
        f"device={args.device} threads={torch.get_num_threads()} {'bf16 autocast' if bf16 else 'fp32'} + "
        f"channels_last, repeats={args.repeats} (median, warm-up {args.warmup} excluded), {args.clock} clock"
    )
    print("| case | baseline | local map | local heads / backbone FLOPs | baseline s/step | CO s/step | "
          "CO / baseline (median of paired ratios) | step FLOPs ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for label, base, case in rows(args):
        r = compare(base, case, args.device, bf16, args.repeats, args.warmup)
        print(
            f"| {label}: {describe(case)} | {base} | {r['local_map']} | {r['heads_flops_ratio']:.3f} | "
            f"{r['base_s']:.4f} | {r['co_s']:.4f} | {r['ratio']:.3f} | {r['flops_ratio']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

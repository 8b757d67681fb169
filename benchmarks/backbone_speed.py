"""Forward time and activation memory of each RF-ResNet against its torchvision parent, in one run.

    python benchmarks/backbone_speed.py [--sizes 64 224] [--batch 8] [--repeats 5]

Median forward time (eval mode, no grad, warm-up excluded; parent and variant alternate so a change of
machine load hits both alike). Memory: on CUDA the peak allocated during a training-mode forward; on CPU
the sum of all module outputs of a training-mode forward (what autograd keeps for the backward pass).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from solo_coss.backbones import VARIANTS, build_backbone

PARENT = {"basic": "resnet18", "bottleneck": "resnet50"}


def forward_time(model, x) -> float:
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        model(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def activation_mb(model, x) -> float:
    model.train()
    if x.is_cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        model(x)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    total = 0

    def hook(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    model(x)
    for h in handles:
        h.remove()
    return total / 2**20


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=sorted(VARIANTS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    print(f"device={args.device} threads={torch.get_num_threads()} batch={args.batch}")
    print(
        "| variant | parent | size | variant ms | parent ms | time ratio | variant act. MB | parent act. MB "
        "| memory ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.variants:
        parent_name = PARENT[VARIANTS[name]["block"]]
        variant, parent = (build_backbone(n).to(args.device).eval() for n in (name, parent_name))
        for size in args.sizes:
            x = torch.rand(args.batch, 3, size, size, device=args.device)
            tv, tp = [], []
            for i in range(args.repeats + 1):
                a, b = forward_time(variant, x), forward_time(parent, x)
                if i:
                    tv.append(a)
                    tp.append(b)
            mv, mp = activation_mb(variant, x), activation_mb(parent, x)
            v, p = statistics.median(tv) * 1e3, statistics.median(tp) * 1e3
            print(
                f"| {name} | {parent_name} | {size} | {v:.1f} | {p:.1f} | {v / p:.2f} | {mv:.0f} | {mp:.0f} "
                "| "
                f"{mv / mp:.2f} |",
                flush=True,
            )
            variant.eval()
            parent.eval()


if __name__ == "__main__":
    main()

"""Training-step time of each CO method over its baseline, measured in one run.

    python benchmarks/step_time.py [--batch 64] [--size 64] [--repeats 10] [--backbones resnet18 rf29_resnet18]

Same process, same batch, warm-up excluded, baseline and CO steps alternating, median of repeats. On a GPU it runs channels_last with
bf16 autocast (``--device cuda``); on CPU in float32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from solo_coss.backbones import build_backbone
from solo_coss.methods import build_method

PAIRS = (("byol", "co_byol"), ("simclr", "co_simclr"), ("mocov3", "co_mocov3"), ("dino", "co_dino"))
HEADS = dict(proj_hidden_dim=2048, proj_output_dim=256)


def method_kwargs(name: str) -> dict:
    kwargs = dict(HEADS)
    if "dino" in name:
        kwargs["num_prototypes"] = 4096
    elif "simclr" not in name:
        kwargs["pred_hidden_dim"] = 2048
    return kwargs


def build(name: str, backbone: str, device: str):
    torch.manual_seed(0)
    model = build_method(name, build_backbone(backbone), method_kwargs(name)).to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    return model, opt


def timed_step(model, opt, views, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        loss = model.training_loss(views, 0.5)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(base: str, backbone: str, views, device: str, repeats: int, warmup: int):
    """Steps of the baseline and its CO variant alternate, so a change of machine load hits both alike.
    Returns (median baseline s/step, median CO s/step, median of the per-repeat ratios)."""
    runs = [build(base, backbone, device), build(f"co_{base}", backbone, device)]
    t_base, t_co = [], []
    for i in range(warmup + repeats):
        a, b = (timed_step(m, o, views, device) for m, o in runs)
        if i >= warmup:
            t_base.append(a)
            t_co.append(b)
    ratio = statistics.median(b / a for a, b in zip(t_base, t_co))
    return statistics.median(t_base), statistics.median(t_co), ratio


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "rf29_resnet18"])
    parser.add_argument("--pairs", nargs="+", default=[b for b, _ in PAIRS[:2]],
                        help="baselines to compare with their CO variant")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    views = [torch.rand(args.batch, 3, args.size, args.size, device=args.device) for _ in range(2)]
    if args.device == "cuda":
        views = [v.contiguous(memory_format=torch.channels_last) for v in views]
    print(f"device={args.device} threads={torch.get_num_threads()} batch={args.batch} size={args.size} "
          f"repeats={args.repeats} (median, warm-up {args.warmup} excluded)")
    print("| backbone | baseline | baseline s/step | CO s/step | CO / baseline (median of paired ratios) |")
    print("|---|---|---|---|---|")
    for backbone in args.backbones:
        for base in args.pairs:
            t_base, t_co, ratio = compare(base, backbone, views, args.device, args.repeats, args.warmup)
            print(f"| {backbone} | {base} | {t_base:.4f} | {t_co:.4f} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""Training-step time of each CO method over its baseline, and the local heads' FLOPs over the backbone's,
measured in one run.

    python benchmarks/step_time.py [--batch 64] [--size 64] [--repeats 10] [--backbones resnet18 vit_tiny convnext_tiny]
    python benchmarks/step_time.py --configs imagenet-100/dino_vit.yaml imagenet-100/mocov3_vit.yaml --size 112

Rows: every backbone x baseline with generic heads (2048 hidden, 256 out; DINO 4096 prototypes); ViTs are
built for ``--size`` (img_size) with 16 px patches. ``--configs`` measures shipped baseline configs
against their ``co_`` twins instead (heads, co block and backbone of the YAMLs; img_size set to ``--size``).
Same process, same batch, warm-up excluded, baseline and CO steps alternating, median of the paired
ratios. FLOPs: torch.utils.flop_counter, forward of one image: the local heads (every position of the
local map, plus the target projection) against the backbone. On a GPU it runs channels_last with bf16
autocast (``--device cuda``); on CPU in float32.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from solo_coss.backbones import build_backbone
from solo_coss.hosts.standalone.config import backbone_from_config, load_config, to_plain
from solo_coss.methods import build_method

CONFIGS = Path(__file__).resolve().parents[1] / "scripts" / "pretrain"
PAIRS = (("byol", "co_byol"), ("simclr", "co_simclr"), ("mocov3", "co_mocov3"), ("dino", "co_dino"))
HEADS = dict(proj_hidden_dim=2048, proj_output_dim=256)


def method_kwargs(name: str) -> dict:
    kwargs = dict(HEADS)
    if "dino" in name:
        kwargs["num_prototypes"] = 4096
    elif "simclr" not in name:
        kwargs["pred_hidden_dim"] = 2048
    if "simclr" in name or "mocov3" in name:
        kwargs["temperature"] = 0.2
    return kwargs


def backbone_kwargs(backbone: str, size: int) -> dict:
    return {"img_size": size} if backbone.startswith("vit") else {}


def build_generic(name: str, backbone: str, size: int):
    torch.manual_seed(0)
    return build_method(name, build_backbone(backbone, method=name, **backbone_kwargs(backbone, size)),
                        method_kwargs(name), backbone_name=backbone)


def build_from_config(path: Path, size: int):
    cfg = to_plain(load_config(str(path.parent), path.name))
    if cfg["backbone"]["name"].startswith("vit"):
        cfg["backbone"]["kwargs"] = {**(cfg["backbone"].get("kwargs") or {}), "img_size": size}
    torch.manual_seed(0)
    return build_method(cfg["method"], backbone_from_config(cfg), cfg.get("method_kwargs"),
                        max_epochs=cfg.get("max_epochs"), backbone_name=cfg["backbone"]["name"])


def with_optimizer(model, device: str):
    model = model.to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)


def timed_step(model, opt, views, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        loss = model.training_loss(views, 0)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    model.after_backward(0)
    opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def count(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


@torch.no_grad()
def flops_ratio(co_model, size: int) -> tuple[str, float]:
    """(local map size, local heads' forward FLOPs / backbone's), per image."""
    backbone, term = co_model.backbone.eval(), co_model.co_term.eval()
    x = torch.zeros(2, 3, size, size)
    fmap = backbone.global_and_local(x, co_model.co_stage)[1]
    f_backbone = count(backbone, x)
    f_heads = count(term.local_embeddings, fmap) + count(term.global_target, fmap)
    backbone.train(), term.train()
    return f"{fmap.shape[-2]}x{fmap.shape[-1]}", f_heads / f_backbone


def compare(models, views, device: str, repeats: int, warmup: int):
    """Steps of the baseline and its CO variant alternate, so a change of machine load hits both alike.
    Returns (median baseline s/step, median CO s/step, median of the per-repeat ratios)."""
    runs = [with_optimizer(m, device) for m in models]
    t_base, t_co = [], []
    for i in range(warmup + repeats):
        a, b = (timed_step(m, o, views, device) for m, o in runs)
        if i >= warmup:
            t_base.append(a)
            t_co.append(b)
    ratio = statistics.median(b / a for a, b in zip(t_base, t_co))
    return statistics.median(t_base), statistics.median(t_co), ratio


def rows(args):
    """(label, baseline, baseline model, CO model) for every row asked for."""
    if args.configs:
        for rel in args.configs:
            path = CONFIGS / rel
            base, co = build_from_config(path, args.size), build_from_config(path.with_name(f"co_{path.name}"), args.size)
            yield rel, type(base).__name__.lower(), base, co
        return
    for backbone in args.backbones:
        for base in args.pairs:
            yield backbone, base, build_generic(base, backbone, args.size), build_generic(f"co_{base}", backbone,
                                                                                          args.size)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "rf29_resnet18", "vit_tiny", "convnext_tiny"])
    parser.add_argument("--pairs", nargs="+", default=[b for b, _ in PAIRS[:2]],
                        help="baselines to compare with their CO variant")
    parser.add_argument("--configs", nargs="+", default=None,
                        help="baseline configs under scripts/pretrain (e.g. imagenet-100/dino_vit.yaml), each "
                             "measured against its co_ twin")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    views = [torch.rand(args.batch, 3, args.size, args.size, device=args.device) for _ in range(2)]
    if args.device == "cuda":
        views = [v.contiguous(memory_format=torch.channels_last) for v in views]
    print(f"device={args.device} threads={torch.get_num_threads()} batch={args.batch} size={args.size} "
          f"repeats={args.repeats} (median, warm-up {args.warmup} excluded)")
    print("| backbone | baseline | local map | local heads / backbone FLOPs | baseline s/step | CO s/step | "
          "CO / baseline (median of paired ratios) |")
    print("|---|---|---|---|---|---|---|")
    for label, base, base_model, co_model in rows(args):
        side, flops = flops_ratio(co_model, args.size)
        t_base, t_co, ratio = compare([base_model, co_model], views, args.device, args.repeats, args.warmup)
        print(f"| {label} | {base} | {side} | {flops:.3f} | {t_base:.4f} | {t_co:.4f} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""FLOPs of the CO-SSL local heads against the backbone: the physical floor of CO-SSL's overhead.

    python benchmarks/flops.py [--size 64] [--backbones resnet18 rf29_resnet18]

Counted with torch.utils.flop_counter (matmuls and convolutions, forward pass, one image).
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from solo_coss.backbones import build_backbone
from solo_coss.core import COConfig, COTerm


def count(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "rf29_resnet18", "rf99_resnet50"])
    parser.add_argument("--proj-hidden", type=int, default=4096)
    parser.add_argument("--proj-out", type=int, default=256)
    args = parser.parse_args(argv)
    print(f"forward GFLOPs per image at {args.size}px; local heads = projector + predictor on every position "
          f"(hidden {args.proj_hidden}, out {args.proj_out}) + the target projection of the pooled map")
    print("| backbone | map | backbone GFLOPs | local heads GFLOPs | heads / backbone |")
    print("|---|---|---|---|---|")
    for name in args.backbones:
        backbone = build_backbone(name).eval()
        x = torch.zeros(2, 3, args.size, args.size)
        with torch.no_grad():
            fmap = backbone.forward_features(x)
            cfg = COConfig().with_defaults(proj_hidden_dim=args.proj_hidden, proj_output_dim=args.proj_out,
                                           pred_hidden_dim=args.proj_hidden)
            term = COTerm(backbone.num_features, cfg, "byol", momentum=True).eval()
            f_backbone = count(backbone.forward_features, x) / 2
            f_heads = (count(term.local_embeddings, fmap) + count(term.global_target, fmap)) / 2
        side = fmap.shape[-1]
        print(f"| {name} | {side}x{side} | {f_backbone / 1e9:.3f} | {f_heads / 1e9:.3f} | "
              f"{f_heads / f_backbone:.3f} |")


if __name__ == "__main__":
    main()

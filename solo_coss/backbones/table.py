"""Print the backbone table of the README: RF, parameters and local-map size per input size.

    python -m solo_coss.backbones.table
"""

from __future__ import annotations

import torch

from solo_coss.backbones import build_backbone, list_backbones
from solo_coss.backbones.receptive_field import empirical_receptive_field, total_stride


def rows(sizes=(32, 64, 224), measure: bool = True):
    for name in list_backbones():
        model = build_backbone(name).eval()
        params = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            maps = [model.forward_features(torch.zeros(1, 3, s, s)).shape[-1] for s in sizes]
        measured = empirical_receptive_field(model) if measure else None
        yield name, model.receptive_field, measured, total_stride(model), params, model.num_features, maps


def main() -> None:
    sizes = (32, 64, 224)
    print("| backbone | RF (layers) | RF (measured) | stride | params (M) | features | "
          + " | ".join(f"map @{s}px" for s in sizes) + " |")
    print("|---" * (6 + len(sizes)) + "|")
    for name, rf, measured, stride, params, feats, maps in rows(sizes):
        print(f"| {name} | {rf} | {measured} | {stride} | {params / 1e6:.2f} | {feats} | "
              + " | ".join(f"{m}x{m}" for m in maps) + " |", flush=True)


if __name__ == "__main__":
    main()

"""Print the backbone tables of the README: RF, parameters and local-map size per input size.

    python -m solo_coss.backbones.table             # RF-ResNets and torchvision's ResNets
    python -m solo_coss.backbones.table --families  # the smallest of each solo-learn family
"""

from __future__ import annotations

import argparse

import torch

from solo_coss.backbones import VARIANTS, build_backbone
from solo_coss.backbones.receptive_field import empirical_receptive_field, total_stride
from solo_coss.backbones.torchvision_resnet import TORCHVISION_RESNETS

SMALLEST = ("wide_resnet28w2", "vit_micro", "vit_tiny", "swin_tiny", "convnext_tiny", "poolformer_s12")


def sized_kwargs(name: str, size: int) -> dict:
    """What a family needs to run at ``size`` px: a ViT's img_size (4 px patches at 32 px, else 16), a
    Swin's."""
    if name.startswith("vit"):
        return {"img_size": size, "patch_size": 4 if size <= 32 else 16}
    return {"img_size": size} if name.startswith("swin") else {}


def rows(sizes=(32, 64, 224), measure: bool = True):
    for name in [*sorted(VARIANTS), *TORCHVISION_RESNETS]:
        model = build_backbone(name).eval()
        params = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            maps = [model.forward_features(torch.zeros(1, 3, s, s)).shape[-1] for s in sizes]
        measured = empirical_receptive_field(model) if measure else None
        yield name, model.receptive_field, measured, total_stride(model), params, model.num_features, maps


def family_rows(sizes=(32, 224)):
    """(name, family, RF at the largest size, params (M), features, [C x h x w at each size])."""
    for name in SMALLEST:
        shapes, model = [], None
        for s in sizes:
            model = build_backbone(name, **sized_kwargs(name, s)).eval()
            with torch.no_grad():
                shapes.append("x".join(map(str, model.forward_features(torch.zeros(1, 3, s, s)).shape[1:])))
        params = sum(p.numel() for p in model.parameters()) / 1e6
        yield name, model.family, model.receptive_field, params, model.num_features, shapes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--families", action="store_true", help="solo-learn's families instead of the ResNets"
    )
    args = parser.parse_args(argv)
    if args.families:
        sizes = (32, 224)
        print(
            "| backbone | family | RF | params (M) | features | "
            + " | ".join(f"map @{s}px" for s in sizes)
            + " |"
        )
        print("|---" * (5 + len(sizes)) + "|")
        for name, family, rf, params, feats, shapes in family_rows(sizes):
            print(
                f"| {name} | {family} | {rf} | {params:.2f} | {feats} | " + " | ".join(shapes) + " |",
                flush=True,
            )
        return
    sizes = (32, 64, 224)
    print("| backbone | RF (layers) | RF (measured) | stride | params (M) | features | "
          + " | ".join(f"map @{s}px" for s in sizes) + " |")
    print("|---" * (6 + len(sizes)) + "|")
    for name, rf, measured, stride, params, feats, maps in rows(sizes):
        print(f"| {name} | {rf} | {measured} | {stride} | {params / 1e6:.2f} | {feats} | "
              + " | ".join(f"{m}x{m}" for m in maps) + " |", flush=True)


if __name__ == "__main__":
    main()

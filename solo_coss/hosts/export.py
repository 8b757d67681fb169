"""solo-coss-export: a run's backbone (either host) as a weights file timm loads, ``FILE.safetensors`` under
the keys of its timm twin, + ``FILE.json`` (the twin and a pretrained_cfg with the run's preprocessing; see
solo_coss.backbones.exported and docs/export.md).

    solo-coss-export trained_models/co_byol-fashion-mnist --out co_byol.safetensors
    solo-coss-export RUN --out model.safetensors --head RUN/linear_head.pt   # with the linear classifier
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from solo_coss.hosts.errors import one_line_errors


def run_preprocessing(cfg: dict[str, Any], in_chans: int) -> dict[str, Any]:
    """timm's pretrained_cfg entries for the run's evaluation: the large-crop size, the normalisation the
    run trained with (the dataset's, or the first pipeline's own mean / std), and the linear evaluation's
    validation resize (bilinear; squashed on 32 px sets and STL-10, center-cropped at 0.875 otherwise)."""
    from solo_coss.data.datasets import canonical_name, dataset_stats
    from solo_coss.data.transforms import linear_eval_resize

    dataset = canonical_name(cfg["data"]["dataset"])
    first = cfg["augmentations"][0]  # solo-learn's rule: the first pipeline's crop is the large one
    mean, std = dataset_stats(dataset)
    mean, std = first.get("mean") or mean, first.get("std") or std
    if len(mean) != in_chans and len(set(mean)) == len(set(std)) == 1:  # grey statistics repeated per channel
        mean, std = mean[:1] * in_chans, std[:1] * in_chans
    size = int(first["crop_size"])
    crop_mode, crop_pct = linear_eval_resize(dataset)
    return {"input_size": [in_chans, size, size], "mean": list(mean), "std": list(std),
            "interpolation": "bilinear", "crop_pct": crop_pct, "crop_mode": crop_mode}


def export_run(run: str | Path, out: str | Path, head: str | Path | None = None) -> tuple[Path, Path]:
    from solo_coss.backbones.exported import save_backbone
    from solo_coss.core.keys import naming
    from solo_coss.hosts.pretrained import checkpoint_of, load_linear, load_pretrained
    from solo_coss.hosts.standalone.config import backbone_spec

    with naming("run", str(run)):
        if head is None:
            (backbone, cfg), classifier = load_pretrained(run), None
        else:
            backbone, classifier, cfg = load_linear(head, pretrained=run)
    name, kwargs = backbone_spec(cfg)
    source = {"run": str(checkpoint_of(run)), "method": cfg.get("method"), "dataset": cfg["data"]["dataset"],
              "receptive_field": getattr(backbone, "receptive_field", None),
              **({"head": str(head)} if head is not None else {})}
    preprocessing = run_preprocessing(cfg, backbone.in_chans)
    return save_backbone(backbone, name, kwargs, out, source, preprocessing, classifier)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="solo-coss-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder or checkpoint of either host")
    parser.add_argument(
        "--out", required=True, help="the .safetensors file to write (its .json goes beside it)"
    )
    parser.add_argument("--head", help="a linear head of this run (solo-coss-linear's linear_head.pt), "
                                       "exported as the timm model's classifier")
    args = parser.parse_args(argv)
    with one_line_errors("solo-coss-export"):
        weights, spec = export_run(args.run, args.out, args.head)
    print(f"backbone weights: {weights}\nits timm model and pretrained_cfg: {spec}")


if __name__ == "__main__":
    main()

"""solo-coss-export: a run's backbone (either host) as a plain weights file for downstream code,
``FILE.safetensors`` + ``FILE.json`` (build_backbone's name and kwargs; see solo_coss.backbones.exported).

    solo-coss-export trained_models/co_byol-fashion-mnist --out co_byol.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from solo_coss.hosts.errors import one_line_errors


def export_run(run: str | Path, out: str | Path, torchvision_keys: bool = False) -> tuple[Path, Path]:
    from solo_coss.backbones.exported import save_backbone
    from solo_coss.core.keys import naming
    from solo_coss.hosts.pretrained import checkpoint_of, load_pretrained
    from solo_coss.hosts.standalone.config import backbone_spec

    with naming("run", str(run)):
        backbone, cfg = load_pretrained(run)
    name, kwargs = backbone_spec(cfg)
    source = {"run": str(checkpoint_of(run)), "method": cfg.get("method"), "dataset": cfg["data"]["dataset"],
              "receptive_field": getattr(backbone, "receptive_field", None)}
    return save_backbone(backbone, name, kwargs, out, source, keys="torchvision" if torchvision_keys else "solo-coss")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="solo-coss-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder or checkpoint of either host")
    parser.add_argument("--out", required=True, help="the .safetensors file to write (its .json goes beside it)")
    parser.add_argument("--torchvision-keys", action="store_true",
                        help="torchvision ResNets (ImageNet stem): torchvision's key names, for torchvision.models")
    args = parser.parse_args(argv)
    with one_line_errors("solo-coss-export"):
        weights, spec = export_run(args.run, args.out, args.torchvision_keys)
    print(f"backbone weights: {weights}\nits name and kwargs: {spec}")


if __name__ == "__main__":
    main()

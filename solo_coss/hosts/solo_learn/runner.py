"""Running solo-learn's own main_pretrain.py / main_linear.py with our methods and backbones registered."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from solo_coss.hosts.overrides import quote_values
from solo_coss.hosts.solo_learn.register import INSTALL_HINT, register, require_solo

SCRIPTS = {"pretrain": "main_pretrain.py", "linear": "main_linear.py", "knn": "main_knn.py"}


def solo_root() -> Path:
    """$SOLO_LEARN_ROOT, else the checkout an editable install points at (parent of the solo package)."""
    if os.environ.get("SOLO_LEARN_ROOT"):
        root = Path(os.environ["SOLO_LEARN_ROOT"]).expanduser()
    else:
        solo = require_solo()
        root = Path(solo.__file__).resolve().parents[2]
    if not (root / "main_pretrain.py").is_file():
        raise ValueError(f"no main_pretrain.py in {root}: solo-learn must be an editable checkout "
                         f"(or set SOLO_LEARN_ROOT). {INSTALL_HINT}")
    return root


def absolute_config_path(argv: list[str]) -> list[str]:
    """solo resolves a relative --config-path against its own root: make ours absolute first."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--config-path" and i + 1 < len(out):
            out[i + 1] = str(Path(out[i + 1]).expanduser().resolve())
        elif arg.startswith("--config-path="):
            out[i] = "--config-path=" + str(Path(arg.split("=", 1)[1]).expanduser().resolve())
    return out


def safe_overrides(argv: list[str]) -> list[str]:
    """Overrides that solo-learn and Hydra take as meant: an integer device count (devices=1) becomes the
    string "1" (solo takes len(cfg.devices); Lightning reads "1" as one device), and a value holding "="
    is quoted."""
    out = []
    for arg in quote_values(argv):
        key, sep, value = arg.partition("=")
        if sep and not arg.startswith("-") and key == "devices" and value.isdigit():
            arg = f"devices='{value}'"
        out.append(arg)
    return out


def run(kind: str, argv: list[str]) -> None:
    """Register, then execute solo-learn's script for ``kind`` (pretrain, linear; knn needs a GPU)."""
    if kind not in SCRIPTS:
        raise ValueError(f"unknown solo-learn entry {kind!r}; choose from {list(SCRIPTS)}")
    if kind == "knn":
        raise ValueError("solo-learn's main_knn.py calls .cuda() and needs a GPU; on CPU run the standalone "
                         "host's solo-coss-knn with pretrained_feature_extractor=<the solo-learn .ckpt> (it reads "
                         "solo-learn checkpoints and their args.json)")
    register()
    root = solo_root()
    os.environ.setdefault("SOLO_LEARN_ROOT", str(root))  # our YAMLs find solo's config groups through it
    script = root / SCRIPTS[kind]
    old_argv = sys.argv
    sys.argv = [str(script), *safe_overrides(absolute_config_path(argv))]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = old_argv

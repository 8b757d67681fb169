"""Running solo-learn's own main_pretrain.py / main_linear.py with our methods and backbones registered."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from solo_coss.core.keys import check_choice
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


def option(argv: list[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in argv."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def refuse_standalone_only_keys(argv: list[str]) -> None:
    """solo-learn ignores keys it does not read; ``performance.compile`` (a standalone-host key) would be
    silently dropped there, so it is refused."""
    from solo_coss.hosts.standalone.config import load_config

    path, name = option(argv, "--config-path"), option(argv, "--config-name")
    if not (path and name):
        return
    overrides = [a for a in argv if not a.startswith("-") and "=" in a]
    performance = load_config(path, name, overrides).get("performance") or {}
    if performance.get("compile"):
        raise ValueError(f"performance.compile={performance.get('compile')!r} is a standalone-host key: the "
                         "solo-learn host cannot honour it; remove it (or run --host standalone)")


def run(kind: str, argv: list[str]) -> None:
    """Register, then execute solo-learn's script for ``kind`` (pretrain, linear; knn needs a GPU)."""
    check_choice("solo-learn entry", kind, SCRIPTS)
    if kind == "knn":
        raise ValueError(
            "solo-learn's main_knn.py calls .cuda() and needs a GPU; on CPU run the standalone "
            "host's solo-coss-knn with pretrained_feature_extractor=<the solo-learn .ckpt> (it reads "
            "solo-learn checkpoints and their args.json)"
        )
    register()
    root = solo_root()
    os.environ.setdefault("SOLO_LEARN_ROOT", str(root))  # our YAMLs find solo's config groups through it
    script = root / SCRIPTS[kind]
    old_argv = sys.argv
    argv = safe_overrides(absolute_config_path(argv))
    if kind == "pretrain":
        refuse_standalone_only_keys(argv)
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = old_argv

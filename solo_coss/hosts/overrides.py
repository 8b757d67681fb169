"""Hydra overrides as users type them: a value holding "=" (solo-learn's checkpoint names end in
``-ep=9.ckpt``) is quoted, so Hydra's parser reads it as one value instead of failing."""

from __future__ import annotations


def quote_values(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and not arg.startswith("-") and "=" in value and value[:1] not in "'\"":
            arg = f"{key}='{value}'"
        out.append(arg)
    return out

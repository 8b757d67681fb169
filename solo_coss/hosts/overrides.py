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


def checked_overrides(parser, extra: list[str]) -> list[str]:
    """The Hydra overrides ``parser.parse_known_args`` left over: an unknown ``--option`` is a parser error
    (not a Hydra one), and values holding "=" are quoted."""
    bad = [o for o in extra if o.startswith("-")]
    if bad:
        parser.error(f"unknown option(s) {bad}; overrides are written key=value")
    return quote_values(extra)

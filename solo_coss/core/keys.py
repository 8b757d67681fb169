"""The checks every config block goes through, so that every unknown-key and bad-choice error reads alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_keys(where: str, given: Iterable[Any], valid: Iterable[str]) -> None:
    """Refuse keys of ``given`` that are not in ``valid``.

    Args:
        where: the block, as the user writes it (``optimizer``, ``method_kwargs.co``, ``the config``).
        given: the keys the user wrote.
        valid: the keys the block accepts.

    Raises:
        ValueError: ``unknown key(s) [...] in <where>; valid keys: [...]``.
    """
    valid = sorted(valid)
    unknown = sorted(set(map(str, given)) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; valid keys: {valid}")


def check_choice(key: str, value: Any, choices: Iterable[Any]) -> None:
    """Refuse ``value`` unless it is one of ``choices``: ``<key>=<value> is not valid; choose from [...]``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{key}={value!r} is not valid; choose from {choices}")

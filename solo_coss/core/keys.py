"""The one place a bad value becomes an error: every unknown key, bad choice, wrong type or out-of-range value
of the package is refused here, in one line that names the key, the value and what is accepted
(``refuse``), e.g. ``optimizer.lr='abc' is not valid; give a number`` or ``unknown key(s) ['wieght'] in
method_kwargs.co; valid keys: [...]``. The console scripts print that line (``hosts/errors.py``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, NoReturn, Union


class BadValueError(ValueError):
    """A value the user gave (a config key, an option, a file) that cannot be used; a one-line message."""


def refuse(key: str, value: Any, accepted: str) -> NoReturn:
    """Raise ``<key>=<value> is not valid; <accepted>``.

    Args:
        key: what the user wrote, as they write it (``optimizer.lr``, ``--out``,
            ``pretrained_feature_extractor``).
        value: the value given (shown with repr, so a string is quoted).
        accepted: what would be accepted, or why this value is not (``give a number``).
    """
    raise BadValueError(f"{key}={value!r} is not valid; {accepted}")


@contextmanager
def naming(key: str, value: Any) -> Iterator[None]:
    """A ValueError or OSError raised in the block because of ``value`` (a path the user gave: a checkpoint, a
    run folder) is refused as ``<key>=<value> is not valid; <its message>``, so the line says which key."""
    try:
        yield
    except (ValueError, OSError) as err:
        text = " ".join(str(err).split())
        if text.startswith(f"{key}="):
            raise
        text = text.removeprefix(f"{value} is ")  # "x.ckpt is not a readable checkpoint: ..." -> "not a ..."
        raise BadValueError(f"{key}={value!r} is not valid; {text}") from err


def check_keys(where: str, given: Iterable[Any], valid: Iterable[str]) -> None:
    """Refuse keys of ``given`` that are not in ``valid``.

    Args:
        where: the block, as the user writes it (``optimizer``, ``method_kwargs.co``, ``the config``).
        given: the keys the user wrote.
        valid: the keys the block accepts.

    Raises:
        BadValueError: ``unknown key(s) [...] in <where>; valid keys: [...]``.
    """
    valid = sorted(valid)
    unknown = sorted(set(map(str, given)) - set(valid))
    if unknown:
        raise BadValueError(f"unknown key(s) {unknown} in {where}; valid keys: {valid}")


def check_choice(key: str, value: Any, choices: Iterable[Any]) -> None:
    """Refuse ``value`` unless it is one of ``choices``, listing them."""
    choices = list(choices)
    # 1 == True in Python, not in a config
    if not any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in choices):
        refuse(key, value, f"choose from {choices}")


# What a schema field of each type accepts, as the error says it.
KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
         dict: "a mapping (key: value)"}


def is_kind(value: Any, kind: type) -> bool:
    """Whether ``value`` is of ``kind`` as a config means it: an int is a number, a bool is neither."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_positive(key: str, value: Any, kind: type = int, what: str = "") -> None:
    """Refuse ``value`` unless it is a positive ``kind`` (int: the count of something; float: a size)."""
    if not is_kind(value, kind) or not value > 0:
        refuse(key, value, f"give a positive {'integer' if kind is int else 'number'}{what}")


def _members(hint: Any) -> list[Any]:
    """A type annotation as the list of what it allows: plain classes, Literal values, None, or Any."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _members(arg)]
    if origin is Literal:
        return [("literal", v) for v in typing.get_args(hint)]
    if hint is type(None) or hint is None:
        return [None]
    if origin is not None:  # list[int], dict[str, Any], tuple[...]: the container
        return [list if origin in (list, tuple) else origin]
    return [hint]


def _allows(member: Any, value: Any) -> bool:
    if member is Any:
        return True
    if member is None:
        return value is None
    if isinstance(member, tuple):  # a Literal value: 32 and "32" differ, True is not 1
        return type(value) is type(member[1]) and value == member[1]
    if dataclasses.is_dataclass(member):  # a section, checked key by key where it is filled
        return isinstance(value, dict)
    if member in KINDS:
        return is_kind(value, member) or (member is list and isinstance(value, tuple))
    return isinstance(value, member) if isinstance(member, type) else True


def check_annotated(key: str, value: Any, hint: Any) -> None:
    """Refuse ``value`` unless the annotation ``hint`` allows it (``int | None``, ``Literal[...]``, ...)."""
    members = _members(hint)
    if any(_allows(m, value) for m in members):
        return
    kinds = [KINDS[dict if dataclasses.is_dataclass(m) else m] for m in members
             if not isinstance(m, tuple) and (m in KINDS or dataclasses.is_dataclass(m))]
    literals = [m[1] for m in members if isinstance(m, tuple)]
    accepted = kinds + ([f"one of {literals}"] if literals else []) + (["null"] if None in members else [])
    refuse(key, value, "give " + " or ".join(dict.fromkeys(accepted)))


def check_fields(where: str, values: dict[str, Any], schema: Any,
                 hints: dict[str, Any] | None = None) -> None:
    """Check every value of ``values`` whose key ``schema`` (a dataclass, or any annotated callable)
    annotates (or ``hints`` gives); the key is named ``<where>.<key>`` (``<key>`` when ``where`` is empty)."""
    hints = typing.get_type_hints(schema) if hints is None else hints
    for key, value in values.items():
        if key in hints:
            check_annotated(f"{where}.{key}" if where else str(key), value, hints[key])

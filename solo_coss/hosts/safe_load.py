"""Reading checkpoints without running code they carry.

torch.load(weights_only=True) builds only tensors, plain containers and allow-listed classes, so a
checkpoint someone shared cannot import and call code. Our own checkpoints (Lightning's last.ckpt,
linear_head.pt) need nothing beyond torch's defaults; allowed on top: the omegaconf classes of a DictConfig
that a Hydra-configured Lightning module keeps in hyper_parameters (solo-learn 1.0.6 stores none: its config
is in args.json, but other versions and forks do).
"""

from __future__ import annotations

import collections
import pickle
import typing
import zipfile
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig
from omegaconf.base import ContainerMetadata, Metadata
from omegaconf.nodes import AnyNode, BooleanNode, FloatNode, IntegerNode, StringNode


def _dict_for_defaultdict(default_factory=None) -> dict:
    """Unpickled in place of collections.defaultdict: the weights-only unpickler fills plain dicts only."""
    return {}


# A DictConfig pickles its nodes, their metadata and the key / element types they record (Any, int, ...);
# each container's metadata holds a resolver cache, a defaultdict(dict) (Hydra's `now` fills the root's).
OMEGACONF_CLASSES = [DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, BooleanNode, FloatNode,
                     IntegerNode, StringNode, typing.Any, dict, list, tuple, int, float, str, bool]
ALLOWED = [*OMEGACONF_CLASSES, (_dict_for_defaultdict, "collections.defaultdict")]


class UnsafeCheckpointError(ValueError):
    """A checkpoint that refers to code: classes or functions outside the allow-list."""


def safe_load(path: str | Path, map_location: Any = "cpu") -> Any:
    """torch.load(path, weights_only=True) with the omegaconf classes allowed.

    FileNotFoundError for a missing file, UnsafeCheckpointError naming the file and the code it refers to,
    ValueError for a file that is no torch checkpoint (saying what it is instead: ``unreadable``)."""
    path = Path(path)
    if not path.is_file():
        latest = path.parent / "latest" / path.name
        hint = f" (runs live in <name>/<id>/: did you mean {latest}?)" if latest.is_file() else ""
        raise FileNotFoundError(f"checkpoint not found: {path}{hint}")
    problem = unreadable(path)
    if problem:
        raise ValueError(f"{path} is not a readable checkpoint: {problem}")
    try:
        with torch.serialization.safe_globals(ALLOWED):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        code = _code_references(path)
        if code:
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it refers to {', '.join(code)}, code that unpickling would import "
                "and may run; only tensors, plain containers and omegaconf configs are loaded. Load it with "
                "torch.load(..., weights_only=False) yourself only if you trust where it comes from"
            ) from None
        raise ValueError(f"{path} is not a readable checkpoint: torch cannot unpickle it "
                         f"({_first_sentence(err)})") from err
    except Exception as err:  # a damaged archive, or a file of another program
        raise ValueError(f"{path} is not a readable checkpoint: torch cannot read it "
                         f"({_first_sentence(err)})") from err
    _restore_resolver_caches(checkpoint)
    return checkpoint


def unreadable(path: str | Path) -> str | None:
    """What makes ``path`` no torch checkpoint, from its size and first bytes (without reading it all):
    empty, a text file, a zip archive whose end is missing (a torch checkpoint is a zip archive, and one cut
    short loses its directory, which sits at the end), or another kind of file; None when it looks like
    one."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return "an empty file (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            return (f"cut short ({size} bytes of a zip archive, which a torch checkpoint is, whose end is "
                    "missing: an interrupted copy or download?)")
        return None
    if head.startswith(b"\x80"):  # a pickle: torch's legacy (non-zip) format
        return None
    text = head.decode("utf-8", errors="replace")
    if all(c.isprintable() or c in "\n\r\t" for c in text):
        return f"a text file (it starts with {' '.join(text.split())[:40]!r})"
    return f"not a file torch writes (it starts with the bytes {head[:8].hex(' ')})"


def _first_sentence(err: Exception) -> str:
    """torch's message up to its first sentence end (its weights_only explanations run for paragraphs)."""
    text = " ".join(str(err).split())
    end = text.find(". ")
    return text[:end + 1] if 0 < end < 300 else text[:300]


def _code_references(path: Path) -> list[str]:
    """The globals named in the checkpoint's pickle that are neither torch's defaults nor allowed here."""
    allowed = {
        f"{c.__module__}.{getattr(c, '__qualname__', getattr(c, '_name', ''))}" for c in OMEGACONF_CLASSES
    }
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: torch's message is all there is
        return []
    return sorted(set(found) - allowed - {"collections.defaultdict"})


def _restore_resolver_caches(obj: Any) -> None:
    """Give every omegaconf container in ``obj`` its resolver cache back as a defaultdict(dict)."""
    if isinstance(obj, (DictConfig, ListConfig)):
        meta = obj.__dict__["_metadata"]
        meta.resolver_cache = collections.defaultdict(dict, meta.resolver_cache)
        content = obj.__dict__["_content"]
        children = (
            content.values() if isinstance(content, dict) else content if isinstance(content, list) else ()
        )
        for child in children:
            _restore_resolver_caches(child)
    elif isinstance(obj, dict):
        for value in obj.values():
            _restore_resolver_caches(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _restore_resolver_caches(value)

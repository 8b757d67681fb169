"""The fenced code blocks of README.md and docs/**/*.md, with the marker that says who runs them.

A block in a command language (``COMMAND_LANGUAGES``) is preceded, on the line directly above its fence, by
``<!-- run-by: tests/<file>.py::<test> -->`` (that test reads the block with ``run_by``) or by
``<!-- not-run: <reason> -->``. Output shown for a command goes in a ``text`` block right after it
(``Block.output``). docs/testing.md documents the convention; tests/test_docs.py enforces it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND_LANGUAGES = ("bash", "sh", "shell", "console", "python", "pycon")
MARKER = re.compile(r"^<!--\s*(run-by|not-run):\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(\s*)(`{3,})(.*)$")


@dataclass
class Block:
    page: str          # relative to the repository root
    line: int          # 1-based line of the opening fence
    language: str      # "" when the fence names none
    code: str
    marker: str | None = None   # "run-by" | "not-run" | None
    argument: str = ""          # the test id, or the reason
    output: str | None = None   # the text block right after it, if any
    end: int = 0                # 0-based index of the line after the closing fence

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse(path: Path) -> list[Block]:
    lines = path.read_text().split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks, language = opening.group(1), opening.group(2), opening.group(3).strip()
        end = i + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        code = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:end])
        above = MARKER.match(lines[i - 1].strip()) if i > 0 else None
        block = Block(str(path.relative_to(ROOT)), i + 1, language, code + "\n",
                      above.group(1) if above else None, above.group(2) if above else "")
        if blocks and blocks[-1].language in COMMAND_LANGUAGES and language == "text" and \
                all(not line.strip() for line in lines[blocks[-1].end:i]):
            blocks[-1].output = block.code
        block.end = end + 1
        blocks.append(block)
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for page in pages() for b in parse(page)]


def run_by(request) -> list[Block]:
    """The blocks whose marker names the calling test (``request`` is pytest's fixture); at least one."""
    test_id = f"{Path(request.node.path).relative_to(ROOT)}::{request.node.originalname}"
    found = [b for b in all_blocks() if b.marker == "run-by" and b.argument == test_id]
    assert found, f"no block of README.md or docs/ is marked <!-- run-by: {test_id} -->"
    return found


def commands(block: Block) -> list[str]:
    """The command lines of a bash or console block: continuations joined, comments and prompts dropped;
    a console block's lines without a ``$`` prompt are output."""
    out, pending = [], ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if block.language == "console":
            if not line.startswith("$ ") and not pending:
                continue
            line = line.removeprefix("$ ")
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        words = shlex.split(line, comments=True)
        if words:
            out.append(line)
    return out


def console_output(block: Block) -> list[str]:
    """What a console block shows after its commands (the lines without a ``$`` prompt)."""
    return [line for line in block.code.splitlines() if line and not line.startswith("$ ")]


def console_scripts() -> dict[str, str]:
    """setup.cfg's console scripts: name -> "module:function"."""
    text = (ROOT / "setup.cfg").read_text().split("console_scripts =", 1)[1]
    found = {}
    for line in text.splitlines()[1:]:
        if not line.startswith((" ", "\t")) or "=" not in line:
            break
        name, target = (part.strip() for part in line.split("=", 1))
        found[name] = target
    return found


def run_console_script(command: str) -> None:
    """A ``solo-coss-*`` command line (or ``.venv/bin/solo-coss-*``) run in this process, as its console
    script runs it: the function setup.cfg names, called with the arguments."""
    import importlib

    words = shlex.split(command)
    name = Path(words[0]).name
    module, function = console_scripts()[name].split(":")
    getattr(importlib.import_module(module), function)(words[1:])

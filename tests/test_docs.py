"""Documented commands cannot rot: every command block of README.md and docs/ is run by a named test or marked
as not run with a reason (docs/testing.md, "Executed docs"); the README stays short and its links resolve."""

import ast
import re
import shlex
from pathlib import Path

import pytest
from docs_blocks import COMMAND_LANGUAGES, ROOT, all_blocks, commands, parse

BLOCKS = all_blocks()
TEST_ID = re.compile(r"^(tests/[\w/]+\.py)::(\w+)$")


def test_every_fence_names_its_language():
    bare = [b.where for b in BLOCKS if not b.language]
    assert not bare, f"fences without a language (text for output, console for '$ command' + output): {bare}"
    prompts = [b.where for b in BLOCKS if b.language == "text" and b.code.startswith("$ ")]
    assert not prompts, f"a '$ command' with its output is a console block, not text: {prompts}"


def test_every_command_block_is_run_by_a_test_or_marked_not_run():
    unmarked = [b.where for b in BLOCKS if b.language in COMMAND_LANGUAGES and b.marker is None]
    assert not unmarked, (
        "precede each block, on the line above its fence, with <!-- run-by: tests/FILE.py::TEST -->"
        f" or <!-- not-run: REASON -->: {unmarked}"
    )
    reasonless = [b.where for b in BLOCKS if b.marker == "not-run" and len(b.argument.split()) < 2]
    assert not reasonless, f"a not-run marker says why: {reasonless}"


def defined_tests(path: Path) -> dict[str, str]:
    """Test function name -> its source, module level and in classes."""
    source = path.read_text()
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            found[node.name] = ast.get_source_segment(source, node)
    return found


def program(block) -> str:
    """The file name of what a command block runs first: its console script, script or ``python -m``
    module."""
    words = [w for w in shlex.split(commands(block)[0]) if "=" not in w or w.startswith("-")]
    words = [w for w in words if w not in ("bash", "sh", "python", "-m", ".venv/bin/python")]
    return Path(words[0]).name


def test_every_run_by_names_a_test_that_reads_its_block_or_runs_its_command():
    named = {b.argument: [] for b in BLOCKS if b.marker == "run-by"}
    for b in BLOCKS:
        if b.marker == "run-by":
            named[b.argument].append(b)
    assert named, "no block is run by a test"
    for test_id, blocks in sorted(named.items()):
        match = TEST_ID.match(test_id)
        assert match, f"run-by {test_id!r}: write tests/<file>.py::<test_name>"
        path = ROOT / match.group(1)
        assert path.is_file(), f"run-by {test_id}: no file {match.group(1)}"
        tests = defined_tests(path)
        assert match.group(2) in tests, f"run-by {test_id}: {match.group(1)} defines no {match.group(2)}"
        source = tests[match.group(2)]
        if "run_by(" in source:
            continue
        for block in blocks:  # a test that runs the same command names it
            assert block.language not in ("python", "pycon"), f"{test_id} must read {block.where} (run_by)"
            assert program(block) in source, (
                f"{test_id} neither reads {block.where} (docs_blocks.run_by) nor "
                f"runs its command ({program(block)})"
            )


def test_a_missing_marker_is_found(tmp_path, monkeypatch):
    """The check can fail: a page with an unmarked bash block and a bare fence."""
    page = tmp_path / "page.md"
    page.write_text("# x\n\n```bash\nls\n```\n\n<!-- not-run: needs a GPU -->\n```python\nimport torch\n```\n"
                    "\n```\n$ ls\n```\n")
    monkeypatch.setattr("docs_blocks.ROOT", tmp_path)
    blocks = parse(page)
    assert [(b.language, b.marker, b.argument) for b in blocks] == [
        ("bash", None, ""), ("python", "not-run", "needs a GPU"), ("", None, "")]


def github_slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    inside, found = False, set()
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif not inside and line.startswith("#"):
            found.add(github_slug(line.lstrip("#")))
    return found


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(links) > 20
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        target, _, anchor = link.partition("#")
        path = ROOT / target if target else ROOT / "README.md"
        assert path.exists(), f"README link {link}: no {target}"
        if anchor:
            assert anchor in anchors(path), (
                f"README link {link}: no heading #{anchor} in {target or 'README.md'}"
            )


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_readme_and_the_docs_home_list_the_same_pages(page):
    """Every page of the site's navigation is linked from the README and the docs' home page."""
    nav = re.findall(r":\s*([\w/-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert len(nav) >= 15
    text = (ROOT / page).read_text()
    prefix = "docs/" if page == "README.md" else ""
    missing = [p for p in nav if p != "index.md" and f"]({prefix}{p}" not in text]
    assert not missing, f"{page} does not link {missing}"

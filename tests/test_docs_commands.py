"""Command blocks of the docs that run in seconds (or, marked slow, in a minute), checked against the output
the page shows."""

import os
import subprocess
import sys

import pytest
from docs_blocks import ROOT, commands, console_output, parse, run_by, run_console_script


def test_a_co_key_typo_stops_in_one_line(request, monkeypatch):
    (block,) = run_by(request)
    (command,) = commands(block)
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as stop:
        run_console_script(command)
    assert console_output(block) == [str(stop.value)]


@pytest.mark.slow  # each dry run imports Lightning in a fresh process (~6 s of CPU)
def test_the_cluster_scripts_print_what_the_page_shows(request):
    blocks = run_by(request)
    assert len(blocks) == 2
    env = {k: v for k, v in os.environ.items() if k != "SOLO_COSS_BIN"}
    env["PYTHONPATH"] = str(ROOT)
    for block in blocks:
        (command,) = commands(block)
        done = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == console_output(block), block.where


def table_after(block) -> list[str]:
    """The Markdown table that follows a block on its page (what the page says the command prints)."""
    lines = (ROOT / block.page).read_text().splitlines()[block.end:]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


@pytest.mark.slow
def test_the_backbone_tables_are_what_the_command_prints(request):
    """python -m solo_coss.backbones.table (45 s on 2 cores): the page's table, row for row, and the
    README's."""
    (block,) = run_by(request)
    (command,) = commands(block)
    words = command.split()
    assert words[:2] == ["python", "-m"]
    done = subprocess.run([sys.executable, *words[1:]], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert printed == table_after(block)
    readme = next(
        b for b in parse(ROOT / "README.md") if "run-by" == b.marker and "backbone_example" in b.argument
    )
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    table = [
        line
        for line in readme_lines[: readme.line]
        if line.startswith("| bagnet33") or line.startswith("| rf") or line.startswith("| resnet")
    ]
    assert table == printed[2:]

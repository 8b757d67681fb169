"""Every third-party module the package imports is a declared dependency of setup.cfg (`pip install .`
alone gives a working package); the bare-venv install itself is a step of .ci/run
(scripts/check_bare_install.sh)."""

import ast
import configparser
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# importable only with an optional part: the solo-learn host (solo-learn is on GitHub only) and DALI
OPTIONAL = {"solo": "solo-learn (GitHub; the solo-learn host)", "nvidia": "extra dali (nvidia.dali)"}


def imported_modules() -> dict[str, str]:
    """Top-level third-party modules imported anywhere in solo_coss (module level or inside functions)."""
    found = {}
    for path in sorted((ROOT / "solo_coss").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "solo_coss":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(section: str = "install_requires") -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    text = cfg["options"][section] if section == "install_requires" else \
        "\n".join(cfg["options.extras_require"].values())
    return {
        canonical(re.split(r"[<>=!~\[; ]", line.strip())[0]) for line in text.splitlines() if line.strip()
    }


def test_every_import_is_a_declared_dependency():
    requires = declared()
    dists = metadata.packages_distributions()
    missing = {}
    for module, where in imported_modules().items():
        if module in OPTIONAL:
            continue
        names = {canonical(d) for d in dists.get(module, [])}
        if not names & requires:
            missing[module] = (where, sorted(names))
    assert not missing, f"imported but not in install_requires: {missing}"


def test_nothing_is_declared_that_nothing_needs():
    """Each install_requires entry is imported by the package, or is a runtime need named here."""
    runtime = {"tensorboard": "TensorBoardLogger", "rich": "Lightning's rich progress bar and summary",
               "torchvision": "imported", "hydra-core": "imported"}
    dists = metadata.packages_distributions()
    imported = {canonical(d) for module in imported_modules() for d in dists.get(module, [])}
    unused = sorted(declared() - imported - set(runtime))
    assert not unused, f"declared in install_requires but never imported: {unused}"
    assert "torchmetrics" not in declared() and "scikit-image" in declared("extras")  # benchmarks only

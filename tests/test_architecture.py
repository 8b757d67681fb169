"""The layering rule of docs/architecture.md, checked on the source: every import (module level or inside a
function) goes to a lower layer or stays in its own package, and no modules import each other in a cycle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "solo_coss"
# Lower number = lower layer. A package may import its own modules and any package of a lower layer.
LAYERS = {"core": 0, "backbones": 1, "data": 1, "methods": 2, "analysis": 2, "hosts": 3, "experiments": 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every solo_coss module named by an import statement anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("solo_coss")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("solo_coss"):
            found.add(node.module)
            # "from solo_coss.pkg import mod" imports the module pkg.mod when it exists
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").is_file() or \
                        (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").is_file():
                    found.add(candidate)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_subpackage_has_a_layer():
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(LAYERS), (
        f"packages without a layer (or layers without a package): {packages ^ set(LAYERS)}"
    )


def test_imports_only_go_down():
    bad = []
    for module, targets in graph().items():
        own = layer_of(module)
        if own is None:
            continue
        for target in targets:
            other = layer_of(target)
            if other is None or other == own:
                continue
            if LAYERS[other] >= LAYERS[own]:
                bad.append(f"{module} -> {target}")
    assert not bad, "imports that go up or sideways:\n" + "\n".join(sorted(bad))


def test_core_imports_only_core_and_torch():
    allowed_roots = {"torch", *sys.stdlib_module_names}
    bad = []
    for path in (PACKAGE / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                root = name.split(".")[0]
                if root == "solo_coss":
                    if not name.startswith("solo_coss.core"):
                        bad.append(f"{path.name}: {name}")
                elif root not in allowed_roots:
                    bad.append(f"{path.name}: {name}")
    assert not bad, f"core imports outside core / torch / the standard library: {bad}"


def test_no_import_cycles():
    g = graph()
    edges = {m: {t for t in ts if t in g} for m, ts in g.items()}
    # Tarjan's strongly connected components
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert not cycles, f"modules importing each other: {cycles}"


def test_checker_sees_imports_inside_functions(tmp_path):
    """The checker can fail: a lazy import inside a function is found."""
    source = tmp_path / "lazy.py"
    source.write_text(
        "def f():\n    from solo_coss.hosts.cli import pretrain\n    import solo_coss.core.config\n"
    )
    assert imports_of(source) >= {"solo_coss.hosts.cli", "solo_coss.core.config"}


def test_no_module_imports_another_modules_private_name():
    private = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("solo_coss"):
                private += [f"{module_name(path)}: {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert private == []


def test_every_unknown_key_error_comes_from_one_helper():
    """The "valid keys" message is written once (solo_coss.core.keys.check_keys)."""
    writers = [module_name(p) for p in PACKAGE.rglob("*.py") if "valid keys: {" in p.read_text()]
    assert writers == ["solo_coss.core.keys"]

"""The package's structure (issue 11): no import cycle, no cross-module private imports, CuPy only where
it belongs, small modules.  Read from the sources with ``ast``: nothing is imported or executed."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gpuresample"
#: The only modules that may import CuPy: the CUDA backend and the kernel loader.
CUPY_MODULES = {"gpuresample.backends.cuda", "gpuresample.gpu.loader"}
MAX_LINES = 450


def _modules():
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _imports(name):
    """``[(imported module, [names], line)]`` of every import in module ``name`` (function-level ones too)."""
    path, is_pkg = MODULES[name]
    package = name if is_pkg else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names], node.lineno))
    return found


def _graph():
    """Edges between the package's modules; ``from pkg import sub`` counts as an edge to ``pkg.sub``."""
    edges = {name: set() for name in MODULES}
    for name in MODULES:
        for target, names, _ in _imports(name):
            if not target.startswith("gpuresample"):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for dest in subs or [target]:
                # every submodule implicitly imports the root package: not an edge worth checking
                if dest in MODULES and dest != name and dest != "gpuresample":
                    edges[name].add(dest)
    return edges


def _cycle(edges):
    """One import cycle as a list of modules, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_checker_finds_a_cycle():
    """The cycle finder itself (a structure test that cannot fail would prove nothing)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle():
    edges = _graph()
    assert sum(len(v) for v in edges.values()) > 50  # the graph really was read
    cycle = _cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_private_names_imported_across_modules():
    bad = []
    for name in MODULES:
        for target, names, line in _imports(name):
            if target.startswith("gpuresample"):
                bad += [f"{name}:{line} imports {target}.{n}" for n in names
                        if n.startswith("_") and not n.startswith("__")]
                if target.rpartition(".")[2].startswith("_") and not target.endswith("__init__"):
                    bad.append(f"{name}:{line} imports the private module {target}")
    assert not bad, "\n".join(bad)


def test_cupy_only_in_the_cuda_backend_and_the_loader():
    users = {name for name in MODULES for target, _, _ in _imports(name) if target.split(".")[0] == "cupy"}
    assert users <= CUPY_MODULES, f"CuPy imported outside {sorted(CUPY_MODULES)}: {sorted(users - CUPY_MODULES)}"
    assert users, "the CUDA backend imports CuPy somewhere"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    path, _ = MODULES[name]
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.name}: {n} lines (split it into modules whose names say what they hold)"

"""The package's shape: one-way imports between subpackages, no module cycles, modules a reader can hold.

These scan the source with `ast` (no imports are executed), so they check every module, including the
ones a test run would not import.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT.name

# lower layers first; a subpackage may import only subpackages of a strictly lower layer
LAYERS = (
    ("utils",),
    ("io",),
    ("survey", "preprocess"),
    ("measure",),
    ("compare", "backbones", "datasets"),
    ("pretrain",),
    ("classification", "detection"),
    ("search",),
    ("cli",),
)
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}
MAX_LINES = 500


def _source_modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "tests" in rel.parts or rel.name == "conftest.py":
            continue
        yield path, rel


def _module_name(rel):
    parts = [PACKAGE, *rel.with_suffix("").parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path, rel):
    """Absolute names imported by one module: (imported module or module.attr, is_top_level)."""
    name = _module_name(rel)
    package = name if rel.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, id(node) in top_level))
            found.extend((f"{target}.{alias.name}", id(node) in top_level) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, id(node) in top_level) for alias in node.names)
    return [(t, top) for t, top in found if t == PACKAGE or t.startswith(PACKAGE + ".")]


def _subpackage(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


MODULES = list(_source_modules())
KNOWN = {_module_name(rel) for _, rel in MODULES}


def test_subpackages_are_layered():
    """Every subpackage is in a layer, and imports only from lower layers (or itself)."""
    bad = []
    for path, rel in MODULES:
        mine = _subpackage(_module_name(rel))
        if mine is None or mine.startswith("__"):
            continue
        assert mine in LAYER_OF, f"subpackage {mine!r} is missing from LAYERS in {__file__}"
        for target, _ in _imports(path, rel):
            theirs = _subpackage(target)
            if theirs is None or theirs == mine or theirs.startswith("__"):
                continue
            if theirs not in LAYER_OF or LAYER_OF[theirs] >= LAYER_OF[mine]:
                bad.append(f"{rel}: imports {target} (layer {LAYER_OF.get(theirs)} >= {LAYER_OF[mine]})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(set(bad)))


def test_no_private_imports_across_subpackages():
    bad = []
    for path, rel in MODULES:
        mine = _subpackage(_module_name(rel))
        for target, _ in _imports(path, rel):
            parts = target.split(".")
            if len(parts) < 3 or parts[1] == mine:
                continue
            if any(p.startswith("_") and not p.startswith("__") for p in parts[2:]):
                bad.append(f"{rel}: imports {target}")
    assert not bad, "imports of another subpackage's private modules:\n" + "\n".join(sorted(set(bad)))


def test_no_module_import_cycles():
    """Imports between modules (lazy ones inside functions too) form no cycle."""
    graph = {}
    for path, rel in MODULES:
        name = _module_name(rel)
        deps = set()
        for target, top in _imports(path, rel):
            while target and target not in KNOWN:  # 'pkg.mod.attr' -> 'pkg.mod'
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                deps.add(target)
        graph[name] = deps
    # a package __init__ that re-exports its own modules is not a cycle with them
    for name in graph:
        graph[name] = {d for d in graph[name] if not (d in graph and name.startswith(d + ".")
                                                        and _subpackage(d) == _subpackage(name))}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("path,rel", MODULES, ids=[str(rel) for _, rel in MODULES])
def test_module_size(path, rel):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{rel} has {n} lines; split it along its seams (limit {MAX_LINES})"

"""Layering of the package: every module imports; no library module imports the experiments,
another module's private names, or takes part in an import cycle.

The import graph is read from the source (``ast``), independently of Python's import machinery:
an edge ``a -> b`` for every ``import b`` / ``from b import ...`` in module ``a`` (module level
and inside functions), ``from pkg import name`` counting as an import of ``pkg.name`` when that
is a module.
"""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import geodln

ROOT = Path(geodln.__file__).parent
#: the command line and the experiments themselves may import the experiments
FRONT_ENDS = {"geodln.cli", "geodln.__main__"}


def _modules():
    names = {"geodln": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="geodln."):
        rel = info.name.split(".")[1:]
        path = ROOT.joinpath(*rel)
        names[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return names


MODULES = _modules()


def _resolve(module, node):
    """Absolute module named by an ImportFrom node inside ``module``."""
    if node.level == 0:
        return node.module
    is_pkg = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module, source=None):
    """``(target module, imported names, top_level)`` of every import in ``module``."""
    tree = ast.parse(MODULES[module].read_text() if source is None else source)
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((_resolve(module, node), [a.name for a in node.names], id(node) in top))
    return out


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def _private_uses(module, source=None):
    """Private names of another geodln module that ``module`` imports or reads as attributes.

    ``from x import _y`` and ``x._y`` (``x`` bound by ``import geodln.x as x`` or ``from geodln
    import x``) both count, unless ``x`` is ``module`` itself; a private *module*
    (``geodln._checks``) is a module, not a private name, and may be imported.
    """
    tree = ast.parse(MODULES[module].read_text() if source is None else source)
    bad, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("geodln") and a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if not target or not target.startswith("geodln"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:
                    aliases[a.asname or a.name] = sub
                elif _is_private(a.name) and target != module:
                    bad.append(f"{module}: from {target} import {a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and _is_private(node.attr):
            target = aliases[node.value.id]
            if target != module and f"{target}.{node.attr}" not in MODULES:
                bad.append(f"{module}: {target}.{node.attr}")
    return bad


def _library_imports_of_experiments(module, source=None):
    bad = []
    for target, names, _ in _imports(module, source):
        targets = [target] + [f"{target}.{n}" for n in names]
        if any(t == "geodln.experiments" or t.startswith("geodln.experiments.")
               for t in targets if t):
            bad.append(f"{module} imports {target}")
    return bad


def _graph():
    """Module-level import edges between geodln modules (packages' re-exports excluded)."""
    graph = {}
    for module in MODULES:
        edges = set()
        for target, names, top in _imports(module):
            if not top or not target or not target.startswith("geodln"):
                continue
            for cand in [f"{target}.{n}" for n in names] + [target]:
                if cand in MODULES:
                    edges.add(cand)
                    break
        graph[module] = {e for e in edges if MODULES[e].name != "__init__.py"}
    return graph


def _cycles(graph):
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_library_never_imports_the_experiments():
    bad = []
    for module in MODULES:
        if module.startswith("geodln.experiments") or module in FRONT_ENDS:
            continue
        bad += _library_imports_of_experiments(module)
    assert not bad, bad


def test_no_private_names_across_modules():
    """No allowlist: any private name of another module, imported or read, fails."""
    bad = [b for module in MODULES for b in _private_uses(module)]
    assert not bad, bad


def test_no_import_cycles():
    """Module-level imports between modules form no cycle (packages' re-exports excluded)."""
    graph = _graph()
    graph = {m: e for m, e in graph.items() if MODULES[m].name != "__init__.py"}
    cycles = _cycles(graph)
    assert not cycles, cycles


# -- the checks themselves fail on what they must reject (synthetic sources) -----------------------
def test_private_check_rejects_private_imports_and_attributes():
    src = ("from geodln.storage import _x, save_arrays\n"
           "import geodln.storage as st\n"
           "from geodln import _checks, storage\n"
           "from geodln.flows import trajectory\n"
           "def f():\n"
           "    return st._y, storage._z, trajectory._w, _checks.check_finite, st.save_arrays\n")
    bad = _private_uses("geodln.measures", src)
    assert bad == ["geodln.measures: from geodln.storage import _x",
                   "geodln.measures: geodln.storage._y", "geodln.measures: geodln.storage._z",
                   "geodln.measures: geodln.flows.trajectory._w"]
    assert _private_uses("geodln.storage", "from geodln.storage import _x\n") == []


def test_experiment_check_rejects_library_imports_of_experiments():
    for src in ("import geodln.experiments.hyperbola\n", "from geodln import experiments\n",
                "def f():\n    from geodln.experiments._common import check_seed\n"):
        assert _library_imports_of_experiments("geodln.measures", src), src
    assert not _library_imports_of_experiments("geodln.measures", "import geodln.storage\n")


def test_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []

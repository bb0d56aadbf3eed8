"""The library's layers: each folder of ``trustlib/`` imports only from the layers below it, and no
module imports, through any chain of imports, itself.

Bottom to top (:data:`LAYERS`): the shared modules in ``trustlib/`` itself, ``data``, ``stats``,
``publish``, ``run``; ``trustlib/__main__.py`` (``python -m trustlib``) sits above them all. A
module may import from its own layer and every layer below it, never from one above.

Every import of every module is read from its source with ``ast``: at module level and inside
functions (an import inside a function is an import all the same), relative (``from . import
x``, ``from .. import paths``, ``from ..data import cohort``, ``from .fit import Fit``) and
absolute (``import trustlib.x``, ``from trustlib.data import y``). This reader is written here,
apart from the fingerprint's (:func:`trustlib.run.fingerprint.module_closure`), and the two are
held to the same answer.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from trustlib import paths
from trustlib.run import fingerprint

LAYERS = ("", "data", "stats", "publish", "run")     # bottom to top; "" the shared modules of trustlib/
TOP = "__main__"                                        # python -m trustlib: above every layer
PACKAGE = paths.ROOT / "trustlib"


def sources(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module below ``package``, by dotted name below it (``data.cohort``; a package by its
    own name, ``data`` for ``data/__init__.py``, ``""`` for the package itself)."""
    out = {}
    for path in sorted(Path(package).rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_in(name: str, source: str, known, is_package: bool = False) -> list[tuple[str, int]]:
    """``(module, line)`` for every trustlib module the source of module ``name`` imports, anywhere
    in it; ``known``: the modules that exist. The packages above ``name`` are left out: Python has
    imported them before the module itself."""
    parts = tuple(filter(None, name.split(".")))
    package = parts if is_package else parts[:-1]
    above = {".".join(parts[:i]) for i in range(len(parts))}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name.split(".", 1)[1] if "." in a.name else "" for a in node.names
                       if a.name.split(".")[0] == "trustlib"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    raise ValueError(f"{name}: an import above trustlib (line {node.lineno})")
                base = package[:len(package) - (node.level - 1)] + tuple(filter(None, (node.module or "").split(".")))
            elif node.module and node.module.split(".")[0] == "trustlib":
                base = tuple(node.module.split(".")[1:])
            else:
                continue
            module = ".".join(base)
            submodules = [f"{module}.{a.name}" if module else a.name for a in node.names]
            targets = [t for t in submodules if t in known] or [module]     # else names defined in the module
        else:
            continue
        found += [(t, node.lineno) for t in targets if t in known and t not in above and t != name]
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {module it imports: the line of the first such import}."""
    files = sources(package)
    graph = {}
    for name, path in files.items():
        graph[name] = {}
        for target, line in imports_in(name, path.read_text(), files, _is_package(path)):
            graph[name].setdefault(target, line)
    return graph


def layer(name: str) -> int:
    """The layer of a module: the index of its folder in :data:`LAYERS` (``__main__`` on top)."""
    if name == TOP:
        return len(LAYERS)
    first = name.split(".")[0]
    return LAYERS.index(first) if first in LAYERS else 0


def upward(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import from a lower layer to a higher one, as ``module (line n) imports module``."""
    return [f"{m} (line {line}, layer {LAYERS[layer(m)] or 'trustlib/'}) imports {t} "
            f"(layer {LAYERS[layer(t)] if layer(t) < len(LAYERS) else TOP})"
            for m, targets in sorted(graph.items()) for t, line in sorted(targets.items()) if layer(t) > layer(m)]


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm): each a
    set of modules that import each other, directly or through others."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


# -- the library as it is ------------------------------------------------------------------------------

def test_every_module_is_in_a_layer():
    """Each folder of trustlib/ is a layer: a new folder must be given its place in LAYERS."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(LAYERS) - {""}
    for folder in folders:
        assert (PACKAGE / folder / "__init__.py").is_file(), folder
    assert set(sources()) >= {"", "paths", "data.cohort", "stats.glmm", "publish.outputs", "run.pipeline", TOP}


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward(import_graph()) == []


def test_no_modules_import_each_other():
    assert cycles(import_graph()) == []


def test_the_package_and_its_layers_import_nothing_when_imported():
    """``import trustlib.stats`` loads no module of it: a notebook that imports one module of a
    layer does not load the others (or their libraries)."""
    graph = import_graph()
    assert {name: graph[name] for name in ("", *LAYERS[1:])} == {name: {} for name in ("", *LAYERS[1:])}


def test_what_the_layers_hold():
    """The modules each layer is known for (a move between layers is a decision, not an accident)."""
    graph = import_graph()
    where = {name.rpartition(".")[2]: LAYERS[layer(name)] for name in graph if name not in ("", TOP, *LAYERS)}
    assert {m for m, f in where.items() if f == ""} == {"paths", "params", "steps", "store"}
    assert {"cohort", "contract", "codebook", "scales", "synth", "checks"} <= {m for m, f in where.items() if f == "data"}
    assert {"glmm", "gee", "estimators", "models", "scorecard", "calibration"} <= {m for m, f in where.items()
                                                                                 if f == "stats"}
    assert {"outputs", "disclosure", "figures", "report", "article", "typeset"} <= {m for m, f in where.items()
                                                                                  if f == "publish"}
    assert {"pipeline", "scheduler", "fingerprint", "manifest", "config", "cli"} <= {m for m, f in where.items()
                                                                                   if f == "run"}


def closure(starts, graph: dict) -> set[str]:
    """The files below trustlib/ that importing the modules ``starts`` runs: those modules, what
    they import, and the packages above each (whose ``__init__.py`` runs first), by this reader."""
    files = sources()
    seen, todo = set(), ["", *starts]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            parts = m.split(".") if m else []
            todo += [".".join(parts[:i]) for i in range(len(parts))] + list(graph[m])
    return {files[m].relative_to(PACKAGE).as_posix() for m in seen}


def test_the_fingerprint_reads_the_same_imports():
    """For every module, the files the fingerprint says it depends on (its closure) are those this
    reader finds, with the packages above each (whose ``__init__.py`` runs first)."""
    graph = import_graph()
    for name in graph:
        assert fingerprint.module_closure([name]) == sorted(closure([name], graph)), name


# -- the checker itself ----------------------------------------------------------------------------------

KNOWN = {"", "paths", "steps", "data", "data.cohort", "data.codebook", "stats", "stats.glmm", "publish",
         "publish.outputs", "publish.report", "run", "run.cli", "run.config", "run.pipeline"}


def test_the_checker_reads_every_kind_of_import():
    source = '''
from .. import InputError, paths
from .. import steps as declared
from . import codebook
from ..stats.glmm import fit_glmm
import trustlib.run.cli
from trustlib.publish import outputs

def later():
    from ..run import pipeline
    from trustlib.run.config import RunConfig
'''
    found = imports_in("data.cohort", source, KNOWN)
    assert sorted(t for t, _ in found) == ["data.codebook", "paths", "publish.outputs", "run.cli", "run.config",
                                           "run.pipeline", "stats.glmm", "steps"]
    assert dict(found)["run.pipeline"] == 10           # inside a function, at its line
    # a package's own __init__ reads ``from . import x`` as its own module x
    assert imports_in("publish", "from . import report\n", KNOWN, is_package=True) == [("publish.report", 1)]


def _copy(tmp_path) -> Path:
    copy = tmp_path / "trustlib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _add(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


@pytest.mark.parametrize("where, text, expected", [
    ("stats/glmm.py", "\n\ndef _report():\n    from ..publish import report\n    return report\n",
     "stats.glmm (line {line}, layer stats) imports publish.report (layer publish)"),
    ("data/scales.py", "\nfrom ..run import config  # noqa: E402\n",
     "data.scales (line {line}, layer data) imports run.config (layer run)"),
    ("paths.py", "\nimport trustlib.data.cohort  # noqa: E402\n",
     "paths (line {line}, layer trustlib/) imports data.cohort (layer data)"),
    ("publish/figures.py", "\n\ndef _main():\n    from trustlib.__main__ import main\n    return main\n",
     "publish.figures (line {line}, layer publish) imports __main__ (layer __main__)"),
])
def test_the_checker_fails_on_an_import_from_a_higher_layer(tmp_path, where, text, expected):
    """A copy of the library with one import added that goes up a layer (at module level or
    inside a function): the check names it, and only it."""
    copy = _copy(tmp_path)
    _add(copy / where, text)
    added = text.splitlines()
    line = (len((copy / where).read_text().splitlines()) - len(added)
            + next(i for i, s in enumerate(added, start=1) if "import" in s))      # the added import's line
    assert upward(import_graph(copy)) == [expected.format(line=line)]


def test_the_checker_fails_on_a_cycle(tmp_path):
    """A copy of the library in which the cohort imports the run's checks (which import the
    cohort), inside a function, in one layer: no import goes up, but the two import each other."""
    copy = _copy(tmp_path)
    _add(copy / "data" / "cohort.py", "\n\ndef _problems():\n    from .checks import cohort_problems\n"
                                      "    return cohort_problems\n")
    graph = import_graph(copy)
    assert upward(graph) == []
    assert cycles(graph) == [["data.checks", "data.cohort"]]
    # a longer chain in the bottom layer is one cycle too: paths -> store -> params -> paths
    _add(copy / "paths.py", "\n\ndef _later():\n    from .store import written\n    return written\n")
    _add(copy / "store.py", "\n\ndef _later():\n    from . import params\n    return params\n")
    assert cycles(import_graph(copy)) == [["data.checks", "data.cohort"], ["params", "paths", "store"]]

"""What each step of a run reads, by content: the fingerprint that decides whether it runs again.

A step's fingerprint (:func:`step`) holds the SHA-256 of everything its declaration
(:mod:`trustlib.steps`) says it reads: its notebook's code (cell sources: outputs do not change
what a run computes), the trustlib modules it imports, the values of the parameters it declares,
the extract (for steps that read it), the reference files, the outputs of the steps it reads
(as they are in the stage), and the versions of the key packages. A step whose fingerprint equals
the one the previous run recorded, with its outputs intact, is carried into the new run instead
of being executed again.

What a notebook declares itself is read from the notebook here: its parameters
(:func:`parameters_of`) and the trustlib modules it uses (:func:`modules_of`: its imports, with
every trustlib module those import).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path

from .. import paths, steps, store
from ..data import extract

VERSION = 3      # raised when the runner changes what an executed step holds (3: its links to the docs)
KEY_PACKAGES = ["numpy", "scipy", "pandas", "statsmodels", "matplotlib", "seaborn", "pandera",
                "papermill", "nbval", "joblib"]
RUNNER_PARAMETERS = ("results_dir", "data_dir")          # where a notebook writes: not what it computes
CARRY_EXCLUDED = ("notebooks/", "report/", "provenance/")  # outputs no later step reads


def sha(path: Path) -> str:
    """SHA-256 of a regular file's content; for anything else, what it is (never opening a pipe,
    a device or a file larger than an extract may be)."""
    import os
    import stat

    from ..data.reading import MAX_FILE_BYTES

    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > MAX_FILE_BYTES:
        return f"too large ({st.st_size} bytes)"
    return store.sha256(path)


def code_digest(path: Path) -> str:
    """SHA-256 of a notebook's cell sources and types (its outputs do not change what it computes)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    return hashlib.sha256(json.dumps([[c["cell_type"], "".join(c["source"])] for c in cells]).encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def version(name: str) -> str:
    """An installed package's version (looked up once per process)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def packages() -> dict[str, str]:
    return {k: version(k) for k in KEY_PACKAGES}


def data_files(project: paths.RunPaths) -> dict[str, str]:
    """The extract's files as :func:`trustlib.data.contract.load_folder` would read them (:func:`trustlib.data.extract.input_files`), by content."""
    return {project.relative(p): sha(p) for p in extract.input_files(project.data)}


def outputs_digest(root: Path, name: str) -> str:
    """SHA-256 of what step ``name`` wrote below ``root`` that later steps may read (its
    provenance lists the files; executed notebooks, report pages and provenance are left out)."""
    record = json.loads((Path(root) / "provenance" / f"{name}.json").read_text())
    files = sorted(f for f in record["outputs"] if not f.startswith(CARRY_EXCLUDED))
    return hashlib.sha256(json.dumps({f: sha(Path(root) / f) for f in files}).encode()).hexdigest()


def step(name: str, parameters: dict, project: paths.RunPaths, upstream: Path,
         data: dict[str, str] | None = None) -> dict:
    """The fingerprint of step ``name`` in a run with ``parameters``, the outputs of the steps it
    reads being those below ``upstream`` (the run's stage). ``data``: the extract's fingerprint
    (:func:`data_files`), computed once per run."""
    s = steps.get(name)
    return {"version": VERSION, "step": name,
            "notebook": code_digest(paths.notebook(name)),
            "modules": {m: sha(paths.ROOT / "trustlib" / m) for m in modules_of(name)},
            "parameters": {k: parameters[k] for k in parameters_of(name)
                           if k not in RUNNER_PARAMETERS and k in parameters},
            "data": (data if data is not None else data_files(project)) if s.data else {},
            "files": {f: sha(paths.ROOT / f) for f in steps.REFERENCE_FILES + s.files},
            "reads": {r: outputs_digest(upstream, r) for r in s.reads if (Path(upstream) / "provenance" / f"{r}.json").exists()},
            "packages": packages()}


def finish(parameters: dict) -> dict:
    """The fingerprint of what a run builds after its steps (report and article): their code
    and the run's parameters (their inputs, the steps' outputs, are fingerprinted step by step)."""
    code = module_closure(["publish.report", "publish.article"])
    return {"version": VERSION, "modules": {m: sha(paths.ROOT / "trustlib" / m) for m in code},
            "docs": {paths.relative(d): sha(d) for d in paths.REPORT_DOCS},
            "citation": sha(paths.CITATION) if paths.CITATION.exists() else None,    # the article's byline
            "parameters": {k: v for k, v in parameters.items() if k not in RUNNER_PARAMETERS},
            "packages": packages()}


def pages(finish_fp: dict | None) -> dict:
    """The part of a :func:`finish` fingerprint a notebook's report page depends on, besides its
    executed notebook: the report's code, the packages and the version (not the parameters, which
    the index shows, nor the glossary's text, which only its own page shows)."""
    return {k: v for k, v in (finish_fp or {}).items() if k in ("version", "modules", "packages")}


def changes(old: dict, new: dict) -> str:
    """What differs between two fingerprints (:func:`step` or :func:`finish`), in words for the
    run's progress lines: "its notebook changed", "trustlib/publish/outputs.py changed", "parameters
    changed: sim_replicates", "outputs of 01_prepare_data changed", ..."""
    if old.get("version") != new.get("version"):
        return "the runner's fingerprint version changed"

    def keys(part):
        a, b = old.get(part) or {}, new.get(part) or {}
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))

    words = {"notebook": lambda _: "its notebook changed",
             "modules": lambda ks: ", ".join(f"trustlib/{k}" for k in ks) + " changed",
             "parameters": lambda ks: "parameters changed: " + ", ".join(ks),
             "data": lambda _: "the data changed",
             "files": lambda ks: ", ".join(ks) + " changed",
             "docs": lambda ks: ", ".join(ks) + " changed",
             "reads": lambda ks: "outputs of " + ", ".join(ks) + " changed",
             "packages": lambda ks: "package versions changed: " + ", ".join(ks)}
    said = [say(keys(part) if isinstance(new.get(part), dict) else None)
            for part, say in words.items() if old.get(part) != new.get(part)]
    return "; ".join(said) or "its fingerprint changed"


# -- what the notebook itself declares ------------------------------------------------------------

def _cells(name: str) -> list[dict]:
    return json.loads(paths.notebook(name).read_text(encoding="utf-8"))["cells"]


@functools.lru_cache(maxsize=None)
def _notebook_declares(name: str, digest: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    cells = _cells(name)
    params_cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    parameters = tuple(t.id for node in ast.parse("".join(params_cell["source"])).body for t in node.targets)
    imported = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for node in import_statements(ast.parse("".join(cell["source"]))):
            imported |= {".".join(m) for m in imported_modules(node, None)}
    return parameters, tuple(sorted(imported))


def parameters_of(name: str) -> tuple[str, ...]:
    """The parameters the notebook declares (its ``parameters`` cell), in order."""
    return _notebook_declares(name, _mtime(name))[0]


def modules_of(name: str) -> list[str]:
    """The trustlib modules the notebook imports (``from trustlib.stats import models``, ``from
    trustlib import paths``), with every trustlib module those import and the packages holding
    them: files below ``trustlib/`` (``stats/models.py``, ``stats/__init__.py``; sorted,
    ``__init__.py`` always)."""
    return module_closure(_notebook_declares(name, _mtime(name))[1])


def module_closure(modules) -> list[str]:
    """``modules`` (dotted names below ``trustlib``, such as ``publish.report``) with every
    trustlib module they import, anywhere in the file, and every package above each of them
    (whose ``__init__.py`` runs first), as files below ``trustlib/`` (sorted; ``__init__.py`` always)."""
    todo = [()] + [tuple(m.split(".")) if m else () for m in modules]
    seen: set[str] = set()
    while todo:
        parts = todo.pop()
        file = _file(parts)
        if file is None or file in seen:
            continue
        seen.add(file)
        todo += [parts[:i] for i in range(len(parts))]
        todo += _module_imports(file)
    return sorted(seen)


def _mtime(name: str) -> str:
    st = paths.notebook(name).stat()
    return f"{st.st_mtime_ns}:{st.st_size}"


def _file(parts: tuple[str, ...]) -> str | None:
    """The file below ``trustlib/`` of the module or package named ``parts`` (its dotted name
    below ``trustlib``; ``()`` the package itself), or None if there is none."""
    base = (paths.ROOT / "trustlib").joinpath(*parts)
    if parts and base.with_suffix(".py").is_file():
        return "/".join(parts) + ".py"
    if (base / "__init__.py").is_file():
        return "/".join(parts + ("__init__.py",))
    return None


def imported_modules(node: ast.AST, package: tuple[str, ...] | None) -> list[tuple[str, ...]]:
    """The trustlib modules and packages an import statement names, as dotted parts below
    ``trustlib``, written in a module of ``package`` (its parts below ``trustlib``; None outside
    trustlib, where only absolute imports name it): ``from ..data import cohort`` in
    ``publish/figures.py`` names ``data`` and ``data.cohort``; ``from . import InputError`` in
    ``paths.py`` names the package (``()``); ``import trustlib.stats.glmm`` names ``stats.glmm``."""
    if isinstance(node, ast.Import):
        return [tuple(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "trustlib"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        if package is None or node.level - 1 > len(package):
            return []
        module = package[:len(package) - (node.level - 1)] + tuple(filter(None, (node.module or "").split(".")))
    elif node.module and node.module.split(".")[0] == "trustlib":
        module = tuple(node.module.split(".")[1:])
    else:
        return []
    return [module] + [module + (a.name,) for a in node.names if _file(module + (a.name,)) is not None]


def _module_imports(file: str) -> list[tuple[str, ...]]:
    """The trustlib modules the file ``file`` (below ``trustlib/``) imports: relative imports
    (``from . import x``, ``from ..data import y``, ``from .x import z``) and absolute ones, anywhere
    in the file, including imports inside functions."""
    path = paths.ROOT / "trustlib" / file
    st = path.stat()
    return _imports_of(str(path), file, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=None)
def _imports_of(path: str, file: str, mtime: int, size: int) -> list[tuple[str, ...]]:
    package = tuple(file.split("/")[:-1])         # the package a module (or an __init__.py) is in
    found = []
    for node in import_statements(ast.parse(Path(path).read_text())):
        found += imported_modules(node, package)
    return found


def import_statements(tree: ast.AST):
    """Every ``import`` and ``from ... import`` statement in ``tree``, at any depth: what
    ``ast.walk`` finds, in a tenth of the time, since an import is a statement and statements sit
    only in the statement lists of other statements (bodies, branches, handlers, match cases),
    never inside an expression; the walk leaves the expressions, nine nodes in ten, unvisited."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for _, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], _HOLDS_STATEMENTS):
                todo.extend(reversed(value))


_HOLDS_STATEMENTS = (ast.stmt, ast.excepthandler, ast.match_case)

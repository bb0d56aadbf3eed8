"""What a run says when a step of the previous run executes again (trustlib.run.fingerprint.changes), and
the trustlib modules a step's fingerprint holds."""

from __future__ import annotations

import ast
import json

import test_layers
from trustlib import paths, steps
from trustlib.run import fingerprint


def test_changes_name_what_differs_between_two_fingerprints():
    old = {"version": 3, "notebook": "a", "modules": {"publish/outputs.py": "1", "stats/models.py": "2"},
           "parameters": {"nagq": 15, "sim_replicates": 40}, "data": {"data/raw/x.csv": "1"},
           "files": {"data/published.csv": "1"}, "reads": {"01_prepare_data": "1"}, "packages": {"numpy": "2.3"}}
    assert fingerprint.changes(old, dict(old)) == "its fingerprint changed"
    assert fingerprint.changes(old, {**old, "notebook": "b"}) == "its notebook changed"
    assert fingerprint.changes(old, {**old, "modules": {"publish/outputs.py": "9", "stats/models.py": "2"}}) == \
        "trustlib/publish/outputs.py changed"
    assert fingerprint.changes(old, {**old, "parameters": {"nagq": 15, "sim_replicates": 3, "seed": 1}}) == \
        "parameters changed: seed, sim_replicates"
    assert fingerprint.changes(old, {**old, "data": {"data/raw/x.csv": "2"}, "reads": {"01_prepare_data": "2"}}) == \
        "the data changed; outputs of 01_prepare_data changed"
    assert fingerprint.changes(old, {**old, "files": {"data/published.csv": "2"}, "packages": {"numpy": "2.4"}}) == \
        "data/published.csv changed; package versions changed: numpy"
    assert fingerprint.changes(old, {**old, "version": 4, "notebook": "b"}) == "the runner's fingerprint version changed"


def test_changes_read_a_real_finish_fingerprint():
    """On the keys :func:`fingerprint.finish` writes."""
    params = {"nagq": 15, "sim_replicates": 40}
    finish = fingerprint.finish(params)
    assert fingerprint.changes(finish, fingerprint.finish({**params, "sim_replicates": 3})) == \
        "parameters changed: sim_replicates"
    assert fingerprint.changes({**finish, "docs": {"docs/glossary.md": "old"}}, finish) == "docs/glossary.md changed"


def test_a_report_page_depends_on_the_reports_code_not_on_the_parameters_or_the_glossary():
    finish = fingerprint.finish({"nagq": 15})
    assert fingerprint.pages(fingerprint.finish({"nagq": 5})) == fingerprint.pages(finish)
    assert fingerprint.pages({**finish, "docs": {"docs/glossary.md": "old"}}) == fingerprint.pages(finish)
    changed = {**finish, "modules": {**finish["modules"], "publish/report.py": "old"}}
    assert fingerprint.pages(changed) != fingerprint.pages(finish)
    assert fingerprint.changes(fingerprint.pages(changed), fingerprint.pages(finish)) == "trustlib/publish/report.py changed"


# -- the trustlib modules a notebook uses ---------------------------------------------------------------

def _notebook_imports(name: str) -> set[str]:
    """The trustlib modules a notebook's code cells import (``from trustlib.stats import models``:
    ``stats.models``), read here apart from the fingerprint's reader."""
    found = set()
    for cell in json.loads(paths.notebook(name).read_text())["cells"]:
        if cell["cell_type"] == "code":
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "trustlib":
                    layer = node.module.partition(".")[2]
                    found |= {f"{layer}.{a.name}" if layer else a.name for a in node.names}
    return found


def _uses(name: str, graph: dict) -> set[str]:
    """Files below trustlib/ a notebook runs: the modules it imports, what those import, and the
    packages above each of them (their __init__.py runs first)."""
    return test_layers.closure(_notebook_imports(name), graph)


NOTEBOOKS = [steps.SYNTHESIZE, *steps.ANALYSIS]


def test_a_notebook_uses_the_modules_its_import_lines_name_and_what_those_import():
    used = fingerprint.modules_of("03_model_culture_and_trust")
    assert {"__init__.py", "paths.py", "store.py", "data/__init__.py", "data/codebook.py", "data/cohort.py",
            "stats/__init__.py", "stats/models.py", "stats/glmm.py", "stats/estimators.py", "publish/__init__.py",
            "publish/outputs.py", "publish/disclosure.py"} <= set(used)
    assert "publish/figures.py" not in used and used == sorted(used)
    assert "stats/robustness.py" in fingerprint.modules_of("06_robustness")


def test_a_changed_module_reruns_exactly_the_notebooks_that_use_it():
    """For every file of trustlib/, the notebooks whose fingerprint holds it are exactly those that
    run it, as an independent reading of their import lines and the library's imports finds them."""
    graph = test_layers.import_graph()
    uses = {name: _uses(name, graph) for name in NOTEBOOKS}
    for name in NOTEBOOKS:
        assert set(fingerprint.modules_of(name)) == uses[name], name
    everything = {f for u in uses.values() for f in u}
    assert {"stats/glmm.py", "publish/figures.py", "data/synth.py", "stats/calibration.py"} <= everything
    for file in everything:
        assert ({n for n in NOTEBOOKS if file in fingerprint.modules_of(n)}
                == {n for n in NOTEBOOKS if file in uses[n]}), file


def test_no_notebook_runs_the_runner_and_the_generator_knows_nothing_of_the_models():
    """The notebooks are the runner's steps: none imports the run layer. Notebook 00 (the
    synthetic generator) runs no module of the models, the scorecard or the descriptive results."""
    for name in NOTEBOOKS:
        assert not [m for m in fingerprint.modules_of(name) if m.startswith("run/")], name
    generator = fingerprint.modules_of(steps.SYNTHESIZE)
    assert "data/synth.py" in generator
    assert not [m for m in generator if m.startswith("stats/") or m == "publish/describe.py"]


def test_the_report_and_the_article_fingerprint_their_code():
    finish = fingerprint.finish({"nagq": 15})["modules"]
    assert {"publish/report.py", "publish/article.py", "publish/prose.py", "publish/typeset.py"} <= set(finish)
    assert not [m for m in finish if m.startswith("run/")]


NESTED = '''
import trustlib.paths
if x:
    from trustlib import steps
else:
    try:
        from .a import b
    except ImportError as err:
        import c
    else:
        import d
    finally:
        import e
class K:
    import f
    def m(self):
        with open(p) as h:
            async def g():
                async with q:
                    async for i in r:
                        import h1
        while True:
            for j in k:
                from ..x import y
            else:
                import z
match v:
    case 1:
        import mm
    case _:
        from . import nn
lambda: __import__("not_a_statement")
try:
    import ts
except* ValueError:
    import tse
'''


def test_the_import_statements_found_are_those_ast_walk_finds():
    """The fingerprint finds imports without visiting expressions: the same statements, in any
    nesting, as a walk of every node, on every module of the library and on a file nesting them
    in each kind of block."""
    def dumped(nodes):
        return sorted(ast.dump(n) for n in nodes)

    def every(tree):
        return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]

    nested = ast.parse(NESTED)
    assert len(every(nested)) == 14
    assert dumped(fingerprint.import_statements(nested)) == dumped(every(nested))
    for path in sorted((paths.ROOT / "trustlib").rglob("*.py")):
        tree = ast.parse(path.read_text())
        assert dumped(fingerprint.import_statements(tree)) == dumped(every(tree)), path

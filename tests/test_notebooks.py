"""The notebooks follow the house style, their defaults are the canonical parameters, and the
committed notebooks show what the canonical run computes.

The comparisons of committed notebooks with the run hold on any machine: text outputs (tables
rounded for display, and each figure's name with the digest of the data it draws, at written
precision) must be equal; images must have the same size and differ in at most
:data:`PIXEL_TOLERANCE` of their pixels (BLAS kernels and CPUs differ in the last bits, which
written precision absorbs and rasterisation need not). `make test` executes each notebook once;
strict nbval (`make nbval`) re-executes them, and `make test` calls it when notebooks/ has
uncommitted changes."""

from __future__ import annotations

import ast
import configparser
import re

import nbformat
import pytest

from trustlib.run import config as run_config
from trustlib import paths, steps
from trustlib.run import scheduler

NOTEBOOKS = [steps.SYNTHESIZE] + steps.ANALYSIS
RUNNER_PARAMETERS = {"results_dir", "data_dir"}  # output folders: the runner passes its stage
PIXEL_TOLERANCE = 0.001   # share of an image's pixels that may differ between machines


def _nb(name):
    return nbformat.read(paths.notebook(name), as_version=4)


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in paths.NOTEBOOKS.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_structure_title_prose_parameters(name):
    nb = _nb(name)
    assert nb.metadata.kernelspec.name == scheduler.KERNEL
    first, second = nb.cells[:2]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "**What.**" in first.source and "**Why" in first.source
    assert second.cell_type == "code" and "parameters" in second.metadata.get("tags", [])
    tree = ast.parse(second.source)
    assert all(isinstance(n, ast.Assign) and isinstance(n.value, (ast.Constant, ast.List, ast.Dict)) for n in tree.body), \
        "the parameters cell holds literals only"


@pytest.mark.parametrize("name", steps.ANALYSIS)
def test_defaults_equal_the_pipeline_parameter_file(name):
    """So the committed (nbval-checked) outputs are those of the canonical run."""
    declared = scheduler.notebook_parameters(name)
    pp = run_config.RunConfig.load("synthetic").parameters()
    for key, default in declared.items():
        if key in RUNNER_PARAMETERS:
            assert ast.literal_eval(default) is None, f"{name}: {key} defaults to the data source's own folder"
            continue
        assert key in pp, f"{name}: parameter {key} is not in params/pipeline.yml"
        assert ast.literal_eval(default) == pp[key], f"{name}: default of {key} differs from params/pipeline.yml"


def test_synthesize_defaults_come_from_the_generator_file():
    """None means 'as in params/synthetic.yml', the single source of the seed and sizes."""
    declared = {k: ast.literal_eval(v) for k, v in scheduler.notebook_parameters(steps.SYNTHESIZE).items()}
    assert declared == {"seed": None, "n_clinics": None, "n_clinicians": None, "n_patients": None, "data_dir": None}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_code_is_short_and_defines_no_logic(name):
    nb = _nb(name)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree))
        if "parameters" not in cell.metadata.get("tags", []):   # literals only, checked above
            imports = {line for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                       for line in range(n.lineno, n.end_lineno + 1)}      # one line per layer imported from
            assert len(cell.source.splitlines()) - len(imports) <= 12
        assert "Path(" not in cell.source and "/results" not in cell.source, "paths come from trustlib.paths"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_carry_executed_outputs(name):
    nb = _nb(name)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count is not None for c in code)
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_are_for_a_reader(name):
    """No warnings on stderr, no path of the machine that ran them, no value cut short by "..."."""
    nb = _nb(name)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert str(paths.ROOT) not in text and "/home/" not in text and "/tmp/" not in text
    assert not re.search(r"\S\.\.\.(\s|$)", text), re.search(r".{40}\S\.\.\.", text)


@pytest.mark.parametrize("name", ["04_figures", "06_robustness", "07_simulation_check", "09_clinic_influence"])
def test_committed_notebooks_show_every_figure_they_write(name):
    """A cell that writes a figure to results/figures/ also shows it (an image output), so a
    reader of the committed notebook sees every figure; a library that switched matplotlib to
    a non-interactive backend at import would fail this."""
    nb = _nb(name)
    writing = [c for c in nb["cells"] if c["cell_type"] == "code" and "out.figure(" in "".join(c["source"])]
    assert writing, f"{name} writes no figure"
    for cell in writing:
        images = [o for o in cell.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {}))]
        assert images, f"{name}: a cell writes a figure but shows none:\n{''.join(cell['source'])[:200]}"


def _pixels(png: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.mark.acceptance
@pytest.mark.parametrize("name", ["04_figures", "06_robustness", "07_simulation_check", "09_clinic_influence"])
def test_committed_notebooks_show_the_figure_files_themselves(name):
    """The images a reader sees in the committed notebook are the PNG files the run wrote to
    results/figures/ (the notebook shows the saved file rather than a second rendering), one
    image per file, in the order written: drawn from the same data (the digest in each image's
    text, which the text comparison below checks), of the same size, and with at most
    PIXEL_TOLERANCE of the pixels different."""
    import base64
    import json

    import numpy as np

    record = json.loads(paths.result("synthetic", "provenance", f"{name}.json").read_text())
    written = {p: paths.result("synthetic", *p.split("/")).read_bytes()
               for p in record["outputs"] if p.startswith("figures/") and p.endswith(".png")}
    assert written, f"{name} wrote no PNG"
    shown = {o["data"]["text/plain"].strip("<>").split(" ")[1]: base64.b64decode(o["data"]["image/png"])
             for c in _nb(name).cells if c.cell_type == "code"
             for o in c.get("outputs", []) if "image/png" in o.get("data", {})}
    assert sorted(shown) == sorted(written)
    for path, data in written.items():
        a, b = _pixels(shown[path]), _pixels(data)
        assert a.shape == b.shape, f"{name}: the image shown for {path} has another size than the file"
        differ = np.any(a != b, axis=-1).mean()
        assert differ <= PIXEL_TOLERANCE, f"{name}: {differ:.2%} of the pixels of {path} differ from the file"


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of tests/nbval_sanitize.cfg (the file strict nbval uses)."""
    cfg = configparser.ConfigParser()
    cfg.read(paths.ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def _shown(nb) -> list[list[str]]:
    """Per code cell (papermill's injected cell left out): what nbval compares, sanitized:
    printed stdout and each result's text/plain; plus a marker per image shown."""
    subs = _sanitizers()
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        shown = []
        for o in cell.outputs:
            if o.output_type == "stream" and o.name == "stdout":
                shown.append(o.text)
            elif o.output_type in ("execute_result", "display_data"):
                shown.append(o.data.get("text/plain", ""))
                shown += [k for k in o.data if k.startswith("image/png")]
            elif o.output_type == "error":
                shown.append(f"{o.ename}: {o.evalue}")
        for pattern, repl in subs:
            shown = [pattern.sub(repl, t) for t in shown]
        cells.append(shown)
    return cells


@pytest.mark.acceptance
@pytest.mark.parametrize("name", steps.ANALYSIS)
def test_committed_outputs_equal_the_run(name):
    """What a reader sees in the committed notebook is what `make all` just computed (else
    `make notebooks` refreshes them)."""
    executed = paths.result("synthetic", "notebooks", f"{name}.ipynb")
    if not executed.exists():
        pytest.fail(f"{paths.relative(executed)} is missing: run `make all` before the tests")
    committed, ran = _shown(_nb(name)), _shown(nbformat.read(executed, as_version=4))
    assert len(committed) == len(ran)
    for i, (c, r) in enumerate(zip(committed, ran)):
        assert c == r, f"{name}, code cell {i + 1}: the committed output differs from the run's; run `make notebooks`"


def test_sequential_order_runs_every_notebook_after_its_inputs():
    order = steps.sequential_order()
    assert sorted(order) == sorted(steps.ANALYSIS)
    for name, step in steps.STEPS.items():
        assert all(order.index(r) < order.index(name) for r in step.reads), name


def test_make_nbval_collects_every_notebook_in_that_order():
    """`make nbval`'s set-up (notebooks/conftest.py) runs, and collects the notebooks each after
    the ones it reads (`make test` runs strict nbval itself only when notebooks/ has changes)."""
    import subprocess
    import sys

    make = (paths.ROOT / "Makefile").read_text()
    nbval = re.search(r"^NBVAL := (.*)$", make, re.M).group(1).replace("$(KERNEL)", scheduler.KERNEL).split()
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *nbval, "--collect-only", "-q",
                          "notebooks"], cwd=paths.ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    collected = list(dict.fromkeys(line.split("::")[0].rsplit("/", 1)[-1].removesuffix(".ipynb")
                                   for line in run.stdout.splitlines() if "::" in line))
    assert collected == [steps.SYNTHESIZE] + steps.sequential_order()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_papermill_sees_every_parameter(name):
    """Papermill injects only the parameters it can parse (it skips a line holding two '='),
    so every assignment in the parameters cell must be one it declares."""
    cell = _nb(name).cells[1]
    assigned = [t.id for n in ast.parse(cell.source).body for t in n.targets]
    assert sorted(scheduler.notebook_parameters(name)) == sorted(assigned)


@pytest.mark.parametrize("name", steps.ANALYSIS)
def test_the_first_cell_says_what_the_notebook_reads_and_links_the_glossary(name):
    first = _nb(name).cells[0].source
    reads = next(line for line in first.splitlines() if line.startswith("**Reads**"))
    for step in steps.get(name).reads:
        assert step[:2] in reads, f"{name} does not say it reads notebook {step[:2]}"
    assert "](../docs/glossary.md)" in first and (paths.ROOT / "docs" / "glossary.md").exists()

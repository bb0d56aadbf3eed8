"""CONTRIBUTING.md's recipes, followed to the letter in a copy of the repository.

A fifth culture measure: only the files its steps name are edited, then its make targets run
(``make synthetic``, ``make all``, ``make notebooks``), then the tests that read the measures and
the run pass in the copy. An estimator: its module, the registry's import and line, its name in
``params/pipeline.yml`` and the notebooks' parameters cells; a run then shows it in Table 2 (fitted
in notebook 03's kernel) and in the specification curve fitted by joblib worker processes, which
know only what the registry's module declares. The steps are read from CONTRIBUTING.md itself, so a
recipe that names another file or target fails here first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest

from sandbox import copy_repository, link_environment, make_small
from trustlib import paths

pytestmark = [pytest.mark.acceptance, pytest.mark.xdist_group("contributing")]

NEW = "teamwork"
ESTIMATOR = "logit_naive"


def recipe(title: str) -> str:
    """The numbered steps of one section of CONTRIBUTING.md."""
    text = (paths.ROOT / "CONTRIBUTING.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("\n\n", 1)[0]


def named(steps: str, pattern: str) -> list[str]:
    return list(dict.fromkeys(re.findall(pattern, steps)))


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A copy of the repository (code, notebooks, data, parameters with the small grid, the
    Makefile, scripts, docs and tests) with the environment linked, as a contributor's clone."""
    root = make_small(copy_repository(tmp_path_factory.mktemp("contributing")))
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-lab.lock", "README.md",
                 "CONTRIBUTING.md", "CHANGELOG.md"):
        shutil.copy2(paths.ROOT / name, root / name)
    for folder in ("scripts", "docs", "tests"):
        shutil.copytree(paths.ROOT / folder, root / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return link_environment(root)


def sh(box, *command: str) -> subprocess.CompletedProcess:
    """A command in the copy, whose trustlib its kernels and workers import (PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(box)}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(list(command), cwd=box, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_fifth_measure_added_as_contributing_says_runs_and_passes_the_tests(box):
    steps = recipe("A culture measure (a fifth scale)")
    assert named(steps, r"`((?:data|params)/[\w./]+)`") == ["data/codebook.csv", "data/scales.csv",
                                                              "params/synthetic.yml", "data/published.csv"]
    assert named(steps, r"`(make \w+)`") == ["make synthetic", "make all", "make notebooks", "make test"]
    # 1. data/codebook.csv: one row per item
    codebook = box / "data" / "codebook.csv"
    template = next(line for line in codebook.read_text().splitlines() if line.startswith("quality_1,"))
    rows = [template.replace("quality_1,", f"{NEW}_{k},", 1).replace(",quality,", f",{NEW},", 1)
            .replace("Culture: emphasis on quality", "Culture: teamwork") for k in (1, 2, 3)]
    codebook.write_text(codebook.read_text() + "\n".join(rows) + "\n")
    # 2. data/scales.csv: one row
    scales = box / "data" / "scales.csv"
    scales.write_text(scales.read_text() + f"{NEW},Teamwork among clinicians,Teamwork,1-4,item mean (1-4),2,exposure\n")
    # 3. params/synthetic.yml: its four latent values, then make synthetic
    synthetic = box / "params" / "synthetic.yml"
    text = synthetic.read_text()
    for key, value in (("culture_loading", 0.6), ("scale_mean", 2.9), ("scale_sd", 0.5), ("culture_item_noise", 0.3)):
        text, n = re.subn(rf"(\n  {key}:[^\n]*\n(?:    \w+: [^\n]*\n)+)", rf"\g<1>    {NEW}: {value}\n", text, count=1)
        assert n == 1, key
    synthetic.write_text(text)
    sh(box, "make", "synthetic")
    assert f"{NEW}_1" in (box / "data" / "synthetic" / "clinicians.csv").read_text().splitlines()[0]
    # 4. data/published.csv: the paper does not publish it. 5. make all, then make notebooks
    sh(box, "make", "all")
    sh(box, "make", "notebooks")
    table2 = pd.read_csv(box / "results" / "tables" / "table2.csv")
    assert NEW in set(table2["measure"]) and table2[table2["measure"] == NEW]["converged"].all()
    certified = json.loads((box / "canonical" / "certificate.json").read_text())
    assert any(NEW in key for key in certified["numbers"])
    # the tests that count the measures, read the run or compare the committed notebooks with it
    sh(box, ".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
       "tests/test_codebook.py", "tests/test_scales.py", "tests/test_results.py", "tests/test_certificate.py",
       "tests/test_scorecard.py", "tests/test_describe.py")


def test_an_estimator_added_as_contributing_says_reaches_a_kernel_and_joblib_workers(box):
    steps = recipe("An estimator")
    assert named(steps, r"`((?:trustlib|params)/[\w./]+)`") == ["trustlib/stats/", "trustlib/stats/estimators.py",
                                                                  "params/pipeline.yml"]
    # 1. its module in trustlib/stats/, fit(X, y, groups, nagq=...) returning a Fit from trustlib.stats.fit
    (box / "trustlib" / "stats" / f"{ESTIMATOR}.py").write_text(
        '"""Logistic regression with model-based (naive) standard errors: no clinic at all."""\n\n'
        "import numpy as np\n\nfrom .fit import Fit\n\n\n"
        "def fit(X, y, groups, nagq=1):\n"
        "    from statsmodels.discrete.discrete_model import Logit   # inside fit, as the recipe says\n\n"
        "    r = Logit(y, X).fit(disp=0)\n"
        "    return Fit(np.asarray(r.params), np.asarray(r.cov_params()), float(r.llf), bool(r.mle_retvals['converged']),\n"
        "               len(y), len(set(groups)))\n")
    # 2. in trustlib/stats/estimators.py, an import of the module and one line in REGISTRY
    registry = box / "trustlib" / "stats" / "estimators.py"
    text = registry.read_text().replace("from .fit import Fit", f"from . import {ESTIMATOR}\nfrom .fit import Fit", 1)
    text, n = re.subn(r"(\n\]\}\)\n)", f'\n    Estimator("{ESTIMATOR}", "logistic, naive SE", "marginal", True, {ESTIMATOR}.fit),\\g<1>',
                      text, count=1)
    assert n == 1
    registry.write_text(text)
    # 3. its name in estimators: in params/pipeline.yml, and the same default in the notebooks' parameters cells
    pipeline = box / "params" / "pipeline.yml"
    old = "estimators: [glmm, gee, logit_cluster]"
    assert old in pipeline.read_text()
    pipeline.write_text(pipeline.read_text().replace(old, f"estimators: [glmm, gee, logit_cluster, {ESTIMATOR}]", 1))
    for notebook in (box / "notebooks").glob("*.ipynb"):
        nb = json.loads(notebook.read_text())
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        source = "".join(cell["source"])
        if 'estimators = ["glmm", "gee", "logit_cluster"]' in source:
            cell["source"] = source.replace('"logit_cluster"]', f'"logit_cluster", "{ESTIMATOR}"]').splitlines(True)
            notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    # then make all and make notebooks
    sh(box, "make", "all")
    sh(box, "make", "notebooks")
    shown = (box / "results" / "tables" / "table2_all_estimators.md").read_text()
    assert "logistic, naive SE" in shown                                     # fitted in notebook 03's kernel
    committed = json.loads((box / "notebooks" / "03_model_culture_and_trust.ipynb").read_text())
    assert "logistic, naive SE" in json.dumps(committed["cells"])             # the committed notebook shows it
    # the specification curve fitted by two joblib worker processes
    run = sh(box, ".venv/bin/python", "-m", "trustlib", "run", "--set", "n_jobs=2")
    assert "06_robustness executing" in run.stdout
    curve = pd.read_csv(box / "results" / "tables" / "specification_curve.csv")
    mine = curve[curve["model"] == ESTIMATOR]
    assert len(mine) == len(curve) // 4 and mine["or"].notna().all()
    # the tests that read the registry: every estimator's contract, bad inputs, tables, the imports
    sh(box, ".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/test_estimators.py",
       "tests/test_fit.py", "tests/test_models.py", "tests/test_robustness.py",
       "tests/test_calibration.py::test_notebook_08s_library_does_not_import_scipy_stats")

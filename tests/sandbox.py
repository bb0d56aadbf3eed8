"""A temporary copy of the repository for acceptance tests that run the pipeline on raw data.

Every raw-mode run happens in a copy (:func:`sandbox`): the user's own ``data/raw/`` and
``results_raw/`` are never read, moved or written (the session guard in ``conftest.py``
checks them byte for byte after the suite). Test modules import the fixtures from here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trustlib import paths

RENAME = {"org_trust_1": "TRUST_BELONG", "quality_2": "CULT_Q2", "age": "AGE_YEARS"}


SANDBOX_PARTS = ("trustlib", "notebooks", "data", "params", "canonical")


def copy_repository(root: Path) -> Path:
    """Copy the code, notebooks, parameters and committed data, without any data/raw/, to ``root``."""
    for part in SANDBOX_PARTS:
        shutil.copytree(paths.ROOT / part, root / part,
                        ignore=shutil.ignore_patterns("raw", "__pycache__", ".ipynb_checkpoints"))
    shutil.copy2(paths.CITATION, root / paths.CITATION.name)     # the article's byline
    for doc in paths.REPORT_DOCS:                 # the report carries a page of each
        (root / doc.relative_to(paths.ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(doc, root / doc.relative_to(paths.ROOT))
    return root


ENVIRONMENT_INPUTS = ("pyproject.toml", "requirements.lock", "requirements-lab.lock")


def link_environment(root: Path) -> Path:
    """Link this repository's ``.venv`` into the copy at ``root``, which holds copies of the
    files the environment is built from (:data:`ENVIRONMENT_INPUTS`), dated a second before the
    environment's stamp: a ``make`` in the copy never re-installs into the linked environment (an editable
    install of the copy's trustlib, and its kernel, would replace this repository's). Fails when
    the environment is older than those files here: ``make env`` first."""
    stamp = paths.ROOT / ".venv" / ".installed"
    newer = [n for n in ENVIRONMENT_INPUTS if not stamp.exists() or (paths.ROOT / n).stat().st_mtime > stamp.stat().st_mtime]
    if newer:
        pytest.fail(f".venv is older than {', '.join(newer)}: run `make env` (or `make all`) before the tests")
    when = stamp.stat().st_mtime_ns - 10 ** 9          # a second before the stamp, to the nanosecond
    for name in ENVIRONMENT_INPUTS:
        os.utime(root / name, ns=(when, when))
    (root / ".venv").symlink_to(paths.ROOT / ".venv")
    stale = subprocess.run(["make", "-q", ".venv/.installed"], cwd=root, capture_output=True)
    assert stale.returncode == 0, "make in the copy would re-install into this repository's .venv"
    return root


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A copy of the code, notebooks, parameters, committed data and the docs the report carries,
    without any data/raw/."""
    return copy_repository(tmp_path_factory.mktemp("repo"))


def cli(*args, env=None, root: Path = paths.ROOT) -> subprocess.CompletedProcess:
    """``python -m trustlib`` on the repository at ``root`` (its notebook kernels import it too)."""
    env = {**os.environ, **(env or {})}
    if root != paths.ROOT:
        env["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "trustlib", *args], cwd=root, capture_output=True,
                          text=True, env=env, timeout=600)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


# missing answers written as Stata's missing codes, the same data as the -9 they replace: 3 and 1
# clinicians (fewer than the disclosure threshold) and 11 patient surveys (as many)
STATA_MISSING = {"clinicians": {"org_trust_3": ".", "alignment_2": ".a"}, "patients": {"pt_trust_03": "."}}


def write_raw_extract(raw: Path):
    """The synthetic cohort as a messy extract: shuffled rows, renamed columns, a mapping file,
    some missing answers as Stata's missing codes (:data:`STATA_MISSING`)."""
    raw.mkdir(parents=True, exist_ok=True)
    for i, table in enumerate(paths.TABLES):
        df = pd.read_csv(paths.table_file("synthetic", table), dtype=str, keep_default_na=False)
        for column, code in STATA_MISSING.get(table, {}).items():
            df[column] = df[column].replace("-9", code)
        df = df.sample(frac=1.0, random_state=10 + i).rename(columns=RENAME)
        name = "Clinician_Survey_2013.csv" if table == "clinicians" else f"{table}.csv"
        df.to_csv(raw / name, index=False)
    (raw / "column_map.yml").write_text(
        "clinicians:\n  file: Clinician_Survey_2013.csv\n  columns:\n"
        + "".join(f"    {new}: {old}\n" for old, new in RENAME.items()))


# a smaller robustness grid and Monte Carlo than the canonical run's, written into a sandbox's own
# params/pipeline.yml: nothing the raw-run tests check depends on their size (the notebooks up to 05
# run with the canonical parameters), and the sandbox's documented commands then run as documented
SMALL = {"robust_org_cutoffs": "[3.0]", "robust_patient_cutoffs": "[median]", "robust_min_surveys": "[3]",
         "robust_cutoff_rules": "[at_or_above]", "sim_replicates": "2", "unselected_seeds": "3"}


def make_small(root: Path) -> Path:
    """Give the sandbox at ``root`` the small grid and Monte Carlo of :data:`SMALL` (comments kept)."""
    import re

    path = root / "params" / "pipeline.yml"
    text = path.read_text()
    for key, value in SMALL.items():
        text, n = re.subn(rf"^{key}:(\s*)\S.*?(\s+#|$)", rf"{key}:\g<1>{value}\g<2>", text, count=1, flags=re.M)
        assert n == 1, key
    path.write_text(text)
    return root


@pytest.fixture(scope="session")
def full_raw_run_once(tmp_path_factory) -> Path:
    """One complete raw run (every raw notebook) on the cohort as a messy extract
    (:func:`write_raw_extract`), made once per test worker (``conftest.py`` registers it, so that
    every module shares it); use it through :func:`raw_run`."""
    root = make_small(copy_repository(tmp_path_factory.mktemp("raw-run")))
    write_raw_extract(root / "data" / "raw")
    run = cli("run", "--data", "raw", root=root)
    assert run.returncode == 0, run.stderr
    return root


@pytest.fixture(scope="module")
def raw_run(full_raw_run_once, tmp_path_factory) -> Path:
    """A test module's own copy of the complete raw run, which its tests may change and rerun.
    Modules using it share one xdist group (``rawrun``), so one worker makes the run once."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(full_raw_run_once, root, dirs_exist_ok=True, symlinks=True)
    return root

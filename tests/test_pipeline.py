"""Real-data mode end to end: renamed and shuffled extracts reproduce the synthetic tables;
bad input stops the run with a clear message and leaves earlier results untouched.

Every raw-mode run here happens in a temporary copy of the repository (:func:`sandbox`): the
user's own ``data/raw/`` and ``results_raw/`` are never read, moved or written (the session
guard in ``conftest.py`` checks them byte for byte after the suite)."""

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


SANDBOX_PARTS = ("trustlib", "notebooks", "data", "params")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A copy of the code, notebooks, parameters and committed data, without any data/raw/."""
    root = tmp_path_factory.mktemp("repo")
    for part in SANDBOX_PARTS:
        shutil.copytree(paths.ROOT / part, root / part,
                        ignore=shutil.ignore_patterns("raw", "__pycache__", ".ipynb_checkpoints"))
    return root


def _cli(*args, env=None, root: Path = paths.ROOT) -> subprocess.CompletedProcess:
    """``python -m trustlib`` on the repository at ``root`` (its notebook kernels import it too)."""
    env = {**os.environ, **(env or {})}
    if root != paths.ROOT:
        env["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "trustlib", *args], cwd=root, capture_output=True,
                          text=True, env=env, timeout=600)


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _write_raw_extract(raw: Path):
    """The synthetic cohort as a messy extract: shuffled rows, renamed columns, a mapping file."""
    raw.mkdir(parents=True, exist_ok=True)
    for i, table in enumerate(paths.TABLES):
        df = pd.read_csv(paths.table_file("synthetic", table), dtype=str, keep_default_na=False)
        df = df.sample(frac=1.0, random_state=10 + i).rename(columns=RENAME)
        name = "Clinician_Survey_2013.csv" if table == "clinicians" else f"{table}.csv"
        df.to_csv(raw / name, index=False)
    (raw / "column_map.yml").write_text(
        "clinicians:\n  file: Clinician_Survey_2013.csv\n  columns:\n"
        + "".join(f"    {new}: {old}\n" for old, new in RENAME.items()))


@pytest.fixture(scope="module")
def raw_run(sandbox):
    _write_raw_extract(sandbox / "data" / "raw")
    run = _cli("run", "--data", "raw", "--only", "01_prepare_data", "02_describe_sample",
               "03_model_culture_and_trust", "05_scorecard", root=sandbox,
               env={"PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    return sandbox


def test_raw_runs_use_the_sandbox_not_the_users_folders(raw_run):
    assert (raw_run / "results_raw" / "analysis_table.csv").exists()
    assert (raw_run / "results_raw" / "manifest.json").read_text().count(str(paths.ROOT)) == 0


@pytest.mark.parametrize("output", ["analysis_table.csv", "tables/table2.csv", "tables/flow.csv",
                                    "tables/reliability.csv", "scorecard.csv", "numbers/01_prepare_data.json",
                                    "numbers/03_model_culture_and_trust.json"])
def test_raw_extract_reproduces_the_synthetic_tables_exactly(raw_run, output):
    synthetic = paths.result("synthetic", output)
    if not synthetic.exists():
        pytest.fail(f"{paths.relative(synthetic)} missing: run `make all` before the tests")
    assert (raw_run / "results_raw" / output).read_bytes() == synthetic.read_bytes()


def test_raw_run_suppresses_small_cells(raw_run):
    table1 = pd.read_csv(raw_run / "results_raw" / "tables" / "table1.csv", dtype=str, keep_default_na=False)
    long = pd.read_csv(paths.result("synthetic", "tables", "table1.csv"), dtype=str, keep_default_na=False)
    assert table1.shape == long.shape
    small = pd.read_csv(paths.analysis_table("synthetic")).groupby("quadrant").size().min()
    if small < 11:
        assert (table1 == "<11").any().any()


def test_manifest_records_inputs_outputs_and_provenance(raw_run):
    import json

    man = json.loads((raw_run / "results_raw" / "manifest.json").read_text())
    assert man["data_source"] == "raw"
    assert "data/raw/Clinician_Survey_2013.csv" in man["inputs"]
    assert "data/raw/column_map.yml" in man["inputs"]
    out = man["outputs"]["results_raw/tables/table2.csv"]
    assert out["notebook"] == "notebooks/03_model_culture_and_trust.ipynb"
    assert out["parameters"]["data_source"] == "raw" and len(out["sha256"]) == 64
    assert set(man["git"]) == {"commit", "dirty"} and "pandas" in man["packages"]


def _break_and_run(root: Path, name: str, mutate, steps: list[str]):
    """Run ``steps`` with data/raw/``name`` mutated (then restored); return the run and results before/after."""
    path = root / "data" / "raw" / name
    before = _snapshot(root / "results_raw")
    good = path.read_text()
    try:
        mutate(path, good)
        run = _cli("run", "--data", "raw", "--only", *steps, root=root)
    finally:
        path.write_text(good)
    return run, before, _snapshot(root / "results_raw")


def test_bad_input_stops_with_a_clear_message_and_keeps_results(raw_run):
    def out_of_range(path, good):
        lines = good.splitlines()
        cells = lines[5].split(",")
        cells[4] = "9"                      # pt_trust_01 out of range on line 6
        lines[5] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")

    run, before, after = _break_and_run(raw_run, "patients.csv", out_of_range,
                                        ["01_prepare_data", "02_describe_sample"])
    assert run.returncode != 0
    assert "data/raw/patients.csv, column 'pt_trust_01'" in run.stderr and "lines 6" in run.stderr
    assert "step 01_prepare_data failed" in run.stderr and "Traceback" not in run.stderr
    assert before == after
    assert (raw_run / ".stage" / "failed" / "raw" / "01_prepare_data.ipynb").exists()


def test_model_failure_names_the_model_and_keeps_results(raw_run):
    def constant_quality(path, good):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for c in ("quality_1", "CULT_Q2"):
            df[c] = "3"
        df["quality_3"] = "2"               # reverse-worded: 2 -> 3, so every quality score is 3.0
        df.to_csv(path, index=False)

    run, before, after = _break_and_run(raw_run, "Clinician_Survey_2013.csv", constant_quality,
                                        ["01_prepare_data", "03_model_culture_and_trust"])
    assert run.returncode != 0
    assert "step 03_model_culture_and_trust failed" in run.stderr and "'quality'" in run.stderr
    assert "constant" in run.stderr
    assert before == after


def test_refreshing_committed_notebooks_refuses_raw_data():
    run = _cli("refresh-notebooks", "--data", "raw")
    assert run.returncode == 1 and "refusing" in run.stderr


def test_validate_command_lists_problems(tmp_path):
    for table in paths.TABLES:
        shutil.copy(paths.table_file("synthetic", table), tmp_path / f"{table}.csv")
    ok = _cli("validate", str(tmp_path))
    assert ok.returncode == 0 and "valid (34 clinics, 165 clinicians, 1132 patients)" in ok.stdout
    (tmp_path / "clinics.csv").write_text("clinic_id;region\nK01;nyc\n")
    bad = _cli("validate", str(tmp_path))
    assert bad.returncode == 1 and "clinics.csv: uses ';' as the delimiter" in bad.stderr


@pytest.mark.parametrize("command", [[], ["validate"], ["run"], ["refresh-notebooks"], ["verify"], ["report"]])
def test_every_command_has_help(command):
    run = _cli(*command, "--help")
    assert run.returncode == 0 and "usage:" in run.stdout


def test_private_paths_are_git_ignored():
    for rel in ("data/raw/patients.csv", "data/raw/column_map.yml", "results_raw/tables/table2.csv",
                "results/analysis_table.csv", ".stage/failed/raw/x.ipynb"):
        check = subprocess.run(["git", "check-ignore", "-q", rel], cwd=paths.ROOT)
        assert check.returncode == 0, f"{rel} is not git-ignored"
    tracked = subprocess.run(["git", "ls-files", "data/raw"], cwd=paths.ROOT, capture_output=True, text=True)
    assert [f for f in tracked.stdout.split() if not f.endswith("README.md")] == []

"""IDs are text from the extract to the last notebook: clinic IDs "7", "007" and "NA", and
clinician IDs "12" and "0012", are five different IDs, and a raw run on the shipped cohort with
its IDs renamed so gives the synthetic run's Table 2 and counts (acceptance: a raw run in a
sandbox, :mod:`sandbox`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sandbox import cli, copy_repository
from trustlib import paths

pytestmark = pytest.mark.xdist_group("machines")
CLINICS = {"K07": "7", "K08": "007", "K09": "NA"}
CLINICIANS = {"C012": "12", "C013": "0012", "C014": "NA"}


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    if not paths.result("synthetic", "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    root = copy_repository(tmp_path_factory.mktemp("ids"))
    raw = root / "data" / "raw"
    raw.mkdir()
    for table in paths.TABLES:
        df = pd.read_csv(paths.table_file("synthetic", table), dtype=str, keep_default_na=False)
        for col, mapping in (("clinic_id", CLINICS), ("clinician_id", CLINICIANS)):
            if col in df:
                df[col] = df[col].replace(mapping)
        df.to_csv(raw / f"{table}.csv", index=False)
    run = cli("run", "--data", "raw", "--only", "03_model_culture_and_trust", root=root)
    assert run.returncode == 0, run.stderr
    return root / "results_raw"


def test_ids_stay_themselves_in_every_private_table(renamed):
    analysis = pd.read_csv(renamed / "private" / "analysis_table.csv", dtype=str, keep_default_na=False)
    assert set(CLINICS.values()) <= set(analysis["clinic_id"]) and analysis["clinic_id"].nunique() == 34
    assert set(CLINICIANS.values()) & set(analysis["clinician_id"]) and analysis["clinician_id"].is_unique
    assert len(analysis) == 162


def test_table2_and_the_counts_are_the_synthetic_runs(renamed):
    """At full precision (kept in private/ on the trial's data) byte for byte the synthetic run's."""
    full = renamed / "private" / "full" / "tables" / "table2.csv"
    assert full.read_bytes() == paths.result("synthetic", "tables", "table2.csv").read_bytes()
    raw = json.loads((renamed / "private" / "numbers" / "03_model_culture_and_trust.json").read_text())
    synthetic = json.loads(paths.result("synthetic", "numbers", "03_model_culture_and_trust.json").read_text())
    assert raw == synthetic

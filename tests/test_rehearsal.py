"""The rehearsal extract: the synthetic cohort written as the trial's export would come (the
example column map's files and columns, one workbook sheet under title lines, the missing code),
read back through that map to the very same tables, and `make all DATA=rehearsal`'s run on it,
end to end in a sandbox: the raw path, disclosure control, the banner, the release register and
the paper's printed precision in what it shares."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sandbox import cli, copy_repository, make_small
from trustlib import paths
from trustlib.data import contract, rehearsal

pytestmark = pytest.mark.xdist_group("rehearsal")


def test_the_extract_has_the_example_maps_files_and_reads_back_as_the_cohort(tmp_path):
    from openpyxl import load_workbook

    folder = rehearsal.write(tmp_path / "rehearsal")
    assert sorted(p.name for p in folder.iterdir()) == ["HWP_clinician_baseline.csv", "HWP_patient_baseline.csv",
                                                        "HWP_sites.xlsx", "column_map.yml"]
    header = pd.read_csv(folder / "HWP_clinician_baseline.csv", nrows=0).columns
    assert {"CLIN_ID", "SITE_ID", "TRUST_BELONG", "TRUST_LOYAL"} <= set(header) and "clinician_id" not in header
    wb = load_workbook(folder / "HWP_sites.xlsx")
    assert wb.sheetnames == ["Sites"] and wb["Sites"].sheet_state == "visible"
    assert wb["Sites"]["A3"].value == "SITE_ID"                                   # header_row: 3
    read, ours = contract.load_folder(folder), contract.load_folder(paths.data_dir("synthetic"))
    for table in paths.TABLES:
        key = {"clinics": "clinic_id", "clinicians": "clinician_id", "patients": "patient_id"}[table]
        a = read[table].sort_values(key).reset_index(drop=True)
        b = ours[table].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a[sorted(b.columns)], b[sorted(b.columns)], check_dtype=False)


@pytest.mark.slow
def test_make_all_data_rehearsal_runs_the_raw_path_end_to_end(tmp_path_factory):
    root = make_small(copy_repository(tmp_path_factory.mktemp("rehearse")))
    made = cli("rehearsal", root=root)
    assert made.returncode == 0 and "data/rehearsal/" in made.stdout, made.stderr
    run = cli("run", "--data", "rehearsal", root=root)
    assert run.returncode == 0, run.stderr
    assert "outputs in results_rehearsal/" in run.stdout and "suppressed, not compared" in run.stdout
    results = root / "results_rehearsal"
    assert "Confidential" in (results / "report" / "index.html").read_text()
    assert "Confidential" in (results / "article" / "index.html").read_text()
    assert not (results / "notebooks" / "08_unselected_seeds.ipynb").exists()        # a synthetic-only step
    assert (root / ".results_rehearsal.releases").exists()
    assert not (root / "results_raw").exists() and not (root / "results").exists()
    # the release carries the paper's precision, the full values stay in private/
    numbers = json.loads((results / "numbers.json").read_text())
    full = {}
    for frag in (results / "private" / "numbers").glob("*.json"):
        full.update(json.loads(frag.read_text()))
    assert set(full) == set(numbers)
    ors = [k for k in numbers if k.startswith("table2.") and k.endswith(".or") and numbers[k] is not None]
    assert ors and all(numbers[k] == round(full[k], 2) for k in ors)
    assert all(numbers[k] == full[k] for k in numbers if k.startswith("published."))   # the paper's, as printed
    floats = [k for k, v in numbers.items() if isinstance(v, float) and not v.is_integer()
              and not k.startswith("published.")]
    two_decimals = (".or", ".ci_low", ".ci_high", "full_or", "or_min", "or_max", "or_median", "true_or")
    assert all(float(f"{numbers[k]:.3g}") == numbers[k] for k in floats if not k.endswith(two_decimals))
    assert all(round(numbers[k], 2) == numbers[k] for k in floats if k.endswith(two_decimals))
    assert any(numbers[k] != full[k] for k in floats)                 # 6 digits would have been published
    shared = pd.read_csv(results / "tables" / "table2.csv")
    assert (shared["or"].dropna() == shared["or"].dropna().round(2)).all()
    kept = pd.read_csv(results / "private" / "full" / "tables" / "table2.csv")
    assert (kept["or"].dropna() != kept["or"].dropna().round(2)).any()


def test_a_cohort_three_times_over_has_new_ids_for_each_copy(tmp_path):
    read = contract.load_folder(rehearsal.write(tmp_path / "x3", copies=3))
    ours = contract.load_folder(paths.data_dir("synthetic"))
    for table, key in (("clinics", "clinic_id"), ("clinicians", "clinician_id"), ("patients", "patient_id")):
        assert len(read[table]) == 3 * len(ours[table]) and read[table][key].is_unique
    assert set(read["patients"]["clinician_id"]) == set(read["clinicians"]["clinician_id"])

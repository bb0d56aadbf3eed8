"""Real-data mode end to end (acceptance: runs the pipeline in a sandbox, :mod:`sandbox`):
renamed and shuffled extracts reproduce the synthetic tables; bad input stops the run with a
clear message and leaves earlier results untouched.

Every raw-mode run here happens in a temporary copy of the repository (:func:`sandbox`): the
user's own ``data/raw/`` and ``results_raw/`` are never read, moved or written (the session
guard in ``conftest.py`` checks them byte for byte after the suite)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from sandbox import cli as _cli, raw_run, snapshot as _snapshot  # noqa: F401 (fixtures)
from trustlib import paths

# one worker runs this file and test_disclosure_run.py (they share one raw run): `make test`
# distributes with --dist loadgroup
pytestmark = pytest.mark.xdist_group("rawrun")


@pytest.mark.parametrize("output,full", [
    ("private/analysis_table.csv", "private/analysis_table.csv"),
    ("tables/table2.csv", "private/full/tables/table2.csv"),
    ("numbers/03_model_culture_and_trust.json", "private/numbers/03_model_culture_and_trust.json")])
def test_raw_extract_reproduces_the_synthetic_tables_exactly(raw_run, output, full):
    """The raw run's full-precision file (private/) is the synthetic run's byte for byte; the
    shareable one holds the same values at the paper's printed precision."""
    import json

    from trustlib import store
    from trustlib.publish import outputs

    synthetic = paths.result("synthetic", output)
    if not synthetic.exists():
        pytest.fail(f"{paths.relative(synthetic)} missing: run `make all` before the tests")
    assert (raw_run / "results_raw" / full).read_bytes() == synthetic.read_bytes()
    shared = raw_run / "results_raw" / output
    if output.endswith(".json"):
        assert json.loads(shared.read_text()) == {k: outputs.printed(k, v) for k, v in
                                                  json.loads(synthetic.read_text()).items()}
    elif full != output:
        pd.testing.assert_frame_equal(store.read_table(shared), outputs.printed_frame(store.read_table(synthetic)))


def test_verify_passes_on_a_raw_run_of_the_shipped_cohort(raw_run):
    """Rows disclosure control hid are not compared; every compared row passes."""
    run = _cli("verify", "--data", "raw", root=raw_run)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"scorecard: (\d+) of \1 compared checks pass; [1-9]\d* not compared", run.stdout), run.stdout


def test_raw_run_differs_from_synthetic_only_by_suppression(raw_run):
    """Flow and Table 1 on the same cohort: every raw cell is the synthetic one or `suppressed`."""
    for name in ("flow.csv", "table1.csv", "reliability.csv"):
        from trustlib import store
        from trustlib.publish import outputs

        raw = pd.read_csv(raw_run / "results_raw" / "tables" / name, dtype=str, keep_default_na=False)
        printed = outputs.printed_frame(pd.read_csv(paths.result("synthetic", "tables", name)))   # as a release prints it
        syn = pd.read_csv(io.StringIO(printed.to_csv(index=False, float_format=store.FLOAT_FORMAT)), dtype=str,
                          keep_default_na=False)
        assert raw.shape == syn.shape
        same = raw == syn
        assert (same | (raw == "suppressed")).all().all(), name
        assert not same.all().all(), f"{name}: nothing suppressed"


def test_manifest_records_inputs_outputs_and_provenance(raw_run):
    import json

    man = json.loads((raw_run / "results_raw" / "manifest.json").read_text())
    assert man["data_source"] == "raw"
    assert "data/raw/Clinician_Survey_2013.csv" in man["inputs"]
    assert "data/raw/column_map.yml" in man["inputs"]
    read = json.loads((raw_run / "results_raw" / "provenance" / "inputs.json").read_text())
    assert read["data/raw/Clinician_Survey_2013.csv"] == man["inputs"]["data/raw/Clinician_Survey_2013.csv"]
    out = man["outputs"]["tables/table2.csv"]
    assert out["notebook"] == "notebooks/03_model_culture_and_trust.ipynb" and len(out["sha256"]) == 64
    assert man["parameters"]["data_source"] == "raw"
    assert man["notebooks"] == ["01_prepare_data", "02_describe_sample", "03_model_culture_and_trust",
                                "04_figures", "05_scorecard", "06_robustness",
                                "07_simulation_check", "09_clinic_influence"]  # 08 is synthetic only
    step = man["steps"]["03_model_culture_and_trust"]
    assert step["run"] == "executed" and step["files"]["tables/table2.csv"] == out["sha256"]
    assert step["fingerprint"]["parameters"]["nagq"] == man["parameters"]["nagq"]
    assert set(man["git"]) == {"commit", "dirty"} and "pandas" in man["packages"]


def _break_and_run(root: Path, name: str, mutate, only: str = "05_scorecard"):
    """Run with data/raw/``name`` mutated (then restored); return the run and results before/after."""
    path = root / "data" / "raw" / name
    before = _snapshot(root / "results_raw")
    good = path.read_bytes()
    try:
        mutate(path, good.decode())
        run = _cli("run", "--data", "raw", "--only", only, root=root)
    finally:
        path.write_bytes(good)
    return run, before, _snapshot(root / "results_raw")


def test_bad_input_stops_with_a_clear_message_and_keeps_results(raw_run):
    def out_of_range(path, good):
        lines = good.splitlines()
        cells = lines[5].split(",")
        cells[4] = "9"                      # pt_trust_01 out of range on line 6
        lines[5] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")

    run, before, after = _break_and_run(raw_run, "patients.csv", out_of_range)
    assert run.returncode == 2, run.stderr
    assert "data/raw/patients.csv, column 'pt_trust_01'" in run.stderr and "line 6" in run.stderr
    assert "Traceback" not in run.stderr
    assert "nothing was run: results_raw/ is unchanged" in run.stderr
    assert before == after
    assert not (raw_run / ".results_raw.stage").exists(), "a failed run left its stage behind"


def test_a_measure_that_cannot_be_modelled_is_named_before_any_kernel(raw_run):
    def constant_quality(path, good):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for c in ("quality_1", "CULT_Q2"):
            df[c] = "3"
        df["quality_3"] = "2"               # reverse-worded: 2 -> 3, so every quality score is 3.0
        df.to_csv(path, index=False)

    run, before, after = _break_and_run(raw_run, "Clinician_Survey_2013.csv", constant_quality,
                                        "03_model_culture_and_trust")
    assert run.returncode == 2, run.stderr
    assert "Clinician_Survey_2013.csv, columns 'quality_1', 'CULT_Q2', 'quality_3'" in run.stderr
    assert "the 'quality' score is the same for every modelled clinician" in run.stderr
    assert "nothing was run" in run.stderr and "Traceback" not in run.stderr      # found before any kernel
    assert before == after


def test_a_changed_extract_reruns_and_a_missing_one_fails(raw_run):
    """Inputs are identified by content, including files the column map names: replacing the
    extract under the same file name reruns and reports the new cohort; deleting it fails."""
    full_before = _snapshot(raw_run / "results_raw")
    extract = raw_run / "data" / "raw" / "Clinician_Survey_2013.csv"
    good = extract.read_bytes()
    try:
        old_age = pd.read_csv(raw_run / "results_raw" / "private" / "analysis_table.csv")["age"]
        df = pd.read_csv(extract, dtype=str, keep_default_na=False)
        df["AGE_YEARS"] = (df["AGE_YEARS"].astype(int) + 1).astype(str)   # everyone a year older
        df.to_csv(extract, index=False)
        run = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=raw_run)
        assert run.returncode == 0, run.stderr
        new_age = pd.read_csv(raw_run / "results_raw" / "private" / "analysis_table.csv")["age"]
        assert (new_age - old_age).tolist() == [1] * len(old_age)
        extract.unlink()
        gone = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=raw_run)
        assert gone.returncode == 2 and "Clinician_Survey_2013.csv" in gone.stderr and "not found" in gone.stderr
    finally:
        extract.write_bytes(good)
    assert _snapshot(raw_run / "results_raw") != full_before


def test_a_second_run_on_the_same_results_refuses(raw_run):
    import fcntl

    with open(raw_run / ".results_raw.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write("4242")
        fh.flush()
        run = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=raw_run)
        fcntl.flock(fh, fcntl.LOCK_UN)
    assert run.returncode == 2 and "another run (pid 4242) is writing results_raw/" in run.stderr


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
    assert bad.returncode == 2 and "clinics.csv: uses ';' as the delimiter" in bad.stderr


@pytest.mark.parametrize("command", [[], ["validate"], ["run"], ["synthesize"], ["refresh-notebooks"], ["verify"]])
def test_every_command_has_help(command):
    run = _cli(*command, "--help")
    assert run.returncode == 0 and "usage:" in run.stdout


def test_private_paths_are_git_ignored():
    for rel in ("data/raw/patients.csv", "data/raw/column_map.yml", "results_raw/tables/table2.csv",
                "results/analysis_table.csv", ".results_raw.failed/01_prepare_data.ipynb",
                ".results_raw.stage/analysis_table.csv", "results_raw_old/analysis_table.csv"):
        check = subprocess.run(["git", "check-ignore", "-q", "--no-index", rel], cwd=paths.ROOT)
        assert check.returncode == 0, f"{rel} is not git-ignored"
    tracked = subprocess.run(["git", "ls-files", "data/raw"], cwd=paths.ROOT, capture_output=True, text=True)
    assert [f for f in tracked.stdout.split() if not f.endswith("README.md")] == []


def _executed(root) -> set[str]:
    man = json.loads((root / "results_raw" / "manifest.json").read_text())
    return {name for name, step in man["steps"].items() if step["run"] == "executed"}


def test_only_the_steps_whose_inputs_changed_run_again(full_raw_run_once, tmp_path):
    """A parameter that one notebook declares reruns that notebook only; a sentence edited in a
    notebook reruns it only; the others are carried from the previous results, unchanged. (On its
    own copy of the complete run: the module's copy is changed by the tests above.)"""
    import nbformat

    raw_run = tmp_path / "repo"
    shutil.copytree(full_raw_run_once, raw_run, symlinks=True)
    before = _snapshot(raw_run / "results_raw")
    run = _cli("run", "--data", "raw", "--set", "sim_replicates=3", root=raw_run)
    assert run.returncode == 0, run.stderr
    assert _executed(raw_run) == {"07_simulation_check"}, run.stdout
    assert "notebooks (raw data): those whose inputs changed run into a stage, the others are carried;" in run.stdout
    assert "07_simulation_check executing (parameters changed: sim_replicates)" in run.stdout
    assert "report pages" not in run.stdout            # a carried step's page does not depend on the parameters
    assert re.search(r"outputs in results_raw/ \(executed 1 notebook, carried [1-9]\d* unchanged\)", run.stdout)
    after = _snapshot(raw_run / "results_raw")
    carried = [f for f in before if f.startswith(("tables/table2", "private/", "figures/figure"))
               and "simulation" not in f]         # notebook 07's full-precision copies are its own, new
    assert carried and all(after[f] == before[f] for f in carried)
    path = raw_run / "notebooks" / "04_figures.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nAn edited sentence."
    nbformat.write(nb, path)
    again = _cli("run", "--data", "raw", "--set", "sim_replicates=3", root=raw_run)
    assert again.returncode == 0, again.stderr
    assert _executed(raw_run) == {"04_figures"}, again.stdout
    assert "04_figures executing (its notebook changed)" in again.stdout
    assert "An edited sentence." in (raw_run / "results_raw" / "report" / "04_figures.html").read_text()
    # new report code: every step is carried, but no page the old code rendered (carried files are
    # links to the previous results' files; a page rendered anew is a file of its own)
    results = raw_run / "results_raw"
    page, table = "report/03_model_culture_and_trust.html", "tables/table2.csv"
    inode = {f: (results / f).stat().st_ino for f in (page, table)}
    with open(raw_run / "trustlib" / "publish" / "report.py", "a") as f:
        f.write("\n# an edit to the report's code\n")
    third = _cli("run", "--data", "raw", "--set", "sim_replicates=3", root=raw_run)
    assert third.returncode == 0, third.stderr
    assert _executed(raw_run) == set(), third.stdout
    assert re.search(r"\(executed 0 notebooks, carried [1-9]\d* unchanged\)", third.stdout)
    assert "report pages of the carried notebooks rendered again (trustlib/publish/report.py changed)" in third.stdout
    # a glossary edit writes the glossary's page again, and carries every notebook's page (linked)
    page_inode = (results / page).stat().st_ino
    with open(raw_run / "docs" / "glossary.md", "a") as f:
        f.write("\n**A term.** Added by the test.\n")
    fourth = _cli("run", "--data", "raw", "--set", "sim_replicates=3", root=raw_run)
    assert fourth.returncode == 0, fourth.stderr
    assert "report's glossary page written again (docs/glossary.md changed)" in fourth.stdout
    assert "report pages of the carried" not in fourth.stdout and (results / page).stat().st_ino == page_inode
    assert "Added by the test." in (results / "report" / "glossary.html").read_text()
    assert (results / table).stat().st_ino == inode[table]
    assert (results / page).stat().st_ino != inode[page]
    # the manifest lists each step's page as rendered anew (it is written after the pages)
    steps_run = json.loads((results / "manifest.json").read_text())["steps"]
    pages = {name: hashlib.sha256((results / "report" / f"{name}.html").read_bytes()).hexdigest() for name in steps_run}
    assert pages and all(step["files"].get(f"report/{name}.html") == pages[name] for name, step in steps_run.items())


def test_a_run_says_what_it_will_do_and_what_it_did():
    from trustlib.run import pipeline

    assert pipeline._start_words(9, "synthetic", "results", previous=True, force=False) == (
        "9 notebooks (synthetic data): those whose inputs changed run into a stage, the others are carried; "
        "results/ changes only if all succeed")
    assert pipeline._start_words(9, "synthetic", "results", previous=True, force=True).startswith(
        "running 9 notebooks (synthetic data, forced: none carried) into a stage;")
    assert pipeline._start_words(9, "raw", "results_raw", previous=False, force=False) == (
        "running 9 notebooks (raw data) into a stage; results_raw/ changes only if all succeed")
    assert pipeline._executed_words(["a", "b", "c"], {"b", "c"}) == "executed 1 notebook, carried 2 unchanged"
    assert pipeline._executed_words(["a", "b"], set()) == "executed 2 notebooks"

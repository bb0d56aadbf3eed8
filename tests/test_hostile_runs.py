"""Hostile inputs and faults given to a whole raw run (``python -m trustlib run --data raw``):
each stops with exit status 2 and a message naming what is wrong, before any notebook starts,
and the previous results folder is byte-identical afterwards.

Acceptance: the run's command line is called in this process on a temporary repository root
(``paths.ROOT`` pointed at it), whose ``results_raw/`` holds a complete earlier run (a copy of
the synthetic results). The user's own ``data/raw/`` and ``results_raw/`` are never touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import read_text_table, write_text_table
from sandbox import snapshot
from test_contract import BAD_COLUMN_MAPS, BROKEN, HOSTILE, _orphan_with_free_text_first, _set
from test_formats import write
from trustlib import paths
from trustlib.run.cli import main

pytestmark = pytest.mark.xdist_group("hostile")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    synthetic = paths.results_dir("synthetic")
    if not (synthetic / "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    base = tmp_path_factory.mktemp("hostile")
    shutil.copytree(synthetic, base / "results_raw", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(paths.data_dir("synthetic"), base / "data" / "synthetic")  # what the breakers read
    return base


@pytest.fixture
def repo(root, monkeypatch):
    """``root`` with a fresh copy of the cohort as ``data/raw/`` and paths pointed at it."""
    raw = root / "data" / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    for table in paths.TABLES:
        shutil.copy(paths.table_file("synthetic", table), raw / f"{table}.csv")
    monkeypatch.setattr(paths, "ROOT", root)
    monkeypatch.setattr(paths, "DATA", root / "data")

    def no_kernel(name, *args, **kwargs):      # a kernel would import this repository's trustlib,
        raise AssertionError(f"notebook {name} was started")    # which reads the real data/raw/
    from trustlib.run import scheduler

    monkeypatch.setattr(scheduler, "execute", no_kernel)
    shutil.rmtree(root / ".results_raw.failed", ignore_errors=True)
    return root


def _column_map(text):
    return lambda folder: (folder / "column_map.yml").write_text(text)


def _renamed_onto_existing(folder):
    clin = read_text_table(folder, "clinicians")
    write_text_table(folder, "clinicians", clin.assign(AGE_YEARS=clin["age"]))
    (folder / "column_map.yml").write_text("clinicians:\n  columns:\n    AGE_YEARS: age\n")


def _export_column_named_like_a_variable(folder):
    clin = read_text_table(folder, "clinicians")
    write_text_table(folder, "clinicians", clin.assign(AGE="see notes"))
    (folder / "column_map.yml").write_text("clinicians:\n  columns:\n    AGE: age\n")


def _unsupported_format(folder):
    (folder / "clinicians.json").write_text("{}")
    (folder / "column_map.yml").write_text("clinicians:\n  file: clinicians.json\n")


def _two_files(folder):
    write(folder, "clinicians", "dta")


def _unreadable(fmt):
    def breaker(folder):
        (folder / "clinicians.csv").unlink()
        (folder / f"clinicians.{fmt}").write_bytes(b"this is not a real file\n" * 10)
    return breaker


def _email_as_clinician_id(folder):
    """A staff e-mail column mapped onto clinician_id (the extract's own ID kept under another name)."""
    clin = read_text_table(folder, "clinicians").rename(columns={"clinician_id": "CID"})
    clin.insert(1, "staff_email", [f"dr.staff{i}@hospital.org" for i in range(len(clin))])
    write_text_table(folder, "clinicians", clin)
    (folder / "column_map.yml").write_text("clinicians:\n  columns:\n    staff_email: clinician_id\n")


def _comments_as_patient_id(folder):
    """A free-text comments column mapped onto patient_id; a few comments alike (duplicates)."""
    pat = read_text_table(folder, "patients").rename(columns={"patient_id": "PID"})
    pat.insert(1, "comments", [f"my doctor listens {i % 700}" for i in range(len(pat))])
    write_text_table(folder, "patients", pat)
    (folder / "column_map.yml").write_text("patients:\n  columns:\n    comments: patient_id\n")


def _mapped_file_missing(folder):
    (folder / "column_map.yml").write_text("clinicians:\n  file: Clinician_Survey_2013.csv\n")


DATA_FAULTS = [(name, breaker, text) for name, breaker, _, _, text, _ in BROKEN + HOSTILE] + [
    (f"column map: {text}", _column_map(yaml_text), text) for yaml_text, text in BAD_COLUMN_MAPS] + [
    ("column renamed onto an existing one", _renamed_onto_existing, "two columns of the file become 'age'"),
    ("export text column named like a variable", _export_column_named_like_a_variable,
     "two columns of the file become 'age'"),
    ("orphan row with free text first", _orphan_with_free_text_first, "refers to clinicians not in"),
    ("unsupported file format", _unsupported_format, "supported formats are .csv, .dta, .sav, .xlsx"),
    ("two files for one table", _two_files, "more than one file for table 'clinicians'"),
    ("unreadable Stata file", _unreadable("dta"), "could not be read as a Stata file"),
    ("unreadable SPSS file", _unreadable("sav"), "could not be read as a SPSS file"),
    ("unreadable Excel file", _unreadable("xlsx"), "could not be read as a Excel file"),
    ("file named in the column map is missing", _mapped_file_missing, "file not found"),
    ("staff e-mail mapped onto clinician_id", _email_as_clinician_id, "column 'clinician_id' (in the file: "
                                                                      "'staff_email'): IDs must be"),
    ("comments mapped onto patient_id", _comments_as_patient_id, "column 'patient_id' (in the file: 'comments')"),
]

# answers, comments and addresses planted by the breakers of the hostile tests (here and in
# test_raw_exports.py): a message may name IDs, never a survey answer, a comment or an address
PLANTED = ["forty", "nurse", "my doctor listens", "see notes", "\u0663", "\uff14\uff15", "@hospital.org",
           "dr.staff", "great doctor", "she listens"]


def _check(repo, capsys, argv, text):
    """Run ``argv``: exit status 2, ``text`` in the message, no traceback, no planted value quoted
    (every hostile test's message is scanned), the previous results unchanged."""
    before = snapshot(repo / "results_raw")
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert text in err, err
    assert "Traceback" not in err
    leaked = [p for p in PLANTED if p in err]
    assert leaked == [], f"the message quotes a planted value {leaked}:\n{err}"
    assert snapshot(repo / "results_raw") == before
    leftovers = [p.name for p in repo.iterdir() if p.name.startswith(".results_raw") and p.name != ".results_raw.lock"]
    assert leftovers == [], "a stage or a failed notebook was left behind"
    return err


@pytest.mark.parametrize("name,breaker,text", DATA_FAULTS, ids=[d[0] for d in DATA_FAULTS])
def test_bad_data_stops_the_run_and_keeps_the_previous_results(repo, capsys, name, breaker, text):
    breaker(repo / "data" / "raw")
    _check(repo, capsys, ["run", "--data", "raw"], text)


def test_an_out_of_range_answer_is_located_not_quoted(repo, capsys):
    _set(repo / "data" / "raw", "clinicians", "quality_1", 3, "7")
    err = _check(repo, capsys, ["run", "--data", "raw"], "outside the allowed range 1-4")
    assert "column 'quality_1'" in err and "line 5" in err and "'7'" not in err


def _params_file(repo, text):
    path = repo / "bad.yml"
    path.write_text(text)
    return str(path)


PARAMETER_FAULTS = [
    ("unknown parameter", ["--set", "nagg=5"], "unknown parameter(s) ['nagg']"),
    ("zero quadrature nodes", ["--set", "nagq=0"], "nagq must be a whole number from 1 to 50"),
    ("unknown cut-off rule", ["--set", "cutoff_rule=sideways"], "cutoff_rule must be one of"),
    ("cut-off that is not a number", ["--set", "org_trust_cutoff=high"], "org_trust_cutoff must be a number"),
    ("unknown covariate", ["--set", "covariates=[age, shoe_size]"], "covariates must be a list of different names"),
    ("too many answered items", ["--set", "min_answered_items={quality: 9}"], "min_answered_items.quality"),
    ("unknown scale", ["--set", "min_answered_items={mood: 2}"], "unknown scale 'mood'"),
    ("empty robustness grid", ["--set", "robust_min_surveys=[]"], "robust_min_surveys must be a list of 1 to 50"),
    ("negative cell size", ["--set", "min_cell_size=-1"], "min_cell_size must be a whole number"),
    ("malformed --set", ["--set", "nagq"], "--set expects KEY=VALUE"),
]


@pytest.mark.parametrize("name,args,text", PARAMETER_FAULTS, ids=[p[0] for p in PARAMETER_FAULTS])
def test_bad_parameters_stop_the_run_and_keep_the_previous_results(repo, capsys, name, args, text):
    _check(repo, capsys, ["run", "--data", "raw", *args], text)


@pytest.mark.parametrize("text,expected", [("nagq: [unclosed\n", "not valid YAML"),
                                           ("- nagq\n- 15\n", "must map parameter names to values")])
def test_a_broken_parameter_file_is_reported(repo, capsys, text, expected):
    _check(repo, capsys, ["run", "--data", "raw", "--params", _params_file(repo, text)], expected)



# -- faults of the machine, given to the run's transaction (the notebooks replaced by a stub) -------

def _stub_notebooks(monkeypatch):
    from trustlib.run import pipeline, scheduler

    def run_steps(plan, jobs, on_failure):
        (plan.stage / "tables").mkdir(parents=True, exist_ok=True)
        (plan.stage / "tables" / "new.csv").write_text("a\n1\n")
        return set()
    monkeypatch.setattr(scheduler, "run_steps", run_steps)
    return pipeline


def test_a_full_disk_stops_the_run_with_one_line_and_keeps_the_previous_results(repo, capsys, monkeypatch):
    import errno

    pipeline = _stub_notebooks(monkeypatch)

    def full(stage, *args):
        raise OSError(errno.ENOSPC, "No space left on device", str(stage / "manifest.json"))
    monkeypatch.setattr(pipeline, "_finish", full)
    err = _check(repo, capsys, ["run", "--data", "raw", "--force"], "No space left on device: ")
    assert err.count("\n") == 1 and "manifest.json" in err
    assert not (repo / ".results_raw.stage").exists()


def test_a_symlinked_results_folder_is_followed_and_stays_a_link(repo, capsys, monkeypatch):
    pipeline = _stub_notebooks(monkeypatch)
    monkeypatch.setattr(pipeline, "_finish", lambda stage, *args: (stage / "manifest.json").write_text("{}"))
    elsewhere = repo / "elsewhere" / "results_raw"
    elsewhere.mkdir(parents=True)
    (elsewhere / "old.csv").write_text("old\n")
    link = repo / "results_raw"
    kept = repo / "results_raw.kept"
    link.rename(kept)
    link.symlink_to(elsewhere)
    try:
        assert main(["run", "--data", "raw", "--force"]) == 0, capsys.readouterr().err
    finally:
        link.unlink()
        kept.rename(link)
    assert sorted(p.relative_to(elsewhere).as_posix() for p in elsewhere.rglob("*") if p.is_file()) == [
        "manifest.json", "tables/new.csv"]
    assert not [p for p in elsewhere.parent.iterdir() if p.name.endswith(".stage")]

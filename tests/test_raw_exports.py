"""Extracts as people really export them, given to a whole raw run (``python -m trustlib run
--data raw``, called in this process on a temporary repository whose ``results_raw/`` holds a
complete earlier run; see test_hostile_runs.py).

Each broken case stops with exit status 2, before any notebook starts, with the problem on one
line naming the file and column (and lines), or the parameter; no traceback; ``results_raw/``
byte-identical and no stage left. The cases that used to hang finish at once (each runs under a
60-second ceiling that fails the test rather than hanging the suite). The exports that are
valid, however Excel, SPSS or Stata wrote them, read exactly as the clean cohort.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest

from conftest import read_text_table, write_text_table
from test_formats import _labelled, _text_table, write
from test_hostile_runs import _check, repo, root  # noqa: F401 (fixtures)
from trustlib import paths
from trustlib.data import contract, extract

# no xdist group: each test process makes its own copy of the results (the `root` fixture)


@contextlib.contextmanager
def ceiling(seconds: int = 60):
    """Fail (rather than hang the suite) if the block takes longer than ``seconds``."""
    def alarm(*_):
        raise TimeoutError(f"took more than {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _line(err: str, *parts: str) -> str:
    """The one line of the message that names every one of ``parts``."""
    hits = [line for line in err.splitlines() if all(p in line for p in parts)]
    assert hits, f"no line names {parts}:\n{err}"
    return hits[0]


def _raw(repo):
    return repo / "data" / "raw"


def _replace(repo, table: str, data: bytes, name: str | None = None):
    folder = _raw(repo)
    (folder / f"{table}.csv").unlink()
    (folder / (name or f"{table}.csv")).write_bytes(data)


def _clinicians_csv(repo) -> bytes:
    return (_raw(repo) / "clinicians.csv").read_bytes()


# -- files that used to hang or crash ---------------------------------------------------------------

def _fifo(repo):
    (_raw(repo) / "clinicians.csv").unlink()
    os.mkfifo(_raw(repo) / "clinicians.csv")


def _sparse(repo):
    with open(_raw(repo) / "clinicians.csv", "r+b") as fh:
        fh.truncate(2 * 1024 ** 3)


def _random_bytes(repo):
    import numpy as np

    _replace(repo, "clinicians", np.random.default_rng(1).bytes(10_000_000))


def _nul_bytes(repo):
    _replace(repo, "clinicians", b"\x00" * 10_000_000)


def _symlink(target):
    def breaker(repo):
        (_raw(repo) / "clinicians.csv").unlink()
        (_raw(repo) / "clinicians.csv").symlink_to(target)
    return breaker


def _loop(repo):
    (_raw(repo) / "clinicians.csv").unlink()
    (_raw(repo) / "clinicians.csv").symlink_to(_raw(repo) / "loop.csv")
    (_raw(repo) / "loop.csv").symlink_to(_raw(repo) / "clinicians.csv")


def _fifo_inside(repo):
    os.mkfifo(_raw(repo) / "pipe.csv")
    (_raw(repo) / "clinicians.csv").unlink()
    (_raw(repo) / "clinicians.csv").symlink_to(_raw(repo) / "pipe.csv")


def _map(text: str | bytes):
    def breaker(repo):
        path = _raw(repo) / "column_map.yml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return breaker


def _map_symlink(repo):
    (_raw(repo) / "column_map.yml").symlink_to("/dev/zero")


def _map_folder(repo):
    (_raw(repo) / "column_map.yml").mkdir()


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))


def _utf16_no_bom(repo):
    _replace(repo, "clinicians", _clinicians_csv(repo).decode().encode("utf-16-le"))


def _xls(repo):
    _replace(repo, "clinicians", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "clinicians.xls")
    (_raw(repo) / "column_map.yml").write_text("clinicians:\n  file: clinicians.xls\n")


def _all_quality_missing(repo):
    clin = read_text_table(_raw(repo), "clinicians").rename(columns={"quality_2": "CULT_Q2"})
    clin.loc[3, ["quality_1", "CULT_Q2", "quality_3"]] = "-9"
    write_text_table(_raw(repo), "clinicians", clin)
    (_raw(repo) / "column_map.yml").write_text("clinicians:\n  columns:\n    CULT_Q2: quality_2\n")


def _constant_quality(repo):
    clin = read_text_table(_raw(repo), "clinicians").rename(columns={"quality_1": "Q_EMPH"})
    clin[["Q_EMPH", "quality_2"]] = "3"
    clin["quality_3"] = "2"                                   # reverse-worded: every score 3.0
    write_text_table(_raw(repo), "clinicians", clin)
    (_raw(repo) / "column_map.yml").write_text("clinicians:\n  columns:\n    Q_EMPH: quality_1\n")


def _formula_workbook(repo):
    import openpyxl

    df = _text_table("clinicians")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(df.columns))
    for i, row in enumerate(df.itertuples(index=False)):
        cells = list(row)
        if i == 4:
            cells[df.columns.get_loc("age")] = "=40+5"            # a formula saved without its value
        ws.append(cells)
    wb.save(_raw(repo) / "clinicians.xlsx")
    (_raw(repo) / "clinicians.csv").unlink()


def _title_row(repo):
    _replace(repo, "clinicians", b"Healthy Work Place baseline, exported 2013-10-02\n" + _clinicians_csv(repo))


def _second_sheet(repo):
    with pd.ExcelWriter(_raw(repo) / "clinicians.xlsx") as xl:
        pd.DataFrame({"note": ["see sheet Data"]}).to_excel(xl, sheet_name="About", index=False)
        _text_table("clinicians").to_excel(xl, sheet_name="Data", index=False)
    (_raw(repo) / "clinicians.csv").unlink()


def _second_sheet_named(name: str):
    def breaker(repo):
        _second_sheet(repo)
        (_raw(repo) / "column_map.yml").write_text(f"clinicians:\n  sheet: {name}\n")
    return breaker


def _encrypted(repo):
    """A workbook saved with a password: tests/reference/encrypted.xlsx, a two-line clinics sheet
    encrypted with the password 'secret' by msoffcrypto-tool 6 (``OOXMLFile(...).encrypt``, agile
    encryption as Excel writes it): an OLE compound file, as an Excel 97-2003 file is."""
    (_raw(repo) / "clinicians.csv").unlink()
    shutil.copy(Path(__file__).parent / "reference" / "encrypted.xlsx", _raw(repo) / "clinicians.xlsx")


def _hidden_data_sheet(repo):
    """The data on a hidden sheet, a note on the one visible sheet: the hidden one is not read."""
    with pd.ExcelWriter(_raw(repo) / "clinicians.xlsx") as xl:
        pd.DataFrame({"note": ["see the data"]}).to_excel(xl, sheet_name="About", index=False)
        _text_table("clinicians").to_excel(xl, sheet_name="Data", index=False)
        xl.book["Data"].sheet_state = "hidden"
    (_raw(repo) / "clinicians.csv").unlink()


def _workbook_with_an_error(repo):
    clin = _text_table("clinicians")
    clin.loc[2, "age"] = 999
    with pd.ExcelWriter(_raw(repo) / "clinicians.xlsx") as xl:
        clin.to_excel(xl, sheet_name="Data", index=False)
    (_raw(repo) / "clinicians.csv").unlink()


def _subfolder_loop(repo):
    """The column map names a file in a subfolder that is a symbolic link loop."""
    (_raw(repo) / "exports").symlink_to(_raw(repo) / "exports2")
    (_raw(repo) / "exports2").symlink_to(_raw(repo) / "exports")
    (_raw(repo) / "column_map.yml").write_text("clinicians:\n  file: exports/clinicians.csv\n")


def _set_cell(repo, table, column, row, value):
    df = read_text_table(_raw(repo), table)
    df.loc[row, column] = value
    write_text_table(_raw(repo), table, df)


def _unnamed_column(repo):
    lines = _clinicians_csv(repo).decode().splitlines()
    lines = [lines[0].replace(",age,", ",,", 1)] + lines[1:]
    (_raw(repo) / "clinicians.csv").write_text("\n".join(lines) + "\n")


def _unclosed_quote(where: str, closed_later: bool = True, closed_on: int = 11):
    """A free-text comment whose opening quote is never closed (line 7), in the last, a middle
    (the third) or the first column; a later comment's quotes (line ``closed_on``) close it, so
    lines 8 to ``closed_on`` read as one value."""
    def breaker(repo):
        pat = read_text_table(_raw(repo), "patients")
        if where == "last":
            pat["comment"] = ""
        else:
            pat.insert({"middle": 2, "first": 0}[where], "comment", "")
        pat.loc[5, "comment"] = "great doctor"
        pat.loc[closed_on - 2, "comment"] = "she listens" if closed_later else ""
        text = pat.to_csv(index=False).replace("great doctor", '"great doctor').replace("she listens", '"she listens"')
        (_raw(repo) / "patients.csv").write_text(text)
    return breaker


# (name, breaker, argv after "run --data raw", the parts one line of the message must name)
CASES = [
    ("a named pipe", _fifo, [], ["clinicians.csv", "not a regular file"]),
    ("a 2 GB sparse file", _sparse, [], ["clinicians.csv", "more than the 100 MB"]),
    ("10 MB of random bytes", _random_bytes, [], ["clinicians.csv", "line"]),
    ("10 MB of NUL bytes", _nul_bytes, [], ["clinicians.csv", "NUL bytes", "line 1"]),
    ("a symlink to /dev/zero", _symlink("/dev/zero"), [], ["clinicians.csv", "outside the data folder"]),
    ("a symlink to a file outside", _symlink("/etc/hostname"), [], ["clinicians.csv", "outside the data folder"]),
    ("a symlink loop", _loop, [], ["clinicians.csv", "leads nowhere"]),
    ("a symlink to a pipe inside the folder", _fifo_inside, [], ["clinicians.csv", "not a regular file"]),
    ("a YAML alias bomb in the column map", _map(ALIAS_BOMB), [], ["column_map.yml", "aliases (*name)"]),
    ("20,000 nested brackets in the column map", _map("clinicians: " + "[" * 20000), [],
     ["column_map.yml", "nested deeper"]),
    ("a column map symlinked to /dev/zero", _map_symlink, [], ["column_map.yml", "outside the data folder"]),
    ("a folder named column_map.yml", _map_folder, [], ["column_map.yml", "is a folder"]),
    ("a column map over 100 MB would be read", _map("# " + "x" * 1_200_000), [], ["column_map.yml", "larger than"]),
    ("a column map file outside the folder", _map("clinicians:\n  file: ../../../../etc/passwd\n"), [],
     ["column_map.yml", "inside the data folder"]),
    ("an absolute file in the column map", _map("clinicians:\n  file: /etc/passwd\n"), [],
     ["column_map.yml", "inside the data folder"]),
    ("file: null in the column map", _map("clinicians:\n  file: null\n"), [], ["column_map.yml", "clinicians.file"]),
    ("a misspelt codebook column", _map("clinicians:\n  columns:\n    AGE: agee\n"), [],
     ["column_map.yml", "'agee', which is not a column of the codebook's clinicians table"]),
    ("an unknown key in the column map", _map("clinicians:\n  colums:\n    AGE: age\n"), [],
     ["column_map.yml", "unknown key 'colums'"]),
    ("a sheet for a CSV file", _map("clinicians:\n  sheet: 5\n"), [], ["clinicians.csv", "not a workbook"]),
    ("header_row 0", _map("clinicians:\n  header_row: 0\n"), [], ["column_map.yml", "header_row must be"]),
    ("UTF-16 without a byte-order mark", _utf16_no_bom, [], ["clinicians.csv", "UTF-16", "CSV UTF-8"]),
    ("an Excel 97-2003 workbook", _xls, [], ["clinicians.xls", "Excel 97-2003"]),
    ("formula cells without values", _formula_workbook, [], ["clinicians.xlsx", "formula cells", "line 6"]),
    ("a title line above the header", _title_row, [], ["clinicians.csv", "required columns are missing",
                                                        "header_row: N"]),
    ("the data on a second sheet", _second_sheet, [], ["clinicians.xlsx", "has 2 visible sheets", "sheet: NAME",
                                                        "'Data'"]),
    ("a password-protected workbook", _encrypted, [], ["clinicians.xlsx", "password-protected (encrypted)"]),
    ("a workbook whose only visible sheet is not the data", _hidden_data_sheet, [],
     ["clinicians.xlsx, sheet 'About'", "required columns are missing"]),
    ("a column map file in a subfolder that is a symlink loop", _subfolder_loop, [],
     ["column_map.yml", "clinicians.file 'exports/clinicians.csv' leads through a symbolic link that leads nowhere"]),
    ("an error in a workbook names its sheet", _workbook_with_an_error, [],
     ["clinicians.xlsx, sheet 'Data', column 'age'", "outside the allowed range", "line 4"]),
    ("a column without a name", _unnamed_column, [], ["clinicians.csv", "column 3 has no name"]),
    ("every quality item missing for a clinician", _all_quality_missing, [],
     ["clinicians.csv", "'CULT_Q2'", "quality_2", "C004"]),
    ("a constant culture score", _constant_quality, [], ["clinicians.csv", "'Q_EMPH'", "the same for every"]),
    # parameters
    ("a --set value YAML cannot parse", lambda r: None, ["--set", "nagq=[1,"], ["--set nagq=[1,", "not valid YAML"]),
    ("a trillion quadrature nodes", lambda r: None, ["--set", "nagq=1000000000000"], ["nagq must be a whole number"]),
    ("a cut-off that is not a number", lambda r: None, ["--set", "org_trust_cutoff=.nan"],
     ["org_trust_cutoff must be a number from 1 to 4"]),
    ("a cut-off off the scale", lambda r: None, ["--set", "patient_trust_cutoff=150"],
     ["patient_trust_cutoff must be a number from 0 to 100"]),
    ("dask without a scheduler", lambda r: None, ["--set", "backend=dask"], ["dask_scheduler"]),
    ("more surveys than any clinician has", lambda r: None, ["--set", "min_patient_surveys=1000"],
     ["no clinician meets the sufficient-data rules", "(min_patient_surveys=1000, min_clinicians_per_clinic=2)"]),
    ("clinics larger than any", lambda r: None, ["--set", "min_clinicians_per_clinic=40"],
     ["no clinician meets the sufficient-data rules", "(min_patient_surveys=3, min_clinicians_per_clinic=40)"]),
    ("a small disclosure threshold", lambda r: None, ["--set", "min_cell_size=5"],
     ["min_cell_size 5 is below 11", "allow_small_cells"]),
    ("the paper's model left out", lambda r: None, ["--set", "estimators=[gee]"], ["includes glmm"]),
    ("a covariate twice", lambda r: None, ["--set", "covariates=[age, age]"], ["covariates must be"]),
    ("a robustness cut-off off the scale", lambda r: None, ["--set", "robust_org_cutoffs=[5]"],
     ["robust_org_cutoffs must be"]),
    ("zero workers", lambda r: None, ["--set", "n_jobs=0"], ["n_jobs must be"]),
    ("ten million replicates", lambda r: None, ["--set", "sim_replicates=10000000"], ["sim_replicates must be"]),
    ("an unknown estimator", lambda r: None, ["--set", "sim_estimators=[bayes]"], ["sim_estimators must be"]),
    ("a parameter file that is a folder", lambda r: (r / "p.yml").mkdir(exist_ok=True), ["--params", "p.yml"],
     ["p.yml", "not a regular file"]),
    ("an alias bomb in a parameter file", lambda r: (r / "bomb.yml").write_text(ALIAS_BOMB), ["--params", "bomb.yml"],
     ["bomb.yml", "aliases (*name)"]),
    ("an unknown key in a parameter file", lambda r: (r / "typo.yml").write_text("nagg: 5\n"), ["--params", "typo.yml"],
     ["typo.yml", "unknown parameter(s) ['nagg']"]),
    ("allow_small_cells that is not true or false", lambda r: None, ["--set", "allow_small_cells=maybe"],
     ["allow_small_cells must be true or false"]),
    ("a robustness grid with a value twice", lambda r: None, ["--set", "robust_min_surveys=[1, 1]"],
     ["robust_min_surveys must be"]),
    # more files that cannot be read
    ("the patients as a named pipe", lambda r: (_raw(r) / "patients.csv").unlink() or os.mkfifo(_raw(r) / "patients.csv"),
     [], ["patients.csv", "not a regular file"]),
    ("a symlink to a folder outside", _symlink("/tmp"), [], ["clinicians.csv", "outside the data folder"]),
    ("a sheet that does not exist", _second_sheet_named("Nope"), [], ["clinicians.xlsx", "has no sheet 'Nope'", "'Data'"]),
    ("a header line past the end", _map("clinicians:\n  header_row: 999\n"), [], ["clinicians.csv", "fewer than 999 lines"]),
    ("invalid UTF-16 after its byte-order mark", lambda r: _replace(r, "clinicians", codecs.BOM_UTF16_LE + b"a\x00b"),
     [], ["clinicians.csv", "not valid UTF-16"]),
    ("an unclosed quote in the last column", _unclosed_quote("last"), [],
     ["patients.csv", "column 'comment'", "opens on line 7", "lines 8 to 11 are read as part of it"]),
    ("an unclosed quote in a middle column", _unclosed_quote("middle"), [],
     ["patients.csv", "column 'comment'", "opens on line 7", "lines 8 to 11 are read as part of it"]),
    ("an unclosed quote in a middle column closed by the next line", _unclosed_quote("middle", closed_on=8), [],
     ["patients.csv", "column 'comment'", "opens on line 7", "line 8 is read as part of it"]),
    ("an unclosed quote in the first column closed by the next line", _unclosed_quote("first", closed_on=8), [],
     ["patients.csv", "column 'comment'", "opens on line 7", "line 8 is read as part of it"]),
    ("an unclosed quote the file ends inside", _unclosed_quote("last", closed_later=False), [],
     ["patients.csv", "column 'comment'", "opens on line 7 and the file ends inside it", "lines 8 to 1133"]),
    ("Stata's missing code in a category column", lambda r: _set_cell(r, "clinicians", "sex", 2, ".a"), [],
     ["clinicians.csv", "'sex'", "not one of the allowed codes", "line 4"]),
]


@pytest.mark.parametrize("name,breaker,argv,parts", CASES, ids=[c[0] for c in CASES])
def test_an_export_or_parameter_a_run_cannot_use_stops_it_at_once(repo, capsys, monkeypatch, name, breaker, argv,
                                                                  parts):
    monkeypatch.chdir(repo)
    breaker(repo)
    with ceiling():
        err = _check(repo, capsys, ["run", "--data", "raw", *argv], parts[0])
    _line(err, *parts)


def test_a_results_folder_that_is_a_mount_point_is_refused_before_any_work(repo, capsys, monkeypatch):
    """A results_raw/ that is a mount point cannot be exchanged with a stage beside it: refused
    with one line before the extract is read (a real tmpfs mount; skipped where mounting is not
    allowed)."""
    import subprocess

    results = repo / "results_raw"
    kept = repo / "results_raw.kept"
    results.rename(kept)
    results.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(results)], capture_output=True).returncode:
        results.rmdir()
        kept.rename(results)
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        (results / "old.csv").write_text("old\n")
        from trustlib.data import contract

        monkeypatch.setattr(contract, "load_folder", lambda *a, **k: pytest.fail("the extract was read"))
        err = _check(repo, capsys, ["run", "--data", "raw"], "results_raw/: it is a mount point")
        assert err.count("\n") == 1, err
        assert [p.name for p in results.iterdir()] == ["old.csv"]
    finally:
        subprocess.run(["umount", str(results)], check=True)
        results.rmdir()
        kept.rename(results)


@pytest.mark.parametrize("argv,text", [(["--jobs", "0"], "--jobs: must be at least 1"),
                                        (["--only", "99_nope"], "invalid choice: '99_nope'")])
def test_a_command_line_mistake_exits_2_with_one_line(repo, capsys, argv, text):
    from trustlib.run.cli import main

    with pytest.raises(SystemExit) as info:
        main(["run", "--data", "raw", *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and text in err and err.count("\n") == 1 and "Traceback" not in err


# -- exports that are valid, however they were written -----------------------------------------------

@pytest.fixture
def clean(data_copy):
    return contract.load_folder(data_copy)


def _same(folder, clean):
    tables = contract.load_folder(folder)
    for t in paths.TABLES:
        pd.testing.assert_frame_equal(tables[t][clean[t].columns], clean[t], check_dtype=False)
    return tables


def _rewrite(folder, table, transform):
    path = folder / f"{table}.csv"
    path.write_bytes(transform(path.read_bytes()))


def test_cr_only_line_endings_read_as_excel_for_mac_writes_them(data_copy, clean):
    _rewrite(data_copy, "clinicians", lambda b: b.replace(b"\n", b"\r"))
    _same(data_copy, clean)


def test_utf16_with_a_byte_order_mark_reads_as_utf8(data_copy, clean):
    for table in paths.TABLES:
        _rewrite(data_copy, table, lambda b: codecs.BOM_UTF16_LE + b.decode().replace("\n", "\r\n").encode("utf-16-le"))
    _same(data_copy, clean)


def test_a_long_free_text_cell_and_a_bare_cr_in_an_unquoted_cell(data_copy, clean):
    pat = read_text_table(data_copy, "patients")
    pat.insert(2, "comment", "")
    pat.loc[3, "comment"] = "x" * 200_000                                  # over the csv module's 128 kB
    pat.loc[7, "comment"] = "first part\rsecond part"                       # a bare CR, not quoted
    text = pat.to_csv(index=False, lineterminator="\r\n", quoting=0).replace('"first part\rsecond part"',
                                                                             "first part\rsecond part")
    (data_copy / "patients.csv").write_text(text, newline="")
    _same(data_copy, clean)


def test_multi_line_comments_with_commas_in_a_narrow_table_read_as_they_are(data_copy, clean):
    clinics = read_text_table(data_copy, "clinics")
    clinics["notes"] = ""
    clinics.loc[2, "notes"] = "first, second\nthird, fourth"          # lines of two cells, as a record's
    clinics.loc[4, "notes"] = "Visit 2, later\n\nend"
    (data_copy / "clinics.csv").write_text(clinics.to_csv(index=False))
    tables = _same(data_copy, clean)
    assert len(tables["clinics"]) == len(clean["clinics"])


def test_a_quoted_value_across_lines_in_a_codebook_column_is_named():
    from trustlib.data import reading

    text = "clinic_id,region,notes\nK01,\"nyc\nx\",ok\nK02,nyc,\"a\nb\"\n"
    lines, problems = reading.scan_records(text, 1, fixed=lambda name: name in {"clinic_id", "region"})
    assert list(lines) == [2, 4]
    assert problems == [("region", "a quoted value opens on line 2 and runs on to line 3, so line 3 is read as part "
                                   "of it, not as records: a closing quote is missing or misplaced; correct the "
                                   "quotes and re-export")]


def test_a_workbook_saved_with_a_csv_name_and_an_upper_case_extension(data_copy, clean):
    (data_copy / "clinics.csv").unlink()
    _text_table("clinics").to_excel(data_copy / "clinics.csv", index=False)        # a workbook named .csv
    (data_copy / "patients.csv").unlink()
    _text_table("patients").to_excel(data_copy / "patients.XLSX", index=False)
    _same(data_copy, clean)


def test_header_row_and_sheet_in_the_column_map(data_copy, clean):
    _rewrite(data_copy, "clinicians", lambda b: b"Baseline export\n\n" + b)
    with pd.ExcelWriter(data_copy / "patients.xlsx") as xl:
        pd.DataFrame({"note": ["about"]}).to_excel(xl, sheet_name="About", index=False)
        _text_table("patients").to_excel(xl, sheet_name="Data", index=False, startrow=1)
    (data_copy / "patients.csv").unlink()
    (data_copy / "column_map.yml").write_text("clinicians:\n  header_row: 3\n"
                                              "patients:\n  sheet: Data\n  header_row: 2\n")
    _same(data_copy, clean)
    lines = (data_copy / "clinicians.csv").read_text().splitlines()
    fields = lines[5].split(",")                     # line 6: two title lines, the header, two records
    fields[2] = "999"                                # age
    lines[5] = ",".join(fields)
    (data_copy / "clinicians.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(contract.DataValidationError, match=r"column 'age'.*\(line 6\)"):   # physical lines
        contract.load_folder(data_copy)


def test_hidden_sheets_are_read_only_when_named(data_copy, clean):
    """A hidden sheet of stale data before the data, and a very hidden one: the one visible sheet
    is read; a very hidden sheet is read when the column map names it. The sheet read is recorded."""
    stale = _text_table("clinicians").drop(columns=["age"])
    with pd.ExcelWriter(data_copy / "clinicians.xlsx") as xl:
        stale.to_excel(xl, sheet_name="Old", index=False)
        _text_table("clinicians").to_excel(xl, sheet_name="Data", index=False)
        stale.to_excel(xl, sheet_name="Older", index=False)
        xl.book["Old"].sheet_state = "hidden"
        xl.book["Older"].sheet_state = "veryHidden"
    (data_copy / "clinicians.csv").unlink()
    tables = _same(data_copy, clean)
    assert tables["clinicians"].attrs["how_read"] == {"sheet": "Data"}
    assert tables["clinicians"].attrs["file"].endswith("clinicians.xlsx, sheet 'Data'")
    (data_copy / "column_map.yml").write_text("clinicians:\n  sheet: 1\n")          # numbers count visible sheets
    assert contract.load_folder(data_copy)["clinicians"].attrs["how_read"] == {"sheet": "Data"}
    (data_copy / "column_map.yml").write_text("clinicians:\n  sheet: Older\n")
    with pytest.raises(contract.DataValidationError, match=r"clinicians.xlsx, sheet 'Older', column 'age': required"):
        contract.load_folder(data_copy)


def test_ids_stored_as_numbers_with_a_000_format_read_as_excel_displays_them(data_copy, clean, tmp_path):
    """Clinician IDs 001, 002, ... stored as the numbers 1, 2, ... formatted 000 in the workbook,
    and written 001 in the patients' CSV export: they match, and the manifest says how they were read."""
    import json

    from trustlib.publish import outputs
    from trustlib.run import manifest

    number = {cid: int(cid[1:]) for cid in clean["clinicians"]["clinician_id"]}
    clin = _text_table("clinicians")
    clin["clinician_id"] = clin["clinician_id"].map(number)
    clin.to_excel(data_copy / "clinicians.xlsx", index=False)
    import openpyxl

    wb = openpyxl.load_workbook(data_copy / "clinicians.xlsx")
    for (cell,) in wb.active.iter_rows(min_row=2, max_col=1):
        cell.number_format = "000"
    wb.save(data_copy / "clinicians.xlsx")
    (data_copy / "clinicians.csv").unlink()
    pat = read_text_table(data_copy, "patients")
    pat["clinician_id"] = pat["clinician_id"].map(lambda c: f"{number[c]:03d}")
    write_text_table(data_copy, "patients", pat)
    tables = contract.load_folder(data_copy)
    assert tables["clinicians"]["clinician_id"].tolist() == [f"{number[c]:03d}" for c in clean["clinicians"]["clinician_id"]]
    assert tables["clinicians"].attrs["how_read"] == {"sheet": "Sheet1", "ids_read_as_displayed": ["clinician_id"]}
    results = tmp_path / "results"
    outputs.Writer(results, "01_prepare_data").inputs(tables)
    manifest.write(results, "raw", {}, [], {}, set(), {})
    recorded = json.loads((results / "manifest.json").read_text())["how_read"]
    assert recorded == {paths.relative(data_copy / "clinicians.xlsx"): {
        "ids_read_as_displayed": ["clinician_id"], "sheet": "Sheet1"}}


def test_a_stray_cell_at_the_end_of_the_sheet_costs_nothing(data_copy, clean):
    import openpyxl

    _text_table("clinics").to_excel(data_copy / "clinics.xlsx", index=False)
    (data_copy / "clinics.csv").unlink()
    wb = openpyxl.load_workbook(data_copy / "clinics.xlsx")
    wb.active["XFD1048576"] = "stray"
    wb.active["E1"] = None                                                   # trailing empty header cells
    wb.save(data_copy / "clinics.xlsx")
    with ceiling(60):
        _same(data_copy, clean)


def test_spss_user_missing_and_stata_missing_values_read_as_missing(data_copy, clean):
    import numpy as np
    import pyreadstat

    clin = _text_table("clinicians")
    coded, labels = _labelled(clin)
    pyreadstat.write_sav(coded, str(data_copy / "clinicians.sav"), variable_value_labels=labels,
                         missing_ranges={c: [-9] for c in clin.columns if clin[c].dtype.kind == "i"})
    (data_copy / "clinicians.csv").unlink()
    pat = _text_table("patients").astype({c: float for c in _text_table("patients").columns if c.startswith("pt_")})
    pat = pat.replace(-9.0, np.nan)                                           # Stata's "."
    pat.to_stata(data_copy / "patients.dta", write_index=False, version=118)
    (data_copy / "patients.csv").unlink()
    tables = _same(data_copy, clean)
    assert sum(tables["clinicians"].attrs["missing_read"].values()) == int((clin == -9).sum().sum()) > 0
    assert sum(tables["patients"].attrs["missing_read"].values()) > 0


def test_stata_missing_codes_in_a_csv_read_as_missing(data_copy, clean):
    _rewrite(data_copy, "clinicians", lambda b: b.replace(b",-9,", b",.,", 1).replace(b",-9,", b",.a,", 1))
    tables = _same(data_copy, clean)
    assert sum(tables["clinicians"].attrs["missing_read"].values()) == 2


def test_a_utf8_error_names_its_byte_offset_counting_the_bom(data_copy):
    raw = b"\xef\xbb\xbf" + (data_copy / "clinics.csv").read_bytes()
    bad = raw.index(b"K05")
    (data_copy / "clinics.csv").write_bytes(raw[:bad] + b"\xff" + raw[bad + 1:])
    with pytest.raises(contract.DataValidationError, match=f"byte 0xff at byte offset {bad}, line 6"):
        contract.load_folder(data_copy)


def test_a_csv_with_two_byte_order_marks_reads_as_the_clean_one(data_copy, clean):
    _rewrite(data_copy, "clinicians", lambda b: codecs.BOM_UTF8 * 2 + b)
    _rewrite(data_copy, "clinics", lambda b: codecs.BOM_UTF16_LE + ("\ufeff" + b.decode()).encode("utf-16-le"))
    _same(data_copy, clean)


def _decimal_export(folder):
    """Every whole number of the clinicians' file written as 3.0 and -9.0, as some exports do."""
    clin = read_text_table(folder, "clinicians")
    numeric = [c for c in clin.columns if clin[c].str.fullmatch(r"-?\d+").all()]
    clin[numeric] = clin[numeric].apply(lambda s: s + ".0")
    write_text_table(folder, "clinicians", clin)
    return numeric


def test_whole_numbers_written_as_decimals_read_as_whole_numbers(data_copy, clean):
    numeric = _decimal_export(data_copy)
    tables = _same(data_copy, clean)
    assert tables["clinicians"].attrs["how_read"] == {"whole_numbers_written_as_decimals": numeric}
    clin = read_text_table(data_copy, "clinicians")
    clin.loc[4, "age"] = "44.5"                                         # a real decimal is still named
    write_text_table(data_copy, "clinicians", clin)
    with pytest.raises(contract.DataValidationError, match=r"column 'age': not a whole number \(line 6\)"):
        contract.load_folder(data_copy)


def test_a_run_says_once_that_whole_numbers_were_written_as_decimals(repo, capsys):
    numeric = _decimal_export(_raw(repo))
    from trustlib.run.cli import main

    assert main(["run", "--data", "raw", "--dry-run"]) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {paths.relative(_raw(repo) / 'clinicians.csv')}: whole numbers written with a decimal "
                     f"point (3.0, -9.0) in columns {', '.join(repr(c) for c in numeric[:5])} and {len(numeric) - 5} "
                     "more, read as whole numbers"], out
    assert "not a whole number" not in out


def test_trailing_empty_header_columns_are_ignored(data_copy, clean):
    _rewrite(data_copy, "clinics", lambda b: b.replace(b"\n", b",,\n"))
    _same(data_copy, clean)


def test_the_manifest_says_how_many_missing_values_a_format_declared(tmp_path):
    """provenance/missing_values.json records them by file and column (the manifest lists it)."""
    from trustlib.publish import outputs

    df = pd.DataFrame({"a": [1]})
    df.attrs = {"read": {"x.sav": "0" * 64}, "missing_read": {"age": 3, "stress": 11}, "file": "x.sav"}
    outputs.Writer(tmp_path, "01_prepare_data").inputs({"clinicians": df})
    import json

    written = tmp_path / "provenance" / "missing_values.json"
    assert json.loads(written.read_text()) == {"x.sav": {"age": 3, "stress": 11}}
    outputs.Writer(tmp_path, "01_prepare_data").inputs({"clinicians": df}, k=11)      # raw data: 3 people is small
    assert json.loads(written.read_text()) == {"x.sav": {"age": "suppressed", "stress": 11}}


def test_column_map_problems_are_all_listed(tmp_path):
    (tmp_path / "column_map.yml").write_text("clinicians:\n  file: ../x.csv\n  sheet: [1]\n  header_row: -1\n"
                                             "  columns:\n    A: agee\n")
    cmap, problems = extract.ColumnMap.load(tmp_path / "column_map.yml")
    assert len(problems) == 4, problems


def test_a_read_only_results_folder_as_another_user_gives_one_line_and_no_stage():
    """As a non-root user (root ignores permissions): a results folder that user cannot replace
    stops the run before any work, with one line, and leaves no stage behind."""
    import subprocess
    import sys

    from sandbox import copy_repository

    import tempfile

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    base = Path(tempfile.mkdtemp(prefix="trustlib-shared-"))      # outside pytest's owner-only folders
    try:
        _read_only_run(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _read_only_run(base):
    import subprocess
    import sys

    from sandbox import copy_repository

    repo_copy = copy_repository(base / "repo")
    shutil.copytree(paths.data_dir("synthetic"), repo_copy / "data" / "raw")
    (repo_copy / "results_raw").mkdir()
    (repo_copy / "results_raw" / "old.csv").write_text("old\n")
    for p in [base, *base.rglob("*")]:
        os.chmod(p, os.stat(p).st_mode | 0o755)
    os.chmod(repo_copy, 0o777)
    os.chmod(repo_copy / "results_raw", 0o555)                          # owned by root, read-only to others
    env = {"PYTHONPATH": str(repo_copy), "HOME": str(base), "PATH": os.environ["PATH"]}
    # the user may read everything (CAP_DAC_READ_SEARCH: the environment may sit in a folder only its
    # owner can enter, as a clone in `mktemp -d` does) but write only where permissions allow
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", sys.executable, "-m",
                          "trustlib", "run", "--data", "raw"], cwd=repo_copy, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "results_raw/ is not writable" in run.stderr, run.stderr
    assert not (repo_copy / ".results_raw.stage").exists()
    assert [p.name for p in (repo_copy / "results_raw").iterdir()] == ["old.csv"]


def test_the_data_source_is_not_reported_as_a_parameter_deviation(repo, capsys):
    """A raw run with params/pipeline.yml's values runs with the defaults: neither the run nor
    `verify` says "parameters not those of params/pipeline.yml: data_source=raw"."""
    import json

    from trustlib.run import config, pipeline
    from trustlib.run.cli import main

    cfg = config.RunConfig.load("raw")
    pipeline._say_parameters(cfg, None)
    assert capsys.readouterr().out == ""
    path = repo / "results_raw" / "manifest.json"
    kept = path.read_bytes()
    try:
        path.write_text(json.dumps({**json.loads(kept), "parameters": cfg.parameters()}))
        assert main(["verify", "--data", "raw"]) == 0
        out = capsys.readouterr().out
        assert "scorecard:" in out and "data_source" not in out and "holds a run with" not in out, out
        path.write_text(json.dumps({**json.loads(kept), "parameters": {**cfg.parameters(), "nagq": 3}}))
        main(["verify", "--data", "raw"])
        assert "holds a run with nagq=3 (not the defaults" in capsys.readouterr().out
    finally:
        path.write_bytes(kept)


# -- exports a run can use, given to the whole run -----------------------------------------------------
# A dry run makes every check a run makes (the extract read through the column map, the contract, the
# cohort rules, the release register) and starts no kernel: each export below passes, says what it
# must say, and leaves results_raw/ as it was.

def _as_format(table: str, fmt: str):
    def maker(repo):
        (_raw(repo) / f"{table}.csv").unlink()
        write(_raw(repo), table, fmt)
    return maker


def _stale_sheet_first(state: str):
    """An uncorrected copy on a hidden first sheet (ages of 999: the run would stop if it read it)."""
    def maker(repo):
        stale = _text_table("clinicians").assign(age=999)
        with pd.ExcelWriter(_raw(repo) / "clinicians.xlsx") as xl:
            stale.to_excel(xl, sheet_name="Old", index=False)
            _text_table("clinicians").to_excel(xl, sheet_name="Data", index=False)
            xl.book["Old"].sheet_state = state
        (_raw(repo) / "clinicians.csv").unlink()
    return maker


def _ids_formatted_000(repo):
    """Clinician IDs stored as numbers with a 000 format in the workbook, written 001 in the patients' CSV."""
    import openpyxl

    clin = read_text_table(_raw(repo), "clinicians")
    number = {cid: int(cid[1:]) for cid in clin["clinician_id"]}
    table = _text_table("clinicians")
    table["clinician_id"] = table["clinician_id"].map(number)
    table.to_excel(_raw(repo) / "clinicians.xlsx", index=False)
    wb = openpyxl.load_workbook(_raw(repo) / "clinicians.xlsx")
    for (cell,) in wb.active.iter_rows(min_row=2, max_col=1):
        cell.number_format = "000"
    wb.save(_raw(repo) / "clinicians.xlsx")
    (_raw(repo) / "clinicians.csv").unlink()
    pat = read_text_table(_raw(repo), "patients")
    pat["clinician_id"] = pat["clinician_id"].map(lambda c: f"{number[c]:03d}")
    write_text_table(_raw(repo), "patients", pat)


def _stata_dots(repo):
    """Stata's missing codes in four answer cells of the clinicians' CSV."""
    data = _clinicians_csv(repo)
    for code in (b".", b".a", b".", b".b"):
        data = data.replace(b",-9,", b"," + code + b",", 1)
    (_raw(repo) / "clinicians.csv").write_bytes(data)


def _titled_sheet(repo):
    with pd.ExcelWriter(_raw(repo) / "patients.xlsx") as xl:
        pd.DataFrame({"note": ["about this export"]}).to_excel(xl, sheet_name="About", index=False)
        _text_table("patients").to_excel(xl, sheet_name="Data", index=False, startrow=1)
    (_raw(repo) / "patients.csv").unlink()
    (_raw(repo) / "column_map.yml").write_text("patients:\n  sheet: Data\n  header_row: 2\n")


USABLE = [
    ("a CSV with two byte-order marks", lambda r: _rewrite(_raw(r), "clinicians", lambda b: codecs.BOM_UTF8 * 2 + b),
     []),
    ("UTF-16 with a byte-order mark and CRLF", lambda r: _rewrite(
        _raw(r), "clinics", lambda b: codecs.BOM_UTF16_LE + b.decode().replace("\n", "\r\n").encode("utf-16-le")), []),
    ("line endings of Excel for Mac (CR only)", lambda r: _rewrite(_raw(r), "clinicians", lambda b: b.replace(b"\n", b"\r")),
     []),
    ("a hidden stale sheet before the data", _stale_sheet_first("hidden"), []),
    ("a very hidden stale sheet before the data", _stale_sheet_first("veryHidden"), []),
    ("IDs padded by a 000 number format", _ids_formatted_000, ["numbers with a 000 number format", "'clinician_id'"]),
    ("Stata's missing codes in four cells", _stata_dots, []),
    ("whole numbers written as 3.0", lambda r: _decimal_export(_raw(r)), ["whole numbers written with a decimal point"]),
    ("the clinicians as an SPSS file", _as_format("clinicians", "sav"), []),
    ("the patients as a Stata file", _as_format("patients", "dta"), []),
    ("a workbook's named sheet under a title line", _titled_sheet, []),
]


@pytest.mark.parametrize("name,maker,notes", USABLE, ids=[u[0] for u in USABLE])
def test_an_export_a_run_can_use_passes_every_check_of_the_run(repo, capsys, monkeypatch, name, maker, notes):
    from sandbox import snapshot
    from trustlib.__main__ import main

    monkeypatch.chdir(repo)
    maker(repo)
    before = snapshot(repo / "results_raw")
    with ceiling():
        status = main(["run", "--data", "raw", "--dry-run"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.err == "" and "Traceback" not in captured.out
    said = [line for line in captured.out.splitlines() if line.startswith("note:")]
    assert len(said) == (1 if notes else 0), captured.out
    for part in notes:
        assert part in said[0], captured.out
    assert snapshot(repo / "results_raw") == before

"""The data contract: the synthetic tables validate; every kind of broken input is reported
with the file, the column and the rows, all problems at once."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import read_text_table, write_text_table
from trustlib import paths
from trustlib.data import contract
from trustlib.run.cli import main


def test_synthetic_tables_validate(tables):
    assert {k: len(v) for k, v in tables.items()} == {"clinics": 34, "clinicians": 165, "patients": 1132}


def test_missing_code_becomes_nan_and_items_are_numeric(tables):
    items = tables["clinicians"].filter(like="quality_")
    assert items.dtypes.eq(float).all()
    raw = read_text_table(paths.data_dir("synthetic"), "clinicians")
    assert (raw.filter(like="quality_") == "-9").sum().sum() == items.isna().sum().sum() > 0


def _set(folder, table, column, row, value):
    df = read_text_table(folder, table)
    df.loc[row, column] = value
    write_text_table(folder, table, df)


def _drop_column(folder, table, column):
    df = read_text_table(folder, table)
    write_text_table(folder, table, df.drop(columns=[column]))


def _duplicate_id(folder):
    df = read_text_table(folder, "clinicians")
    df.loc[5, "clinician_id"] = df.loc[4, "clinician_id"]
    write_text_table(folder, "clinicians", df)


def _empty_file(folder):
    (folder / "patients.csv").write_text("")


def _header_only(folder):
    text = (folder / "clinics.csv").read_text().splitlines()[0]
    (folder / "clinics.csv").write_text(text + "\n")


def _latin1(folder):
    df = read_text_table(folder, "clinics")
    df.loc[0, "region"] = "Zürich"
    df.to_csv(folder / "clinics.csv", index=False, encoding="latin-1")


def _semicolon(folder):
    df = read_text_table(folder, "clinics")
    df.to_csv(folder / "clinics.csv", index=False, sep=";")


def _remove_file(folder):
    (folder / "clinics.csv").unlink()


def _ragged(folder):
    with open(folder / "clinics.csv", "a") as fh:
        fh.write("K99,nyc,extra,fields\n")


def _patients_of_one_clinician_removed(folder):
    pat = read_text_table(folder, "patients")
    write_text_table(folder, "patients", pat[pat["clinician_id"] != "C010"])


def _single_clinician_clinic(folder):
    clin = read_text_table(folder, "clinicians")
    clinics = read_text_table(folder, "clinics")
    clinics = pd.concat([clinics, pd.DataFrame([{"clinic_id": "K99", "region": "nyc"}])], ignore_index=True)
    clin.loc[0, "clinic_id"] = "K99"
    write_text_table(folder, "clinics", clinics)
    write_text_table(folder, "clinicians", clin)


def _duplicated_header(folder):
    lines = (folder / "clinics.csv").read_text().splitlines()
    lines = [lines[0] + ",region"] + [line + ",nyc" for line in lines[1:]]
    (folder / "clinics.csv").write_text("\n".join(lines) + "\n")


# (name, how to break the data, expected file, expected column, text in the message, rows named?)
BROKEN = [
    ("out-of-range Likert", lambda f: _set(f, "clinicians", "quality_1", 3, "7"), "clinicians.csv", "quality_1",
     "outside the allowed range 1-4", True),
    ("zero on a 1-5 item", lambda f: _set(f, "patients", "pt_trust_03", 10, "0"), "patients.csv", "pt_trust_03",
     "outside the allowed range 1-5", True),
    ("text in numeric column", lambda f: _set(f, "clinicians", "age", 2, "forty"), "clinicians.csv", "age",
     "not a whole number", True),
    ("decimal in integer column", lambda f: _set(f, "clinicians", "org_trust_2", 8, "2.5"), "clinicians.csv",
     "org_trust_2", "not a whole number", True),
    ("wrong missing-value code", lambda f: _set(f, "patients", "pt_trust_05", 4, "-99"), "patients.csv",
     "pt_trust_05", "or -9 for missing", True),
    ("blank cell instead of the missing code", lambda f: _set(f, "clinicians", "stress", 6, ""), "clinicians.csv",
     "stress", "blank cell", True),
    ("unknown category", lambda f: _set(f, "clinicians", "clinician_type", 1, "nurse"), "clinicians.csv",
     "clinician_type", "not one of the allowed codes", True),
    ("duplicate clinician ID", _duplicate_id, "clinicians.csv", "clinician_id", "duplicated IDs", True),
    ("patient pointing to an unknown clinician", lambda f: _set(f, "patients", "clinician_id", 12, "C999"),
     "patients.csv", "clinician_id", "refers to clinicians not in", True),
    ("clinician pointing to an unknown clinic", lambda f: _set(f, "clinicians", "clinic_id", 0, "K77"),
     "clinicians.csv", "clinic_id", "refers to clinics not in", True),
    ("missing column", lambda f: _drop_column(f, "clinicians", "org_trust_3"), "clinicians.csv", "org_trust_3",
     "required column is missing", False),
    ("empty file", _empty_file, "patients.csv", None, "file is empty", False),
    ("header but no rows", _header_only, "clinics.csv", None, "no data rows", False),
    ("missing file", _remove_file, "clinics.csv", None, "file not found", False),
    ("file in another encoding", _latin1, "clinics.csv", None, "not UTF-8", True),
    ("semicolon delimiter", _semicolon, "clinics.csv", None, "delimiter", False),
    ("ragged row", _ragged, "clinics.csv", None, "not a well-formed CSV", False),
    ("bad ID characters", lambda f: _set(f, "clinics", "clinic_id", 3, "K 04"), "clinics.csv", "clinic_id",
     "IDs must be", True),
    ("duplicated column name", _duplicated_header, "clinics.csv", "region", "more than once", False),
]


def _nul_byte(folder):
    text = (folder / "clinicians.csv").read_bytes()
    lines = text.split(b"\n")
    lines[4] = lines[4].replace(b",", b",\x00", 1)
    (folder / "clinicians.csv").write_bytes(b"\n".join(lines))


def _bom_only(folder):
    (folder / "clinics.csv").write_bytes(b"\xef\xbb\xbf")


def _bom_and_newline(folder):
    (folder / "clinics.csv").write_bytes(b"\xef\xbb\xbf\r\n")


def _folder_instead_of_file(folder):
    (folder / "patients.csv").unlink()
    (folder / "patients.csv").mkdir()


def _header_with_spaces_twice(folder):
    lines = (folder / "clinics.csv").read_text().splitlines()
    lines = [lines[0] + ", region "] + [line + ",nyc" for line in lines[1:]]
    (folder / "clinics.csv").write_text("\n".join(lines) + "\n")


def _orphan_with_free_text_first(folder):
    pat = read_text_table(folder, "patients")
    pat.insert(0, "comment", "my doctor listens")
    pat.loc[7, "clinician_id"] = "C999"
    write_text_table(folder, "patients", pat)


HOSTILE = [
    ("NUL byte in a cell", _nul_byte, "clinicians.csv", None, "NUL bytes", True),
    ("a file holding only a BOM", _bom_only, "clinics.csv", None, "file is empty", False),
    ("a BOM and a newline", _bom_and_newline, "clinics.csv", None, "file is empty", False),
    ("a folder in place of a file", _folder_instead_of_file, "patients.csv", None, "is a folder", False),
    ("Arabic-Indic digits", lambda f: _set(f, "clinicians", "quality_2", 5, "\u0663"), "clinicians.csv",
     "quality_2", "not a whole number", True),
    ("full-width digits", lambda f: _set(f, "clinicians", "age", 5, "\uff14\uff15"), "clinicians.csv", "age",
     "not a whole number", True),
    ("two columns equal after stripping", _header_with_spaces_twice, "clinics.csv", "region", "more than once", False),
]


@pytest.mark.parametrize("name,breaker,file,column,text,rows", BROKEN + HOSTILE,
                         ids=[b[0] for b in BROKEN + HOSTILE])
def test_broken_input_is_reported(data_copy, capsys, name, breaker, file, column, text, rows):
    breaker(data_copy)
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    matching = [p for p in info.value.problems if p.file.endswith(file) and text in p.message
                and (column is None or p.column == column)]
    assert matching, f"{name}: no problem for {file}/{column} with '{text}' in:\n{info.value}"
    if rows:
        assert matching[0].rows, f"{name}: the problem does not name rows"
    message = str(info.value)
    assert file in message and text in message
    assert "Traceback" not in message
    # the command line turns it into a readable list and a non-zero exit
    assert main(["validate", str(data_copy)]) == 2
    printed = capsys.readouterr().err
    assert text in printed and "Traceback" not in printed


def test_every_problem_is_reported_at_once(data_copy):
    _set(data_copy, "clinicians", "quality_1", 3, "9")
    _set(data_copy, "patients", "patient_sex", 7, "x")
    _set(data_copy, "clinics", "region", 1, "south")
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    files = {p.file.split("/")[-1] for p in info.value.problems}
    assert files == {"clinicians.csv", "patients.csv", "clinics.csv"}


def test_rows_are_file_line_numbers(data_copy):
    _set(data_copy, "clinicians", "burnout", 9, "6")       # 10th data row = line 11
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    (problem,) = info.value.problems
    assert problem.rows == (11,)
    assert problem.ids == (read_text_table(data_copy, "clinicians").loc[9, "clinician_id"],)


def test_row_order_does_not_matter(data_copy, tables):
    for table in paths.TABLES:
        df = read_text_table(data_copy, table).sample(frac=1.0, random_state=3)
        write_text_table(data_copy, table, df)
    shuffled = contract.load_folder(data_copy)
    for table in paths.TABLES:
        pd.testing.assert_frame_equal(shuffled[table], tables[table])


def test_column_map_renames_extract_columns(data_copy, tables):
    clin = read_text_table(data_copy, "clinicians").rename(columns={"org_trust_1": "TRUST_Q1", "age": "AGE_YRS"})
    write_text_table(data_copy, "clinicians", clin)
    (data_copy / "patients.csv").rename(data_copy / "pt_survey.csv")
    (data_copy / "column_map.yml").write_text(
        "clinicians:\n  columns:\n    TRUST_Q1: org_trust_1\n    AGE_YRS: age\npatients:\n  file: pt_survey.csv\n")
    mapped = contract.load_folder(data_copy)
    pd.testing.assert_frame_equal(mapped["clinicians"], tables["clinicians"])


def test_column_map_naming_absent_columns_is_an_error(data_copy):
    (data_copy / "column_map.yml").write_text("clinicians:\n  columns:\n    NOPE: age\n")
    with pytest.raises(contract.DataValidationError, match="column map names columns not in the file"):
        contract.load_folder(data_copy)


def test_schema_is_built_from_the_codebook():
    schema = contract.table_schema("patients")
    assert list(schema.columns)[:2] == ["patient_id", "clinician_id"]
    assert schema.columns["patient_id"].unique
    assert len([c for c in schema.columns if c.startswith("pt_trust_")]) == 11


def test_example_column_map_is_valid():
    cmap, problems = contract.ColumnMap.load(paths.DATA / "column_map.example.yml")
    assert problems == []
    assert cmap.files["clinicians"] == "HWP_clinician_baseline.csv"
    assert cmap.columns["patients"]["PROVIDER_ID"] == "clinician_id"


def test_orphan_rows_are_named_by_their_key_never_by_free_text(data_copy):
    _orphan_with_free_text_first(data_copy)
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    message = str(info.value)
    assert "refers to clinicians not in" in message and "my doctor listens" not in message
    assert "ids P" in message


# (what column_map.yml holds, text in the message)
BAD_COLUMN_MAPS = [
    ("- clinicians\n- patients\n", "it is a list"),
    ("clinicians:\n  columns:\n    - AGE_YEARS\n", "clinicians.columns must map"),
    ("clinicians:\n  columns:\n    AGE: age\n    AGE_YEARS: age\n", "maps ['AGE', 'AGE_YEARS'] all to 'age'"),
    ("clinicians:\n  file: a.csv\nclinicians:\n  file: b.csv\n", "duplicate key 'clinicians'"),
    ("clinicians:\n  columns:\n    AGE: age\n    AGE: sex\n", "duplicate key 'AGE'"),
    ("clinicians: [unclosed\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,expected", BAD_COLUMN_MAPS)
def test_a_bad_column_map_is_reported_not_crashed_on(data_copy, text, expected):
    (data_copy / "column_map.yml").write_text(text)
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    assert "column_map.yml" in str(info.value) and expected in str(info.value)


def test_an_extract_column_renamed_onto_an_existing_one_is_reported(data_copy):
    clin = read_text_table(data_copy, "clinicians")
    write_text_table(data_copy, "clinicians", clin.assign(AGE_YEARS=clin["age"]))
    (data_copy / "column_map.yml").write_text("clinicians:\n  columns:\n    AGE_YEARS: age\n")
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    assert "two columns of the file become 'age'" in str(info.value) and "AGE_YEARS" in str(info.value)


def test_zero_survey_clinicians_and_small_clinics_are_valid_data(data_copy):
    """Both are ordinary in real data: the cohort rules exclude them, with their reason
    (tests/test_cohort.py), rather than the contract stopping the run."""
    _patients_of_one_clinician_removed(data_copy)
    _single_clinician_clinic(data_copy)
    tables = contract.load_folder(data_copy)
    assert "K99" in set(tables["clinics"]["clinic_id"])


def _messy(folder):
    """The cohort as a real export: BOM, CRLF, shuffled rows, renamed columns, export columns, and
    a free-text column whose quoted comments span several lines and hold commas."""
    for i, table in enumerate(paths.TABLES):
        df = read_text_table(folder, table).sample(frac=1.0, random_state=i)
        if table == "patients":
            df.insert(1, "comment", ["" if k % 3 else f"line one, {k}\nline two\n\nline four" for k in range(len(df))])
        if table == "clinicians":
            df = df.rename(columns={"age": "AGE_YEARS", "quality_2": "CULT_Q2"}).assign(export_batch="2013-10")
        (folder / f"{table}.csv").write_bytes(b"\xef\xbb\xbf" + df.to_csv(index=False, lineterminator="\r\n").encode())
    (folder / "column_map.yml").write_text("clinicians:\n  columns:\n    AGE_YEARS: age\n    CULT_Q2: quality_2\n")


def test_a_messy_real_world_extract_reads_exactly_as_the_clean_one(data_copy, tables):
    _messy(data_copy)
    messy = contract.load_folder(data_copy)
    for table in paths.TABLES:
        pd.testing.assert_frame_equal(messy[table][tables[table].columns], tables[table])


def test_lines_are_physical_lines_and_columns_named_as_in_the_file(data_copy):
    _messy(data_copy)
    raw = (data_copy / "patients.csv").read_bytes().decode("utf-8-sig")
    records = pd.read_csv(data_copy / "patients.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    target = 10                                               # a record after several multi-line comments
    expected_line = raw[:raw.index(records.loc[target, "patient_id"] + ",")].count("\n") + 1
    assert expected_line > target + 2                         # the naive count would be wrong
    records.loc[target, "pt_trust_02"] = "9"
    (data_copy / "patients.csv").write_bytes(b"\xef\xbb\xbf" + records.to_csv(index=False, lineterminator="\r\n").encode())
    clin = pd.read_csv(data_copy / "clinicians.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    clin.loc[3, "AGE_YEARS"] = "200"
    (data_copy / "clinicians.csv").write_bytes(b"\xef\xbb\xbf" + clin.to_csv(index=False, lineterminator="\r\n").encode())
    with pytest.raises(contract.DataValidationError) as info:
        contract.load_folder(data_copy)
    message = str(info.value)
    assert f"column 'pt_trust_02': outside the allowed range 1-5, or -9 for missing (line {expected_line})" in message
    assert "column 'age' (in the file: 'AGE_YEARS')" in message and "(line 5)" in message
    assert "line one" not in message


# cells as exports write them: valid codes, and what a whole-number range check must refuse or pass
CELLS = ["1", "2", "3", "4", "5", "-9", "0", "6", "01", "1.0", " 3", "", "-1", "\u0663", "4a", "99", "-09"]


def _reference(cells: list[str], lo: float, hi: float, miss: float) -> dict[str, list[bool]]:
    """Each integer check's verdict, cell by cell, from the contract's rules as written."""
    whole = [contract.INT_PATTERN.match(c) is not None for c in cells]
    return {"whole_number": [w or c == "" for w, c in zip(whole, cells)],
            "blank": [c != "" for c in cells],
            "codebook_range": [not w or lo <= int(c) <= hi or int(c) == miss for w, c in zip(whole, cells)]}


@pytest.mark.parametrize("column", ["quality_1", "age", "pt_trust_01", "patient_age"])
def test_integer_checks_give_the_cell_by_cell_verdict_whatever_the_column_holds(column):
    """The checks pass a column of valid codes without testing each cell: on columns of valid
    codes only, and on columns mixing in anything else, every verdict is the cell-by-cell one."""
    import random

    from trustlib.data import codebook

    cb = codebook.load_codebook().set_index("variable").loc[column]
    table = cb["table"]
    checks = {c.name: c for c in contract.table_schema(table).columns[column].checks}
    lo, hi, miss = cb["min"], cb["max"], cb["missing_code"]
    valid = [str(v) for v in range(int(lo), int(hi) + 1)] + [str(int(miss))]
    rng = random.Random(7)
    columns = [valid, [rng.choice(valid) for _ in range(300)]]
    columns += [[rng.choice(valid) for _ in range(300)] + [odd] for odd in CELLS]
    for cells in columns:
        s = pd.Series(cells, dtype=object)
        expected = _reference(cells, lo, hi, miss)
        for name, verdict in expected.items():
            assert checks[name]._check_fn(s).tolist() == verdict, (column, name, cells[-1])


def test_typed_integers_are_the_numbers_pandas_reads_with_the_missing_code_as_nan():
    import math

    import numpy as np

    from trustlib.data import codebook

    variables = codebook.table_variables("patients")["variable"].tolist()
    cells = ["3", "007", "-9", "-0", "5", "1"]
    df = pd.DataFrame({v: cells if v.startswith("pt_trust") or v == "patient_age" else [f"X{i}" for i in range(6)]
                       for v in variables})
    typed = contract._typed("patients", df)
    expected = pd.to_numeric(pd.Series(cells)).astype("float64").mask(lambda x: x == -9)
    for v in variables:
        if v.startswith("pt_trust"):
            assert typed[v].dtype == np.float64 and typed[v].tolist()[:2] == expected.tolist()[:2]
            assert math.isnan(typed[v][2]) and math.copysign(1.0, typed[v][3]) == 1.0   # -0 read as 0
    assert typed["patient_id"].tolist() == [f"X{i}" for i in range(6)]


READ_PROBLEMS = """
import json, sys
if sys.argv[2] == "with":
    import hypothesis
from trustlib.data import contract
try:
    contract.load_folder(sys.argv[1])
    problems = []
except contract.DataValidationError as err:
    problems = [str(p) for p in err.problems]
import pandera.strategies.base_strategies as strategies
print(json.dumps({"problems": problems, "hypothesis_imported": "hypothesis" in sys.modules,
                  "strategies": strategies.HAS_HYPOTHESIS}))
import hypothesis
"""


def test_validation_without_hypothesis_finds_what_it_finds_with_it(data_copy):
    """A process that has not imported hypothesis (a kernel, the runner) validates without pandera's
    data-synthesis strategies, so without importing hypothesis: the same problems as a process
    that had imported it, and hypothesis still imports afterwards."""
    _set(data_copy, "clinicians", "quality_1", 3, "9")
    _set(data_copy, "patients", "patient_sex", 7, "x")
    _set(data_copy, "clinics", "region", 1, "south")
    without, with_ = (json.loads(subprocess.run([sys.executable, "-c", READ_PROBLEMS, str(data_copy), how],
                                                capture_output=True, text=True, check=True).stdout)
                      for how in ("without", "with"))
    assert without["problems"] == with_["problems"] and len(without["problems"]) == 3
    assert not without["hypothesis_imported"] and not without["strategies"]
    assert with_["hypothesis_imported"] and with_["strategies"]

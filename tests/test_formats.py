"""Extracts as Stata, SPSS and Excel files read exactly as the CSV extract does (value labels
used for the codebook's categories, codes kept for items); broken variants get clear messages.
(A full raw run on such an extract is in test_interrupts.py.)"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from trustlib import paths
from trustlib.data import codebook, contract, extract

CODES = {"sex": ["female", "male"], "clinician_type": ["physician", "np", "pa"], "specialty": ["family", "internal"]}


def _text_table(table: str) -> pd.DataFrame:
    """The synthetic table as a survey tool holds it: integers as numbers, IDs and labels as text."""
    df = pd.read_csv(paths.table_file("synthetic", table), dtype=str, keep_default_na=False)
    return df.apply(lambda s: pd.to_numeric(s) if s.str.fullmatch(r"-?\d+").all() else s)


def _labelled(df: pd.DataFrame, labels=CODES) -> tuple[pd.DataFrame, dict]:
    """Categories stored as integer codes 1, 2, ... with value labels, as Stata and SPSS do."""
    out, value_labels = df.copy(), {}
    for col, cats in labels.items():
        if col in df.columns:
            out[col] = df[col].map({c: i + 1 for i, c in enumerate(CODES[col])}).astype("int32")
            value_labels[col] = {i + 1: lab for i, lab in enumerate(cats)}
    return out, value_labels


def write(folder, table: str, fmt: str, labels=CODES) -> None:
    df = _text_table(table)
    if fmt == "csv":
        shutil.copy(paths.table_file("synthetic", table), folder / f"{table}.csv")
    elif fmt == "xlsx":
        df.to_excel(folder / f"{table}.xlsx", index=False)
    elif fmt == "dta":
        coded, value_labels = _labelled(df, labels)
        coded.to_stata(folder / f"{table}.dta", write_index=False, value_labels=value_labels, version=118)
    elif fmt == "sav":
        import pyreadstat

        coded, value_labels = _labelled(df, labels)
        pyreadstat.write_sav(coded, str(folder / f"{table}.sav"), variable_value_labels=value_labels)


@pytest.fixture(scope="module")
def csv_tables():
    return contract.load_folder(paths.data_dir("synthetic"))


@pytest.mark.parametrize("fmt", ["dta", "sav", "xlsx"])
def test_each_format_reads_as_the_csv_extract(tmp_path, csv_tables, fmt):
    for table in paths.TABLES:
        write(tmp_path, table, fmt)
    tables = contract.load_folder(tmp_path)
    for table in paths.TABLES:
        pd.testing.assert_frame_equal(tables[table], csv_tables[table], check_dtype=True)
        assert list(tables[table].attrs["read"]) == [str(tmp_path / f"{table}.{fmt}")]


def test_value_labels_are_used_for_categories_and_codes_kept_for_items(tmp_path):
    write(tmp_path, "clinicians", "dta")
    df, problems = extract.read_table(tmp_path / "clinicians.dta", tmp_path, "clinicians", extract.ColumnMap())
    assert not problems
    assert set(df["sex"]) == {"female", "male"} and set(df["clinician_type"]) <= {"physician", "np", "pa"}
    items = codebook.scale_items("quality")["variable"]
    assert set(df[items.iloc[0]]) <= {"1", "2", "3", "4", "-9"}


def test_a_mixed_folder_with_a_column_map(tmp_path, csv_tables):
    write(tmp_path, "clinics", "xlsx")
    write(tmp_path, "patients", "sav")
    df = _text_table("clinicians").rename(columns={"sex": "GENDER"})
    coded, labels = _labelled(df.rename(columns={"GENDER": "sex"}))
    coded.rename(columns={"sex": "GENDER"}).to_stata(tmp_path / "Clin_2013.dta", write_index=False, version=118,
                                                      value_labels={("GENDER" if k == "sex" else k): v
                                                                    for k, v in labels.items()})
    (tmp_path / "column_map.yml").write_text("clinicians:\n  file: Clin_2013.dta\n  columns:\n    GENDER: sex\n")
    tables = contract.load_folder(tmp_path)
    pd.testing.assert_frame_equal(tables["clinicians"], csv_tables["clinicians"])
    assert [p.name for p in extract.input_files(tmp_path)] == ["column_map.yml", "clinics.xlsx", "Clin_2013.dta",
                                                                "patients.sav"]


def _problems(folder) -> str:
    with pytest.raises(contract.DataValidationError) as err:
        contract.load_folder(folder)
    return str(err.value)


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_wrong_value_labels_name_the_file_and_column(tmp_path, fmt):
    for table in ("clinics", "patients"):
        write(tmp_path, table, "csv")
    write(tmp_path, "clinicians", fmt, labels={**CODES, "sex": ["F", "M"]})
    msg = _problems(tmp_path)
    assert f"clinicians.{fmt}, column 'sex'" in msg and "not one of the allowed codes ['female', 'male']" in msg


@pytest.mark.parametrize("fmt", ["dta", "sav", "xlsx"])
def test_an_unreadable_file_says_so(tmp_path, fmt):
    for table in ("clinics", "patients"):
        write(tmp_path, table, "csv")
    (tmp_path / f"clinicians.{fmt}").write_bytes(b"this is not a real file\n" * 10)
    msg = _problems(tmp_path)
    kind = {"dta": "Stata", "sav": "SPSS", "xlsx": "Excel"}[fmt]
    assert f"clinicians.{fmt}: could not be read as a {kind} file" in msg and "re-export" in msg


def test_unsupported_format_and_two_files_for_one_table(tmp_path):
    for table in paths.TABLES:
        write(tmp_path, table, "csv")
    (tmp_path / "clinicians.json").write_text("{}")
    (tmp_path / "column_map.yml").write_text("clinicians:\n  file: clinicians.json\n")
    assert "supported formats are .csv, .dta, .sav, .xlsx" in _problems(tmp_path)
    (tmp_path / "column_map.yml").unlink()
    write(tmp_path, "clinicians", "dta")
    assert "more than one file for table 'clinicians' (clinicians.csv, clinicians.dta)" in _problems(tmp_path)



@pytest.mark.parametrize("fmt", ["dta", "sav", "xlsx"])
def test_the_command_line_exits_2_on_a_broken_file(tmp_path, capsys, fmt):
    from trustlib.run.cli import main

    for table in ("clinics", "patients"):
        write(tmp_path, table, "csv")
    (tmp_path / f"clinicians.{fmt}").write_bytes(b"\x00\x01 not a real file")
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"clinicians.{fmt}: could not be read" in err and "Traceback" not in err

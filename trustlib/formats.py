"""Reading an extract that is not CSV: Excel ``.xlsx``, Stata ``.dta`` and SPSS ``.sav``.

Each reader returns what a CSV export of the file would hold: every column as text (integers
without a decimal point, missing values empty), so the same column map, contract and messages
apply. Stata and SPSS files keep numeric codes; their value labels are returned too, and
:func:`apply_value_labels` uses them only for columns the codebook defines as categories
(``sex`` stored as 1/2 labelled female/male becomes ``female``/``male``); Likert items keep their
codes. Rows are reported as in a CSV export (the header is line 1, the first record line 2).

Workbooks are read cell by cell with openpyxl in read-only mode: the sheet ``sheet`` (name, or
number from 1; default the first), the header on line ``header_row``, only the header's columns
(a stray value far to the right or far below cannot blow up memory), empty rows skipped. A
formula whose value Excel never computed is named as such, not read as a blank cell.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import pandas as pd

from .reading import RecordLines

SUPPORTED = (".csv", ".dta", ".sav", ".xlsx")
KIND = {"dta": "Stata", "sav": "SPSS", "xlsx": "Excel"}
BINARY = {".dta": "dta", ".sav": "sav", ".xlsx": "xlsx"}     # suffix -> the format its bytes should have


def _text(value) -> str:
    """A cell as a CSV export writes it: '' for missing, 3 for 3.0, the text otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _labels_dta(raw: bytes) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Codes, and for each labelled column its code -> label pairs (read as pandas labels them)."""
    codes = pd.read_stata(io.BytesIO(raw), convert_categoricals=False)
    labelled = pd.read_stata(io.BytesIO(raw), convert_categoricals=True)
    labels = {}
    for col in labelled.columns:
        if isinstance(labelled[col].dtype, pd.CategoricalDtype):
            pairs = pd.DataFrame({"code": codes[col], "label": labelled[col].astype(object)}).dropna()
            labels[col] = dict(zip(pairs["code"], pairs["label"]))
    return codes, labels


def _labels_sav(path: Path) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Codes (user-missing and system-missing values empty) and value labels."""
    import pyreadstat

    df, meta = pyreadstat.read_sav(str(path), apply_value_formats=False, user_missing=False)
    return df, dict(meta.variable_value_labels)


def _sheet(wb, sheet):
    """The worksheet asked for, or a message listing the workbook's sheets."""
    names = wb.sheetnames
    if sheet is None:
        return wb[names[0]], None
    if isinstance(sheet, int):
        return (wb[names[sheet - 1]], None) if sheet <= len(names) else (None, f"has no sheet {sheet}; its sheets: {names}")
    return (wb[sheet], None) if sheet in names else (None, f"has no sheet '{sheet}'; its sheets: {names}")


def _xlsx(raw: bytes, sheet, header_row: int) -> tuple[pd.DataFrame | None, list[str]]:
    """A worksheet as text columns: the header's columns only, empty rows left out; formula cells
    without a computed value reported with their lines. Read from the bytes (whatever the file's
    name)."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    sheets = list(wb.sheetnames)
    try:
        ws, problem = _sheet(wb, sheet)
        if problem:
            return None, [problem]
        rows = ws.iter_rows(min_row=header_row, values_only=True)
        header = [_text(v) for v in next(rows, ())]
        while header and header[-1] == "":
            header.pop()
        if not header:
            return None, [f"sheet '{ws.title}' has no header on line {header_row}"]
        records, lines, blanks = [], [], []
        for n, row in enumerate(ws.iter_rows(min_row=header_row + 1, max_col=len(header), values_only=True),
                                start=header_row + 1):
            cells = [_text(v) for v in row] + [""] * (len(header) - len(row))
            if any(cells):
                records.append(cells)
                lines.append(n)
                if "" in cells and len(blanks) < 1000:
                    blanks.append(n)
    finally:
        wb.close()
    formulas = _formula_lines(raw, ws.title, header_row, len(header), set(blanks)) if blanks else []
    if formulas:
        return None, [f"has formula cells whose values Excel never computed ({'line' if len(formulas) == 1 else 'lines'} "
                      f"{', '.join(map(str, formulas[:10]))}"
                      f"{' and more' if len(formulas) > 10 else ''}): open the workbook in Excel and save it, or "
                      "paste the values"]
    df = pd.DataFrame(records, columns=header, dtype=str)
    df.attrs["lines"] = RecordLines(lines)
    df.attrs["sheets"] = sheets
    return df, []


def _formula_lines(raw: bytes, title: str, header_row: int, width: int, lines: set[int]) -> list[int]:
    """Lines among ``lines`` holding a formula (read without computed values)."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    try:
        found = []
        for n, row in enumerate(wb[title].iter_rows(min_row=header_row + 1, max_col=width, values_only=True),
                                start=header_row + 1):
            if n in lines and any(isinstance(v, str) and v.startswith("=") for v in row):
                found.append(n)
            if n >= max(lines):
                break
        return found
    finally:
        wb.close()


def read(path: Path, raw: bytes, kind: str, sheet=None, header_row: int = 1
         ) -> tuple[pd.DataFrame | None, dict[str, dict], list[str]]:
    """Read a Stata, SPSS or Excel file (``kind``: ``dta``, ``sav``, ``xlsx``, from its bytes) as
    text columns plus value labels ``{column: {code: label}}``; or None and the messages why."""
    labels: dict[str, dict] = {}
    try:
        if kind == "xlsx":
            df, messages = _xlsx(raw, sheet, header_row)
            if messages:
                return None, {}, messages
        elif kind == "dta":
            df, labels = _labels_dta(raw)
        else:
            with tempfile.NamedTemporaryFile(suffix=".sav") as tmp:   # read the bytes checked, not the path again
                tmp.write(raw)
                tmp.flush()
                df, labels = _labels_sav(Path(tmp.name))
    except Exception as err:  # each library raises its own types for a damaged file
        return None, {}, [f"could not be read as a {KIND[kind]} file ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else 'no detail'}); re-export it"]
    if df.empty:
        return None, {}, ["has no data rows"]
    lines = df.attrs.get("lines")
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda s: s.map(_text)).astype(str) if len(df.columns) else df
    if lines:
        df.attrs["lines"] = lines
    return df, labels, []


def apply_value_labels(df: pd.DataFrame, labels: dict[str, dict], categories: dict[str, list[str]]) -> pd.DataFrame:
    """Replace codes by their value labels in the columns the codebook defines as categories
    (``categories``: column -> allowed values); other columns keep their codes."""
    out = df.copy()
    for col in df.columns:
        mapping = labels.get(col)
        if col in categories and mapping:
            text = {_text(code): str(label).strip() for code, label in mapping.items()}
            out[col] = df[col].map(lambda v: text.get(v, v))
    out.attrs = dict(df.attrs)
    return out

"""Reading an extract that is not CSV: Excel ``.xlsx``, Stata ``.dta`` and SPSS ``.sav``.

Each reader returns what a CSV export of the file would hold: every column as text (integers
without a decimal point, missing values empty), so the same column map, contract and messages
apply. Stata and SPSS files keep numeric codes; their value labels are returned too, and
:func:`apply_value_labels` uses them only for columns the codebook defines as categories
(``sex`` stored as 1/2 labelled female/male becomes ``female``/``male``); Likert items keep their
codes. Rows are reported as in a CSV export (the header is line 1, the first record line 2).

Workbooks are read cell by cell with openpyxl in read-only mode: the sheet ``sheet`` (a name,
any sheet's; or a number from 1, counting the visible sheets; by default the one visible sheet:
hidden and very hidden sheets are read only when named, and a workbook with more than one
visible sheet must say which), the header on line ``header_row``, only the header's columns
(a stray value far to the right or far below cannot blow up memory), empty rows skipped. A
formula whose value Excel never computed is named as such, not read as a blank cell. A whole
number formatted ``000`` (an ID 001 stored as the number 1) is read as Excel displays it.
"""

from __future__ import annotations

import io
import math
import re
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


def _sheet(wb, sheet, table: str):
    """The worksheet asked for, or a message saying which sheets the workbook has. Without
    ``sheet``, the one visible worksheet (hidden and very hidden sheets are read only when named;
    a workbook with more than one visible sheet must say which holds the data); a number counts
    the visible sheets, as Excel's tabs show them; a name may be any worksheet's, hidden or not."""
    visible = [ws.title for ws in wb.worksheets if ws.sheet_state == "visible"]
    hidden = len(wb.worksheets) - len(visible)
    also = f" (and {hidden} hidden, read only when named)" if hidden else ""
    ask = f"name the one with the data in column_map.yml ({table}: sheet: NAME)"
    if sheet is None:
        if len(visible) == 1:
            return wb[visible[0]], None
        if not visible:
            return None, f"has no visible sheet{also}: {ask}"
        return None, f"has {len(visible)} visible sheets {visible}{also}: {ask}"
    if isinstance(sheet, int):
        if sheet <= len(visible):
            return wb[visible[sheet - 1]], None
        return None, f"has no sheet {sheet}; its visible sheets: {visible}{also}"
    titles = [ws.title for ws in wb.worksheets]
    if sheet in titles:
        return wb[sheet], None
    if sheet in wb.sheetnames:
        return None, f"sheet '{sheet}' is a chart, not a worksheet; its worksheets: {titles}"
    return None, f"has no sheet '{sheet}'; its visible sheets: {visible}{also}"


ZEROS = re.compile(r"^0{2,}$")   # a number format that pads whole numbers with zeros: 000 shows 1 as 001


def _cell_text(cell) -> tuple[str, bool]:
    """A cell as Excel displays it, for what a CSV export would hold: a whole number formatted
    ``000`` with its leading zeros (an ID 001 stored as the number 1); and whether it was padded."""
    value = cell.value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        fmt = getattr(cell, "number_format", None)
        if fmt and ZEROS.match(fmt) and value >= 0:
            text = str(int(value)).zfill(len(fmt))
            return text, text != str(int(value))
    return _text(value), False


def _xlsx(raw: bytes, sheet, header_row: int, table: str) -> tuple[pd.DataFrame | None, list[str]]:
    """A worksheet as text columns: the header's columns only, empty rows left out; formula cells
    without a computed value reported with their lines. Read from the bytes (whatever the file's
    name). ``attrs["sheet"]`` names the sheet read; ``attrs["padded"]`` the columns whose whole
    numbers were read as their ``000`` number format displays them."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    sheets = list(wb.sheetnames)
    try:
        ws, problem = _sheet(wb, sheet, table)
        if problem:
            return None, [problem]
        rows = ws.iter_rows(min_row=header_row, values_only=True)
        header = [_text(v) for v in next(rows, ())]
        while header and header[-1] == "":
            header.pop()
        if not header:
            return None, [f"sheet '{ws.title}' has no header on line {header_row}"]
        records, lines, blanks, padded = [], [], [], set()
        # cells with their number formats (slower to read) only when the workbook defines a 000 format
        formatted = any(ZEROS.match(str(f)) for f in getattr(wb, "_number_formats", ["000"]))
        for n, row in enumerate(ws.iter_rows(min_row=header_row + 1, max_col=len(header), values_only=not formatted),
                                start=header_row + 1):
            texts = [_cell_text(c) for c in row] if formatted else [(_text(v), False) for v in row]
            cells = [t for t, _ in texts] + [""] * (len(header) - len(row))
            padded.update(i for i, (_, pad) in enumerate(texts) if pad)
            if any(cells):
                records.append(cells)
                lines.append(n)
                if "" in cells and len(blanks) < 1000:
                    blanks.append(n)
    finally:
        wb.close()
    formulas = _formula_lines(raw, ws.title, header_row, len(header), set(blanks)) if blanks else []
    if formulas:
        return None, [f"sheet '{ws.title}' has formula cells whose values Excel never computed "
                      f"({'line' if len(formulas) == 1 else 'lines'} {', '.join(map(str, formulas[:10]))}"
                      f"{' and more' if len(formulas) > 10 else ''}): open the workbook in Excel and save it, or "
                      "paste the values"]
    df = pd.DataFrame(records, columns=header, dtype=str)
    df.attrs["lines"] = RecordLines(lines)
    df.attrs["sheets"] = sheets
    df.attrs["sheet"] = ws.title
    df.attrs["padded"] = sorted(header[i] for i in padded)
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


def read(path: Path, raw: bytes, kind: str, sheet=None, header_row: int = 1, table: str = "TABLE"
         ) -> tuple[pd.DataFrame | None, dict[str, dict], list[str]]:
    """Read a Stata, SPSS or Excel file (``kind``: ``dta``, ``sav``, ``xlsx``, from its bytes) as
    text columns plus value labels ``{column: {code: label}}``; or None and the messages why."""
    labels: dict[str, dict] = {}
    try:
        if kind == "xlsx":
            df, messages = _xlsx(raw, sheet, header_row, table)
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
        sheet = f"sheet '{df.attrs['sheet']}' " if df.attrs.get("sheet") else ""
        return None, {}, [f"{sheet}has no data rows"]
    attrs = dict(df.attrs)
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda s: s.map(_text)).astype(str) if len(df.columns) else df
    df.attrs = attrs
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

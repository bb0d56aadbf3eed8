"""The data contract: reading the three raw tables and validating them against the codebook.

The raw format is three tables, ``clinics``, ``clinicians`` and ``patients`` (CSV, or Stata,
SPSS or Excel files; :mod:`trustlib.data.extract` finds and reads them), with one column per codebook
variable (extra columns are ignored). Survey items hold whole numbers in their codebook range,
or the codebook's missing-value code (-9); blank cells are not allowed. Validation is built from
the codebook with pandera, runs every check, and raises one :class:`DataValidationError`
listing *all* problems, each naming the file, the column and the offending rows (file line
numbers) or IDs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from .. import InputError, paths
from . import codebook, reading
from .extract import ColumnMap, candidate_files, input_files, read_table, table_path  # noqa: F401

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
INT_PATTERN = re.compile(r"^-?[0-9]+$")   # ASCII digits only: int() reads other scripts' digits too
MAX_LISTED = 10


@dataclass(frozen=True)
class Problem:
    """One validation finding. ``rows`` are 1-based file line numbers (the header is line 1)."""

    file: str
    column: str | None
    message: str
    rows: tuple[int, ...] = ()
    ids: tuple[str, ...] = ()
    file_column: str | None = None   # the extract's own name, when the column map renamed it

    def __str__(self) -> str:
        where = self.file + (f", column '{self.column}'" if self.column else "")
        if self.file_column and self.file_column != self.column:
            where += f" (in the file: '{self.file_column}')"
        detail = ""
        if self.rows:
            shown = ", ".join(map(str, self.rows[:MAX_LISTED]))
            more = f" and {len(self.rows) - MAX_LISTED} more" if len(self.rows) > MAX_LISTED else ""
            detail += f" ({'line' if len(self.rows) == 1 else 'lines'} {shown}{more})"
        if self.ids:
            shown = ", ".join(self.ids[:MAX_LISTED])
            more = f" and {len(self.ids) - MAX_LISTED} more" if len(self.ids) > MAX_LISTED else ""
            detail += f" [ids {shown}{more}]"
        return f"{where}: {self.message}{detail}"


class DataValidationError(InputError):
    """Raised when input data break the contract; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem], folder: Path | str | None = None):
        self.problems = list(problems)
        self.folder = folder
        head = f"{len(self.problems)} {'problem' if len(self.problems) == 1 else 'problems'} in the input data"
        if folder is not None:
            head += f" in {paths.relative(Path(folder))}"
        lines = [head + ":"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def _problems(name: str, messages) -> list[Problem]:
    """Problems of one file from the readers' messages (text, ``(column, text)`` or
    ``(column, text, lines)``)."""
    return [Problem(name, m[0], m[1], tuple(m[2]) if len(m) > 2 else ()) if isinstance(m, tuple)
            else Problem(name, None, m) for m in messages]


def _lines(df: pd.DataFrame, index) -> tuple[int, ...]:
    """File lines of the rows at ``index`` (the header is line 1)."""
    starts = df.attrs.get("lines")
    return tuple(starts[int(i)] if starts and int(i) < len(starts) else int(i) + 2 for i in index)


def _column_checks(var: pd.Series) -> list[pa.Check]:
    checks = []
    vtype = var["type"]
    if vtype == "id":
        checks.append(pa.Check(lambda s: s.str.match(ID_PATTERN), name="id",
                               error="IDs must be non-empty letters, digits, '_', '-' or '.'"))
    elif vtype == "integer":
        miss = var["missing_code"]
        lo, hi = var["min"], var["max"]
        code_note = f", or {int(miss)} for missing" if pd.notna(miss) else ""
        # the values that pass all three checks below, as text: a column holding only these (as a
        # survey column does) passes without a test of each cell
        valid = set()
        if pd.notna(lo) and pd.notna(hi) and float(lo).is_integer() and float(hi).is_integer() and hi - lo <= 1000:
            valid = {str(v) for v in range(int(lo), int(hi) + 1)} | ({str(int(miss))} if pd.notna(miss) else set())

        def whole_number(s):
            ok = s.isin(valid)
            return ok if ok.all() else s.str.match(INT_PATTERN) | (s == "")

        checks.append(pa.Check(whole_number, name="whole_number", error="not a whole number"))
        checks.append(pa.Check(lambda s: s != "", name="blank",
                               error=f"blank cell; missing values must be coded {int(miss) if pd.notna(miss) else 'explicitly'}"))

        def within_codebook_range(s, lo=lo, hi=hi, miss=miss):
            ok = s.isin(valid)
            if ok.all():
                return ok
            x = pd.to_numeric(s.where(s.str.match(INT_PATTERN)), errors="coerce")
            ok = x.isna() | x.between(lo, hi)
            if pd.notna(miss):
                ok |= x == miss
            return ok

        checks.append(pa.Check(within_codebook_range, name="codebook_range",
                               error=f"outside the allowed range {int(lo)}-{int(hi)}{code_note}"))
    elif vtype == "category":
        allowed = var["categories"].split("|")
        checks.append(pa.Check(lambda s, a=allowed: s.isin(a), name="category",
                               error=f"not one of the allowed codes {allowed}"))
    return checks


def table_schema(table: str) -> pa.DataFrameSchema:
    """pandera schema of one raw table, built from the codebook (all value checks); built
    once per version of the codebook file (:func:`trustlib.paths.version`), as the codebook itself
    is read once per version (:func:`trustlib.data.codebook.load_codebook`)."""
    return _table_schema(paths.version(paths.CODEBOOK), table)


@lru_cache(maxsize=16)
def _table_schema(codebook_version: tuple, table: str) -> pa.DataFrameSchema:
    columns = {}
    for _, var in codebook.table_variables(table).iterrows():
        # every reader returns text columns (extract.read_table), so the schema checks the values and
        # not the dtype (pandera would test each cell's type: a third of the time of a validation)
        columns[var["variable"]] = pa.Column(
            None, checks=_column_checks(var), nullable=False,
            unique=var["key"] == "primary", required=True, name=var["variable"])
    return pa.DataFrameSchema(columns, strict=False, name=table)


def quotable(df: pd.DataFrame, column: str | None, id_columns: set[str]) -> bool:
    """Whether a message may quote values of ``column``: only a column the codebook defines as
    an ID (``id_columns``) whose every value passes the ID rules. A column mapped onto an ID that
    holds e-mail addresses or comments fails them, and then no value of it is quoted (a free-text
    column never is): messages name its lines only."""
    return column in id_columns and column in df and bool(df[column].str.fullmatch(ID_PATTERN.pattern).all())


def _problems_from_pandera(err: pa.errors.SchemaErrors, name: str, df: pd.DataFrame,
                           id_col: str | None, id_columns: set[str] = frozenset()) -> list[Problem]:
    """Problems from pandera's failure cases: file, column, lines and the rows' IDs. Values are
    quoted only from ID columns whose every value passes the ID rules (:func:`quotable`): a
    message never carries an answer, a comment or an address."""
    fc = err.failure_cases
    problems = []
    named = id_col is not None and quotable(df, id_col, id_columns)
    for (column, check), grp in fc.groupby(["column", "check"], dropna=False, sort=False):
        if check == "column_in_dataframe":
            for case in grp["failure_case"]:
                problems.append(Problem(name, str(case), "required column is missing"))
            continue
        idx = sorted({int(i) for i in grp["index"].dropna()})
        rows = _lines(df, idx)
        ids = tuple(df.loc[idx, id_col].tolist()) if named and column != id_col else ()
        if check == "field_uniqueness":
            if quotable(df, str(column), id_columns):
                message = f"duplicated IDs {sorted(set(grp['failure_case'].astype(str)))[:MAX_LISTED]}"
            else:
                message = "duplicated values (an ID must be unique)"
            problems.append(Problem(name, str(column), message, rows=rows))
            continue
        message = _check_message(err, str(column), str(check))
        problems.append(Problem(name, None if pd.isna(column) else str(column), message, rows=rows, ids=ids))
    return problems


def _check_message(err: pa.errors.SchemaErrors, column: str, check: str) -> str:
    col = err.schema.columns.get(column)
    if col is not None:
        for c in col.checks:
            if c.name == check or str(c) == check:
                return c.error or check
    return check


@contextlib.contextmanager
def _without_hypothesis():
    """pandera registers its checks on a process's first validation and imports, with them, its
    data-synthesis strategies, and so hypothesis where it is installed (the test suite's): 0.2 s
    in each process that reads an extract, the runner's serial start among them. Validation uses
    none of it. Where hypothesis is not imported yet, it is unimportable for this while (pandera
    then registers the checks without strategies); a process that imported it already is left
    as it is, and hypothesis imports as usual afterwards."""
    if "hypothesis" in sys.modules:
        yield
        return
    sys.modules["hypothesis"] = None
    try:
        yield
    finally:
        if "hypothesis" in sys.modules and sys.modules["hypothesis"] is None:
            del sys.modules["hypothesis"]


def validate_tables(tables: dict[str, pd.DataFrame], names: dict[str, str] | None = None) -> list[Problem]:
    """All problems of the three tables (per-table checks, then cross-table keys). Clinicians
    without patient surveys and clinics with few clinicians are valid data: the cohort rules
    exclude them, with their reason (:func:`trustlib.data.cohort.apply_sufficient_data`)."""
    names = names or {t: f"{t}.csv" for t in tables}
    problems: list[Problem] = []
    ok = {}
    for table, df in tables.items():
        schema = table_schema(table)
        id_col = next((v for v, c in schema.columns.items() if c.unique), None)
        try:
            with _without_hypothesis():
                schema.validate(df, lazy=True)
            ok[table] = True
        except pa.errors.SchemaErrors as err:
            ids = set(codebook.table_variables(table).query("type == 'id'")["variable"])
            problems += _problems_from_pandera(err, names[table], df, id_col, ids)
            ok[table] = False
    cb = codebook.load_codebook()
    for _, var in cb[cb["key"].str.contains(r"\.", regex=True)].iterrows():
        child, col = var["table"], var["variable"]
        parent, pcol = var["key"].split(".")
        if child not in tables or parent not in tables:
            continue
        cdf, pdf = tables[child], tables[parent]
        if col not in cdf or pcol not in pdf:
            continue
        if not quotable(pdf, pcol, {pcol}):          # the parent's keys are not IDs: that is the problem to name
            continue
        unknown = ~cdf[col].isin(set(pdf[pcol]))
        if unknown.any():
            ids = set(codebook.table_variables(child).query("type == 'id'")["variable"])
            id_col = codebook.table_variables(child)["variable"].iloc[0]   # the table's own key
            values = (f": {sorted(set(cdf.loc[unknown, col]))[:MAX_LISTED]}" if quotable(cdf, col, ids) else "")
            problems.append(Problem(names[child], col, f"refers to {parent} not in {names[parent]}{values}",
                                    rows=_lines(cdf, cdf.index[unknown]),
                                    ids=tuple(cdf.loc[unknown, id_col]) if quotable(cdf, id_col, ids) else ()))
    return problems


def _typed(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Codebook columns only, integers as numbers (float64) with the missing-value code turned
    into NaN. ``df`` has passed the contract: every integer cell is ASCII digits with an optional
    minus sign, which float() reads exactly as pandas' to_numeric does (-0 as 0)."""
    cb = codebook.table_variables(table)
    out = df[cb["variable"].tolist()].copy()
    ints = cb[cb["type"] == "integer"]
    if len(ints):
        cols = ints["variable"].tolist()
        x = pd.DataFrame(df[cols].to_numpy(dtype="float64") + 0.0, columns=cols, index=df.index)
        out[cols] = x.mask(x.eq(ints["missing_code"].to_numpy(dtype="float64"), axis=1))
    return out


def load_folder(folder: Path, column_map: Path | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate the three tables in ``folder``; return them typed, sorted by ID.

    Survey items become floats (1-4 or 1-5) with NaN for the missing-value code. Rows are
    sorted by their ID so results do not depend on the order of rows in the files.
    Raises :class:`DataValidationError` listing every problem found.
    """
    folder = Path(folder)
    cmap_path = column_map if column_map is not None else folder / "column_map.yml"
    cmap, cmap_problems = ColumnMap.load(cmap_path)
    if cmap_problems:
        raise DataValidationError(_problems(paths.relative(Path(cmap_path)), cmap_problems), folder)
    tables, names, problems = {}, {}, []
    for table in paths.TABLES:
        found = candidate_files(folder, cmap, table)
        if len(found) > 1:
            problems.append(Problem(paths.relative(folder), None, f"more than one file for table '{table}' "
                                    f"({', '.join(p.name for p in found)}); keep one, or name it in column_map.yml"))
            continue
        path = table_path(folder, cmap, table)
        names[table] = paths.relative(path)
        df, messages = read_table(path, folder, table, cmap)
        problems += _problems(names[table], messages)
        if df is not None and df.attrs.get("sheet"):        # every message about a workbook names its sheet
            names[table] += f", sheet '{df.attrs['sheet']}'"
        if df is not None:
            df.attrs["lines"] = reading.RecordLines(df.attrs.get("lines") or ())
            renamed, rename_problems = _renamed(df, cmap.columns.get(table, {}), names[table])
            problems += rename_problems
            if renamed is not None:
                tables[table] = renamed
                tables[table].attrs["read"] = {**df.attrs["read"], **cmap.read}
    problems += _hint_missing_columns(validate_tables(tables, names), tables, names, cmap)
    file_names = {names[t]: {new: old for old, new in cmap.columns.get(t, {}).items()} for t in names}
    problems = [dataclasses.replace(p, file_column=file_names.get(p.file, {}).get(p.column)) for p in problems]
    if problems:
        raise DataValidationError(problems, folder)
    typed = {}
    for table, df in tables.items():
        id_col = codebook.table_variables(table)["variable"].iloc[0]
        typed[table] = _typed(table, df).sort_values(id_col, kind="mergesort").reset_index(drop=True)
        typed[table].attrs["read"] = dict(df.attrs["read"])
        typed[table].attrs["missing_read"] = dict(df.attrs.get("missing_read", {}))
        typed[table].attrs["file"] = names[table]
        typed[table].attrs["path"] = paths.relative(table_path(folder, cmap, table))
        typed[table].attrs["how_read"] = dict(df.attrs.get("how_read", {}))
        typed[table].attrs["columns"] = {new: old for old, new in cmap.columns.get(table, {}).items()}
    return typed


def reading_notes(tables: dict[str, pd.DataFrame]) -> list[str]:
    """One line per file read in a way worth saying (``attrs["how_read"]``, also in the
    manifest): whole numbers written as decimals, IDs read as their number format displays them."""
    def columns(cols):
        shown = ", ".join(f"'{c}'" for c in cols[:5])
        return f"column{'s' if len(cols) > 1 else ''} {shown}{f' and {len(cols) - 5} more' if len(cols) > 5 else ''}"
    notes = []
    for df in tables.values():
        how, name = df.attrs.get("how_read", {}), df.attrs.get("file", "the table")
        if how.get("whole_numbers_written_as_decimals"):
            notes.append(f"note: {name}: whole numbers written with a decimal point (3.0, -9.0) in "
                         f"{columns(how['whole_numbers_written_as_decimals'])}, read as whole numbers")
        if how.get("ids_read_as_displayed"):
            notes.append(f"note: {name}: numbers with a 000 number format in {columns(how['ids_read_as_displayed'])}, "
                         "read as Excel displays them (1 as 001)")
    return notes


def _renamed(df: pd.DataFrame, renames: dict[str, str], name: str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The table with the column map's names, or the problems of renaming it."""
    problems = []
    absent = [c for c in renames if c not in df.columns]
    if absent:
        problems.append(Problem(name, None, f"column map names columns not in the file: {absent}"))
    renamed = [renames.get(c, c) for c in df.columns]
    clash = sorted({c for c in renamed if renamed.count(c) > 1})
    for c in clash:
        sources = [orig for orig in df.columns if renames.get(orig, orig) == c]
        problems.append(Problem(name, c, f"two columns of the file become '{c}' after the column map ({sources}); "
                                          "rename or drop one"))
    return (None if clash else df.rename(columns=renames)), problems


def _hint_missing_columns(problems: list[Problem], tables: dict, names: dict, cmap: ColumnMap) -> list[Problem]:
    """Many required columns missing from one file usually means the header is not on the first
    line, or the data are on another sheet: one problem per file that says so, instead of one
    per column."""
    out = []
    for table, name in names.items():
        missing = [p for p in problems if p.file == name and p.message == "required column is missing"]
        if len(missing) < 3:
            continue
        sheets = tables[table].attrs.get("sheets") if table in tables else None
        hint = (f"; the workbook's sheets are {sheets}: name the one with the data in column_map.yml "
                f"({table}: sheet: NAME)" if sheets and len(sheets) > 1 else "")
        where = "line" if cmap.header_rows.get(table, 1) == 1 else f"line {cmap.header_rows[table]}"
        out.append(Problem(name, None, f"{len(missing)} required columns are missing "
                                       f"({', '.join(p.column for p in missing[:5])}{', ...' if len(missing) > 5 else ''}). "
                                       f"Is the header on the first {where}? If title lines come first, give the "
                                       f"header's line in column_map.yml ({table}: header_row: N){hint}"))
    collapsed = {p.file for p in out}
    return [p for p in problems if not (p.file in collapsed and p.message == "required column is missing")] + out


def where(df: pd.DataFrame, columns: list[str]) -> str:
    """The file and columns of a loaded table, as the extract names them: ``data/raw/x.csv,
    columns 'CULT_Q1', 'quality_2' (codebook: quality_1, quality_2)`` (codebook names only where
    the column map renamed them)."""
    renamed = df.attrs.get("columns", {})
    shown = ", ".join(f"'{renamed.get(c, c)}'" for c in columns)
    codebook_names = f" (codebook: {', '.join(columns)})" if any(c in renamed for c in columns) else ""
    return f"{df.attrs.get('file', 'the table')}, column{'s' if len(columns) > 1 else ''} {shown}{codebook_names}"


def raw_csv_text(table: str, df: pd.DataFrame) -> str:
    """A typed table in the raw format: codebook columns, integers, missing as the codebook code."""
    out = {}
    for _, var in codebook.table_variables(table).iterrows():
        s = df[var["variable"]]
        if var["type"] == "integer":
            code = var["missing_code"] if pd.notna(var["missing_code"]) else -9
            s = s.fillna(code).round().astype(int)
        out[var["variable"]] = s
    return pd.DataFrame(out).to_csv(index=False, lineterminator="\n")

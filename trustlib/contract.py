"""The data contract: reading the three raw tables and validating them against the codebook.

The raw format is three comma-separated UTF-8 files, ``clinics.csv``, ``clinicians.csv`` and
``patients.csv``, with one column per codebook variable (extra columns are ignored). Survey
items hold whole numbers in their codebook range, or the codebook's missing-value code (-9);
blank cells are not allowed. Validation is built from the codebook with pandera, runs every
check, and raises one :class:`DataValidationError` listing *all* problems, each naming the
file, the column and the offending rows (file line numbers) or IDs.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import yaml

from . import InputError, codebook, formats, paths

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
            detail += f" (lines {shown}{more})"
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
        head = f"{len(self.problems)} problem(s) in the input data"
        if folder is not None:
            head += f" in {paths.relative(Path(folder))}"
        lines = [head + ":"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


@dataclass
class ColumnMap:
    """Renaming of an extract's files and columns onto the codebook (see ``column_map.yml``)."""

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)  # {file: SHA-256 of the bytes read}

    @classmethod
    def load(cls, path: Path) -> "ColumnMap":
        if not Path(path).exists():
            return cls()
        name = paths.relative(path)
        if Path(path).is_dir():
            raise DataValidationError([Problem(name, None, "is a folder, not a file")])
        raw = Path(path).read_bytes()
        try:
            spec = yaml.load(raw.decode("utf-8"), Loader=_UniqueKeyLoader) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise DataValidationError([Problem(name, None, f"not valid YAML: {err}")])
        if not isinstance(spec, dict):
            raise DataValidationError([Problem(name, None, f"must map table names {list(paths.TABLES)} to "
                                                           f"'file' and/or 'columns'; it is a {type(spec).__name__}")])
        problems = []
        files, columns = {}, {}
        for table, entry in spec.items():
            if table not in paths.TABLES or not isinstance(entry, dict):
                problems.append(Problem(name, None,
                                        f"top-level keys must be {list(paths.TABLES)} each with 'file' and/or 'columns'; got {table!r}"))
                continue
            if "file" in entry:
                files[table] = str(entry["file"])
            cols = entry.get("columns") or {}
            if not isinstance(cols, dict):
                problems.append(Problem(name, None, f"{table}.columns must map the extract's column names to the "
                                                    f"codebook's (name: codebook_name); it is a {type(cols).__name__}"))
                continue
            columns[table] = {str(k): str(v) for k, v in cols.items()}
            targets = list(columns[table].values())
            for dup in sorted({t for t in targets if targets.count(t) > 1}):
                sources = [k for k, v in columns[table].items() if v == dup]
                problems.append(Problem(name, None, f"{table}.columns maps {sources} all to '{dup}'; map one"))
        if problems:
            raise DataValidationError(problems)
        return cls(files, columns, {paths.relative(path): hashlib.sha256(raw).hexdigest()})


def candidate_files(folder: Path, cmap: "ColumnMap", table: str) -> list[Path]:
    """Files that could hold ``table``: the one the column map names, else each of
    ``<table>.csv``, ``.dta``, ``.sav``, ``.xlsx`` that exists."""
    if table in cmap.files:
        return [Path(folder) / cmap.files[table]]
    return [Path(folder) / f"{table}{ext}" for ext in formats.SUPPORTED if (Path(folder) / f"{table}{ext}").exists()]


def table_path(folder: Path, cmap: "ColumnMap", table: str) -> Path:
    """The file of ``table`` (``<table>.csv`` when no candidate exists, so the message says so)."""
    found = candidate_files(folder, cmap, table)
    return found[0] if found else Path(folder) / f"{table}.csv"


def read_raw_table(path: Path, table: str, renames: dict[str, str] | None = None
                   ) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read one raw table (CSV, Stata, SPSS or Excel; see :mod:`trustlib.formats`) as text
    columns, or report why it cannot be read. ``renames`` (extract name -> codebook name) says
    which of the file's columns are codebook categories, whose value labels are used."""
    name = paths.relative(path)
    if path.suffix.lower() in ("", ".csv") or not path.is_file():
        return read_raw_csv(path)
    df, labels, messages = formats.read(path, name)
    if messages:
        return None, [Problem(name, None, m) for m in messages]
    if df.empty:
        return None, [Problem(name, None, "has no data rows")]
    cb = codebook.table_variables(table)
    categories = {v["variable"]: str(v["categories"]).split("|") for _, v in cb.iterrows() if v["type"] == "category"}
    to_codebook = {c: (renames or {}).get(c, c) for c in df.columns}
    in_file = {c: categories[cb_name] for c, cb_name in to_codebook.items() if cb_name in categories}
    return formats.apply_value_labels(df, labels, in_file), []


def read_raw_csv(path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read one raw CSV as text columns, or report why it cannot be read."""
    name = paths.relative(path)
    if not path.exists():
        return None, [Problem(name, None, "file not found")]
    if path.is_dir():
        return None, [Problem(name, None, "is a folder, not a file")]
    raw = path.read_bytes()
    if not raw.removeprefix(b"\xef\xbb\xbf").strip():
        return None, [Problem(name, None, "file is empty")]
    if b"\x00" in raw:
        lines = sorted({raw.count(b"\n", 0, m.start()) + 1 for m in re.finditer(b"\x00", raw)})
        return None, [Problem(name, None, "contains NUL bytes (an export or copy error); re-export the file",
                              rows=tuple(lines))]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bad = raw[err.start:err.start + 1].hex()
        line = raw[:err.start].count(b"\n") + 1
        return None, [Problem(name, None, f"is not UTF-8 encoded (byte 0x{bad} on line {line}); "
                                          "re-save the file as UTF-8", rows=(line,))]
    header = text.splitlines()[0]
    if "," not in header:
        try:
            delim = csv.Sniffer().sniff(header, delimiters=";\t|").delimiter
            return None, [Problem(name, None, f"uses {delim!r} as the delimiter; the raw format is comma-separated")]
        except csv.Error:
            pass
    names = [n.strip() for n in next(csv.reader([header]))]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        return None, [Problem(name, c, "column name appears more than once") for c in dups]
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.ParserError as err:
        return None, [Problem(name, None, f"is not a well-formed CSV: {err}")]
    if df.empty:
        return None, [Problem(name, None, "has a header but no data rows")]
    df.columns = [c.strip() for c in df.columns]
    df = df.apply(lambda s: s.str.strip())
    df.attrs["read"] = {name: hashlib.sha256(raw).hexdigest()}
    df.attrs["lines"] = _record_lines(text)
    return df, []


class _Lines(tuple):
    """Record start lines kept in ``DataFrame.attrs``: immutable, so pandas' deep copy of attrs
    on every operation returns it as it is instead of copying a list per row."""

    def __deepcopy__(self, memo):
        return self


def _record_lines(text: str) -> _Lines:
    """Physical line (1-based) on which each data record starts: a quoted field may span lines."""
    reader = csv.reader(io.StringIO(text))
    starts, previous_end, header = [], 0, True
    for row in reader:
        if row and not header:                 # pandas skips blank lines; so does this count
            starts.append(previous_end + 1)
        header = header and not row
        previous_end = reader.line_num
    return _Lines(starts)


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
        checks.append(pa.Check(lambda s: s.str.match(INT_PATTERN) | (s == ""), name="whole_number",
                               error="not a whole number"))
        checks.append(pa.Check(lambda s: s != "", name="blank",
                               error=f"blank cell; missing values must be coded {int(miss) if pd.notna(miss) else 'explicitly'}"))

        def within_codebook_range(s, lo=lo, hi=hi, miss=miss):
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
    once per codebook file, as the codebook itself is read once (:func:`trustlib.codebook.load_codebook`)."""
    return _table_schema(str(paths.CODEBOOK), table)


@lru_cache(maxsize=16)
def _table_schema(codebook_path: str, table: str) -> pa.DataFrameSchema:
    columns = {}
    for _, var in codebook.table_variables(table).iterrows():
        # every reader returns text columns (read_raw_table), so the schema checks the values and
        # not the dtype (pandera would test each cell's type: a third of the time of a validation)
        columns[var["variable"]] = pa.Column(
            None, checks=_column_checks(var), nullable=False,
            unique=var["key"] == "primary", required=True, name=var["variable"])
    return pa.DataFrameSchema(columns, strict=False, name=table)


def _problems_from_pandera(err: pa.errors.SchemaErrors, name: str, df: pd.DataFrame,
                           id_col: str | None, id_columns: set[str] = frozenset()) -> list[Problem]:
    """Problems from pandera's failure cases: file, column, lines and the rows' IDs. Offending
    values are quoted for ID columns (``id_columns``) only: a message never carries an answer."""
    fc = err.failure_cases
    problems = []
    for (column, check), grp in fc.groupby(["column", "check"], dropna=False, sort=False):
        if check == "column_in_dataframe":
            for case in grp["failure_case"]:
                problems.append(Problem(name, str(case), "required column is missing"))
            continue
        idx = sorted({int(i) for i in grp["index"].dropna()})
        rows = _lines(df, idx)
        ids = tuple(df.loc[idx, id_col].tolist()) if id_col and id_col in df and column != id_col else ()
        if check == "field_uniqueness":
            message = f"duplicated IDs {sorted(set(grp['failure_case'].astype(str)))[:MAX_LISTED]}"
            problems.append(Problem(name, str(column), message, rows=rows))
            continue
        message = _check_message(err, str(column), str(check))
        if str(column) in id_columns:                 # IDs may be named; survey answers never are
            message += f"; values {sorted({str(v) for v in grp['failure_case']})[:5]}"
        problems.append(Problem(name, None if pd.isna(column) else str(column), message, rows=rows, ids=ids))
    return problems


def _check_message(err: pa.errors.SchemaErrors, column: str, check: str) -> str:
    col = err.schema.columns.get(column)
    if col is not None:
        for c in col.checks:
            if c.name == check or str(c) == check:
                return c.error or check
    return check


def validate_tables(tables: dict[str, pd.DataFrame], names: dict[str, str] | None = None) -> list[Problem]:
    """All problems of the three tables (per-table checks, then cross-table keys). Clinicians
    without patient surveys and clinics with few clinicians are valid data: the cohort rules
    exclude them, with their reason (:func:`trustlib.cohort.apply_sufficient_data`)."""
    names = names or {t: f"{t}.csv" for t in tables}
    problems: list[Problem] = []
    ok = {}
    for table, df in tables.items():
        schema = table_schema(table)
        id_col = next((v for v, c in schema.columns.items() if c.unique), None)
        try:
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
        unknown = ~cdf[col].isin(set(pdf[pcol]))
        if unknown.any():
            id_col = codebook.table_variables(child)["variable"].iloc[0]   # the table's own key, never free text
            problems.append(Problem(names[child], col, f"refers to {parent} not in {names[parent]}: "
                                    f"{sorted(set(cdf.loc[unknown, col]))[:MAX_LISTED]}",
                                    rows=_lines(cdf, cdf.index[unknown]),
                                    ids=tuple(cdf.loc[unknown, id_col]) if id_col in cdf else ()))
    return problems


def _typed(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Codebook columns only, integers as numbers with the missing-value code turned into NaN."""
    out = {}
    for _, var in codebook.table_variables(table).iterrows():
        s = df[var["variable"]]
        if var["type"] == "integer":
            x = pd.to_numeric(s).astype("float64")
            if pd.notna(var["missing_code"]):
                x = x.mask(x == var["missing_code"])
            s = x
        out[var["variable"]] = s
    return pd.DataFrame(out)


def load_folder(folder: Path, column_map: Path | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate the three tables in ``folder``; return them typed, sorted by ID.

    Survey items become floats (1-4 or 1-5) with NaN for the missing-value code. Rows are
    sorted by their ID so results do not depend on the order of rows in the files.
    Raises :class:`DataValidationError` listing every problem found.
    """
    folder = Path(folder)
    cmap = ColumnMap.load(column_map if column_map is not None else folder / "column_map.yml")
    tables, names, problems = {}, {}, []
    for table in paths.TABLES:
        found = candidate_files(folder, cmap, table)
        if len(found) > 1:
            problems.append(Problem(paths.relative(folder), None, f"more than one file for table '{table}' "
                                    f"({', '.join(p.name for p in found)}); keep one, or name it in column_map.yml"))
            continue
        path = table_path(folder, cmap, table)
        names[table] = paths.relative(path)
        df, read_problems = read_raw_table(path, table, cmap.columns.get(table, {}))
        problems += read_problems
        if df is not None:
            renames = cmap.columns.get(table, {})
            absent = [c for c in renames if c not in df.columns]
            if absent:
                problems.append(Problem(names[table], None, f"column map names columns not in the file: {absent}"))
            renamed = [renames.get(c, c) for c in df.columns]
            clash = sorted({c for c in renamed if renamed.count(c) > 1})
            if clash:
                for c in clash:
                    sources = [orig for orig in df.columns if renames.get(orig, orig) == c]
                    problems.append(Problem(names[table], c, f"two columns of the file become '{c}' after the column "
                                                             f"map ({sources}); rename or drop one"))
                continue
            tables[table] = df.rename(columns=renames)
            tables[table].attrs["read"] = {**df.attrs["read"], **cmap.read}
    problems += validate_tables(tables, names)
    file_names = {names[t]: {new: old for old, new in cmap.columns.get(t, {}).items()} for t in names}
    problems = [dataclasses.replace(p, file_column=file_names.get(p.file, {}).get(p.column)) for p in problems]
    if problems:
        raise DataValidationError(problems, folder)
    typed = {}
    for table, df in tables.items():
        id_col = codebook.table_variables(table)["variable"].iloc[0]
        typed[table] = _typed(table, df).sort_values(id_col, kind="mergesort").reset_index(drop=True)
        typed[table].attrs["read"] = dict(df.attrs["read"])
        typed[table].attrs["file"] = names[table]
        typed[table].attrs["columns"] = {new: old for old, new in cmap.columns.get(table, {}).items()}
    return typed


def where(df: pd.DataFrame, columns: list[str]) -> str:
    """The file and columns of a loaded table, as the extract names them: ``data/raw/x.csv,
    columns 'CULT_Q1', 'quality_2' (codebook: quality_1, quality_2)`` (codebook names only where
    the column map renamed them)."""
    renamed = df.attrs.get("columns", {})
    shown = ", ".join(f"'{renamed.get(c, c)}'" for c in columns)
    codebook_names = f" (codebook: {', '.join(columns)})" if any(c in renamed for c in columns) else ""
    return f"{df.attrs.get('file', 'the table')}, column{'s' if len(columns) > 1 else ''} {shown}{codebook_names}"


def input_files(folder: Path) -> list[Path]:
    """The files :func:`load_folder` reads from ``folder``: ``column_map.yml`` if present, and the
    three tables under the names it gives (the default names if it cannot be read)."""
    folder = Path(folder)
    cmap_file = folder / "column_map.yml"
    try:
        cmap = ColumnMap.load(cmap_file)
    except (DataValidationError, OSError):
        cmap = ColumnMap()
    found = [p for t in paths.TABLES for p in (candidate_files(folder, cmap, t) or [folder / f"{t}.csv"])]
    return ([cmap_file] if cmap_file.exists() else []) + found


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

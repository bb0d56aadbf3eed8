"""An extract's files and its column map: finding each table's file and reading it as text.

``data/raw/column_map.yml`` (optional; template ``data/column_map.example.yml``) says, per table,
which ``file`` holds it (a name inside the data folder), how its ``columns`` map onto the
codebook's names, and for a workbook which ``sheet`` holds the data and on which line
(``header_row``, 1-based) the header is; ``header_row`` also skips title lines of a CSV.
Without a ``file``, ``<table>.csv``, ``.dta``, ``.sav`` or ``.xlsx`` is used (any case).

Every reader returns each column as text, exactly as a CSV export of the file would hold it,
so one contract (:mod:`trustlib.data.contract`) checks every format. Missing values a format
declares (SPSS user-missing and system-missing values, Stata's ``.`` and ``.a``-``.z``; in a
CSV, a cell holding ``.`` or ``.a``-``.z`` as Stata exports them) become the codebook's
missing-value code, and are counted (``attrs["missing_read"]``; the manifest records them).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import params, paths
from . import codebook, formats, reading

STATA_MISSING = re.compile(r"^\.[a-z]?$")
# an encrypted .xlsx is an OLE compound file (as an .xls is) holding a stream of this name
ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
MAP_KEYS = {"file", "columns", "sheet", "header_row"}


def _distinct(s: pd.Series) -> list[str]:
    """The distinct values of a text column (a survey column holds a handful in hundreds of rows:
    a test of each distinct value, then ``isin``, instead of pandas' ``.str`` methods, which call
    Python once per row)."""
    return [v for v in pd.unique(s.to_numpy()) if isinstance(v, str)]


@dataclass
class ColumnMap:
    """Renaming of an extract's files and columns onto the codebook (see ``column_map.yml``)."""

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    sheets: dict[str, str | int] = field(default_factory=dict)
    header_rows: dict[str, int] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)  # {file: SHA-256 of the bytes read}

    @classmethod
    def load(cls, path: Path) -> tuple["ColumnMap", list[str]]:
        """The column map at ``path`` (an empty one if there is none) and every problem in it."""
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            return cls(), []
        raw, messages = reading.read_bytes(path, path.parent)
        if messages:
            return cls(), messages
        if len(raw) > params.MAX_BYTES:
            return cls(), [f"larger than {params.MAX_BYTES // 1000} kB; a column map is a few lines"]
        try:
            spec = params.parse(raw.decode("utf-8-sig"), paths.relative(path)) or {}
        except params.ParameterError as err:
            return cls(), [str(err).split(": ", 1)[1]]
        except UnicodeDecodeError:
            return cls(), ["not valid YAML: not UTF-8 text"]
        if not isinstance(spec, dict):
            return cls(), [f"must map table names {list(paths.TABLES)} to 'file', 'columns', 'sheet' and "
                           f"'header_row'; it is a {type(spec).__name__}"]
        cmap, problems = cls(read={paths.relative(path): hashlib.sha256(raw).hexdigest()}), []
        for table, entry in spec.items():
            problems += cmap._entry(table, entry, path.parent)
        return cmap, problems

    def _entry(self, table, entry, folder: Path) -> list[str]:
        if table not in paths.TABLES or not isinstance(entry, dict):
            return [f"top-level keys must be {list(paths.TABLES)}, each with 'file', 'columns', 'sheet' and/or "
                    f"'header_row'; got {table!r}"]
        problems = [f"{table}: unknown key {k!r}; use {sorted(MAP_KEYS)}" for k in entry if k not in MAP_KEYS]
        if "file" in entry:
            name = entry["file"]
            try:
                inside = isinstance(name, str) and name.strip() and not Path(name).is_absolute() \
                    and (folder / name).resolve().is_relative_to(folder.resolve())
            except (OSError, RuntimeError):          # a symbolic link loop on the way (Python 3.11 raises RuntimeError)
                problems.append(f"{table}.file {name!r} leads through a symbolic link that leads nowhere (a loop); "
                                "name a file inside the data folder")
                inside = None
            if inside:
                self.files[table] = name.strip()
            elif inside is not None:
                problems.append(f"{table}.file must name a file inside the data folder ({paths.relative(folder)}/), "
                                f"not {name!r}")
        if "sheet" in entry:
            sheet = entry["sheet"]
            if isinstance(sheet, str) or (isinstance(sheet, int) and not isinstance(sheet, bool) and sheet >= 1):
                self.sheets[table] = sheet
            else:
                problems.append(f"{table}.sheet must be a sheet's name or its number (1 = first), not {sheet!r}")
        if "header_row" in entry:
            row = entry["header_row"]
            if isinstance(row, int) and not isinstance(row, bool) and 1 <= row <= 1000:
                self.header_rows[table] = row
            else:
                problems.append(f"{table}.header_row must be the line of the header (1 = first line), not {row!r}")
        return problems + self._columns(table, entry.get("columns") or {})

    def _columns(self, table: str, cols) -> list[str]:
        if not isinstance(cols, dict):
            return [f"{table}.columns must map the extract's column names to the codebook's "
                    f"(name: codebook_name); it is a {type(cols).__name__}"]
        self.columns[table] = {str(k): str(v) for k, v in cols.items()}
        known = set(codebook.table_variables(table)["variable"])
        problems = [f"{table}.columns maps '{k}' to '{v}', which is not a column of the codebook's {table} table"
                    for k, v in self.columns[table].items() if v not in known]
        targets = list(self.columns[table].values())
        for dup in sorted({t for t in targets if targets.count(t) > 1}):
            sources = [k for k, v in self.columns[table].items() if v == dup]
            problems.append(f"{table}.columns maps {sources} all to '{dup}'; map one")
        return problems


def candidate_files(folder: Path, cmap: ColumnMap, table: str) -> list[Path]:
    """Files that could hold ``table``: the one the column map names, else each file of the
    folder named ``<table>`` with a supported extension, in any case (``clinicians.XLSX``)."""
    folder = Path(folder)
    if table in cmap.files:
        return [folder / cmap.files[table]]
    try:
        entries = sorted(p for p in folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.stem.lower() == table and p.suffix.lower() in formats.SUPPORTED]


def table_path(folder: Path, cmap: ColumnMap, table: str) -> Path:
    """The file of ``table`` (``<table>.csv`` when no candidate exists, so the message says so)."""
    found = candidate_files(folder, cmap, table)
    return found[0] if found else Path(folder) / f"{table}.csv"


def read_table(path: Path, folder: Path, table: str, cmap: ColumnMap) -> tuple[pd.DataFrame | None, list]:
    """Read one table's file (its format from its bytes) as text columns, or say why it cannot be
    read (messages: text, or ``(column, text)`` or ``(column, text, lines)``). Value labels are used for the codebook's categories; declared missing values become the
    codebook's missing-value code (:func:`missing_as_code`)."""
    raw, messages = reading.read_bytes(path, folder)
    if messages:
        return None, messages
    if not raw.replace(b"\xef\xbb\xbf", b"").strip():
        return None, ["file is empty"]
    kind = reading.sniff(raw)
    renames = cmap.columns.get(table, {})
    header_row = cmap.header_rows.get(table, 1)
    suffix = path.suffix.lower()
    if kind == "xls" and ENCRYPTED in raw:
        return None, ["is a password-protected (encrypted) workbook, which cannot be read: open it in Excel, "
                      "remove the password (File > Info > Protect Workbook > Encrypt with Password, cleared) "
                      "and save it as .xlsx, or as CSV UTF-8"]
    if kind == "xls":
        return None, ["is an Excel 97-2003 workbook (.xls): save it as .xlsx, or as CSV UTF-8"]
    if kind == "text" and suffix in formats.BINARY:
        return None, [f"could not be read as a {formats.KIND[formats.BINARY[suffix]]} file (its bytes do not start "
                      "as one); re-export it"]
    if kind == "text" and suffix not in ("", ".csv", ".txt"):
        return None, [f"is a {suffix} file; supported formats are {', '.join(formats.SUPPORTED)}"]
    if table in cmap.sheets and kind != "xlsx":
        return None, [f"column_map.yml gives {table}.sheet, but this file is not a workbook: remove sheet"]
    if kind == "text":
        known = set(codebook.table_variables(table)["variable"])
        df, messages = read_csv(raw, header_row, fixed=lambda name: renames.get(name, name) in known)
    else:
        df, labels, messages = formats.read(path, raw, kind, cmap.sheets.get(table), header_row, table)
        if df is not None:
            df = formats.apply_value_labels(df, labels, _categories(table, renames, df.columns))
    if df is None:
        return None, messages
    df.attrs["read"] = {paths.relative(path): hashlib.sha256(raw).hexdigest()}
    how = dict(df.attrs.get("how_read", {}))
    if kind == "xlsx":
        how["sheet"] = df.attrs["sheet"]
        if df.attrs.get("padded"):
            how["ids_read_as_displayed"] = list(df.attrs["padded"])
    df, decimals = whole_numbers(df, table, renames)
    if decimals:
        how["whole_numbers_written_as_decimals"] = decimals
    df.attrs["how_read"] = how
    return missing_as_code(df, table, renames, declared=kind in ("sav", "dta")), []


WRITTEN_AS_DECIMAL = re.compile(r"^(-?[0-9]+)\.0+$")


def whole_numbers(df: pd.DataFrame, table: str, renames: dict) -> tuple[pd.DataFrame, list[str]]:
    """Whole numbers an export wrote with a decimal point (3.0, -9.0), in the codebook's integer
    columns, as whole numbers; and the columns (as the file names them) where it did. Any other
    decimal is left for the contract to name."""
    integers = set(codebook.table_variables(table).query("type == 'integer'")["variable"])
    out, columns = df, []
    for col in df.columns:
        if renames.get(col, col) not in integers or not any("." in v for v in _distinct(df[col])):
            continue
        whole = df[col].str.extract(WRITTEN_AS_DECIMAL, expand=False)
        if whole.notna().any():
            out = out.copy() if out is df else out
            out[col] = whole.fillna(df[col])
            columns.append(col)
    out.attrs = dict(df.attrs)
    return out, columns


def _categories(table: str, renames: dict, columns) -> dict[str, list[str]]:
    cb = codebook.table_variables(table)
    categories = {v["variable"]: str(v["categories"]).split("|") for _, v in cb.iterrows() if v["type"] == "category"}
    return {c: categories[renames.get(c, c)] for c in columns if renames.get(c, c) in categories}


def missing_as_code(df: pd.DataFrame, table: str, renames: dict, declared: bool) -> pd.DataFrame:
    """Declared missing values as the codebook's missing-value code, in the integer columns that
    have one: every empty cell of an SPSS or Stata file (``declared``: the format itself marks
    them missing), and in any file a cell holding Stata's ``.`` or ``.a``-``.z``. Counts per
    column go to ``attrs["missing_read"]``."""
    codes = {v["variable"]: str(int(v["missing_code"])) for _, v in codebook.table_variables(table).iterrows()
             if v["type"] == "integer" and pd.notna(v["missing_code"])}
    out, counted = df.copy(), {}
    for col in df.columns:
        code = codes.get(renames.get(col, col))
        if code is None:
            continue
        declared_missing = [v for v in _distinct(df[col]) if STATA_MISSING.fullmatch(v) or (declared and v == "")]
        if declared_missing:
            hit = df[col].isin(declared_missing)
            out.loc[hit, col] = code
            counted[col] = int(hit.sum())
    out.attrs = {**df.attrs, "missing_read": counted}
    return out


def read_csv(raw: bytes, header_row: int = 1, fixed=lambda name: False) -> tuple[pd.DataFrame | None, list]:
    """A CSV file's bytes as text columns (see :mod:`trustlib.data.reading`), the header on line
    ``header_row``; ``attrs["lines"]`` holds each record's physical line. A quoted value that
    spans lines in a column ``fixed(name)`` says holds none, or that swallows what reads as
    records (a quote never closed), is reported with its lines before anything else."""
    text, messages, lines = reading.decode(raw)
    if text is None:
        return None, [(None, m, lines) for m in messages]
    text = reading.normalise_newlines(text)
    if header_row > 1:
        parts = text.split("\n", header_row - 1)
        if len(parts) < header_row:
            return None, [f"has fewer than {header_row} lines, so no header on line {header_row}"]
        text = parts[-1]
    header = text.split("\n", 1)[0]
    if not header.strip():
        return None, ["file is empty" if not text.strip() else f"line {header_row}, the header, is empty"]
    names, problems = _header(header)
    if problems:
        return None, problems
    lines, problems = reading.scan_records(text, header_row, fixed)
    if problems:
        return None, problems
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, header=0, engine="c")
    except (pd.errors.ParserError, ValueError) as err:
        return None, [f"is not a well-formed CSV: {' '.join(str(err).split())}"]
    if df.empty:
        return None, ["has a header but no data rows"]
    extra = df.iloc[:, len(names):]
    if (extra != "").any().any():
        return None, [f"has data in column {len(names) + 1 + int((extra != '').any().to_numpy().argmax())}, "
                      "which has no name in the header line"]
    df = df.iloc[:, :len(names)]
    df.columns = names
    df = df.apply(lambda s: s if all(v == v.strip() for v in _distinct(s)) else s.str.strip())
    df.attrs["lines"] = lines
    return df, []


def _header(line: str) -> tuple[list[str], list]:
    """The header's names without trailing empty ones (an editor's stray commas), or problems:
    another delimiter, a column without a name, a name twice (``(column, message)``)."""
    import csv

    names = reading.header_names(line)
    if len(names) <= 1:
        try:
            delim = csv.Sniffer().sniff(line, delimiters=";\t|").delimiter
            return [], [f"uses {delim!r} as the delimiter; the raw format is comma-separated"]
        except csv.Error:
            pass
    while names and names[-1] == "":
        names.pop()
    problems = [f"column {i + 1} has no name in the header line" for i, n in enumerate(names) if n == ""]
    dups = sorted({n for n in names if n and names.count(n) > 1})
    problems += [(d, f"column name appears more than once (columns "
                     f"{', '.join(str(i + 1) for i, n in enumerate(names) if n == d)})") for d in dups]
    return names, problems


def input_files(folder: Path) -> list[Path]:
    """The files :func:`trustlib.data.contract.load_folder` reads from ``folder``: ``column_map.yml``
    if present, and the three tables under the names it gives (the default names if it cannot
    be read)."""
    folder = Path(folder)
    cmap_file = folder / "column_map.yml"
    cmap, problems = ColumnMap.load(cmap_file)
    if problems:
        cmap = ColumnMap()
    found = [p for t in paths.TABLES for p in (candidate_files(folder, cmap, t) or [folder / f"{t}.csv"])]
    return ([cmap_file] if cmap_file.exists() else []) + found

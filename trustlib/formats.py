"""Reading an extract that is not CSV: Stata ``.dta``, SPSS ``.sav`` and Excel ``.xlsx``.

Each reader returns what :func:`trustlib.contract.read_raw_csv` returns for a CSV: every column
as text, exactly as a CSV export of the file would hold it (integers without a decimal point,
missing values empty), so the same column map, contract and messages apply. Stata and SPSS
files keep numeric codes; their value labels are returned too, and
:func:`apply_value_labels` uses them only for columns the codebook defines as categories
(``sex`` stored as 1/2 labelled female/male becomes ``female``/``male``); Likert items keep
their codes, which is what the codebook expects. Rows are reported as in a CSV export (the
header is line 1, the first record line 2).
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import pandas as pd

SUPPORTED = (".csv", ".dta", ".sav", ".xlsx")
KIND = {".dta": "Stata", ".sav": "SPSS", ".xlsx": "Excel"}


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
    import pyreadstat

    df, meta = pyreadstat.read_sav(str(path), apply_value_formats=False, user_missing=False)
    return df, dict(meta.variable_value_labels)


def read(path: Path, name: str) -> tuple[pd.DataFrame | None, dict[str, dict], list[str]]:
    """Read a Stata, SPSS or Excel file as text columns plus value labels ``{column: {code: label}}``.

    Returns ``(df, labels, problems)``; ``problems`` are messages about the whole file (for
    :class:`trustlib.contract.Problem`), ``df`` is None when the file cannot be read.
    """
    suffix = path.suffix.lower()
    raw = path.read_bytes()
    labels: dict[str, dict] = {}
    try:
        if suffix == ".dta":
            df, labels = _labels_dta(raw)
        elif suffix == ".sav":
            df, labels = _labels_sav(path)
        elif suffix == ".xlsx":
            df = pd.read_excel(io.BytesIO(raw), dtype=object, engine="openpyxl")
        else:
            return None, {}, [f"is a {suffix or 'suffix-less'} file; supported formats are "
                              f"{', '.join(SUPPORTED)}"]
    except Exception as err:  # each library raises its own types for a damaged file
        return None, {}, [f"could not be read as a {KIND[suffix]} file ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else 'no detail'}); re-export it"]
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda s: s.map(_text)).astype(str) if len(df.columns) else df
    df.attrs["read"] = {name: hashlib.sha256(raw).hexdigest()}
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

"""The codebook (``data/codebook.csv``) and scale definitions (``data/scales.csv``).

The codebook is the single source of truth for the raw data: one row per variable with its
table, level, instrument, scale, item paraphrase, type (``id``, ``integer``, ``category``),
range (``min``/``max``) or ``categories`` (``|``-separated), missing-value code, reverse-coded
flag and key (``primary`` or ``<table>.<column>`` for a foreign key). Validation
(:mod:`trustlib.data.contract`) and scoring (:mod:`trustlib.data.scales`) read it; nothing restates it.

Each file is read once per version (:func:`trustlib.paths.version`: path, modification time and
size), so an edit to either file is seen at once, in a live kernel too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from .. import paths

COLUMNS = ["variable", "table", "level", "instrument", "scale", "label", "type",
           "min", "max", "categories", "missing_code", "reverse", "key"]
TYPES = {"id", "integer", "category"}


def load_codebook(path: Path | None = None) -> pd.DataFrame:
    """Codebook as a DataFrame (one row per variable and table), checked for consistency."""
    return _load_codebook(paths.version(path or paths.CODEBOOK)).copy()


@lru_cache(maxsize=4)
def _load_codebook(version: tuple) -> pd.DataFrame:
    path = version[0]
    cb = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in cb.columns]
    if missing:
        raise ValueError(f"{path}: codebook lacks columns {missing}")
    bad_type = cb.loc[~cb["type"].isin(TYPES), "variable"].tolist()
    if bad_type:
        raise ValueError(f"{path}: unknown type for variables {bad_type}")
    dup = cb[cb.duplicated(["table", "variable"])]
    if len(dup):
        raise ValueError(f"{path}: duplicated variables {dup['variable'].tolist()}")
    for col in ("min", "max", "missing_code"):
        cb[col] = pd.to_numeric(cb[col].replace("", None))
    cb["reverse"] = cb["reverse"].replace("", "0").astype(int).astype(bool)
    return cb


def table_variables(table: str, codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """Codebook rows of one raw table, in file order."""
    if codebook is None:
        return _table_variables(paths.version(paths.CODEBOOK), table).copy()
    return codebook[codebook["table"] == table].reset_index(drop=True)


@lru_cache(maxsize=16)
def _table_variables(version: tuple, table: str) -> pd.DataFrame:
    return table_variables(table, _load_codebook(version))


def scale_items(scale: str, codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """Codebook rows of the items that make up ``scale``."""
    if codebook is None:
        return _scale_items(paths.version(paths.CODEBOOK), scale).copy()
    items = codebook[codebook["scale"] == scale].reset_index(drop=True)
    if items.empty:
        raise KeyError(f"no items for scale {scale!r} in the codebook")
    return items


@lru_cache(maxsize=64)
def _scale_items(version: tuple, scale: str) -> pd.DataFrame:
    return scale_items(scale, _load_codebook(version))


def load_scales(path: Path | None = None) -> pd.DataFrame:
    """Scale definitions: label, item range, scoring rule, minimum answered items, role."""
    return _load_scales(paths.version(path or paths.SCALES)).copy()


@lru_cache(maxsize=4)
def _load_scales(version: tuple) -> pd.DataFrame:
    return pd.read_csv(version[0], dtype={"min_answered": int}).set_index("scale", drop=False)


def scales_with_role(role: str) -> list[str]:
    """Scale names with a role: ``outcome``, ``exposure`` (the four culture scales) or ``descriptive``."""
    sc = load_scales()
    return sc.loc[sc["role"] == role, "scale"].tolist()


def scales_in_table(table: str) -> list[str]:
    """Scales (in data/scales.csv's order) with items in raw table ``table`` (``clinicians`` or
    ``patients``)."""
    return list(_scales_in_table(paths.version(paths.CODEBOOK), paths.version(paths.SCALES), table))


@lru_cache(maxsize=8)
def _scales_in_table(codebook: tuple, scales: tuple, table: str) -> tuple[str, ...]:
    in_table = set(_load_codebook(codebook).query("table == @table")["scale"])
    return tuple(s for s in _load_scales(scales)["scale"] if s in in_table)


def scale_label(scale: str, short: bool = True) -> str:
    sc = load_scales()
    return str(sc.loc[scale, "short" if short else "label"])

"""Writing outputs: tables, figures, ``numbers.json`` and the provenance manifest.

Every write goes to :func:`trustlib.paths.output_path` (the stage when the pipeline runner is
running a notebook) through a temporary file and an atomic rename, so a reader never sees a
half-written file. Floats in CSV tables are written with 6 significant digits, so tables do
not depend on the last bits of floating-point arithmetic (BLAS threads, platform).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import matplotlib
import pandas as pd

from . import paths

FLOAT_FORMAT = "%.6g"
matplotlib.rcParams["svg.hashsalt"] = "trustlib"


def atomic_write_bytes(final: Path, data: bytes) -> Path:
    """Write ``data`` for the file whose final place is ``final``; returns the path written."""
    target = paths.output_path(Path(final))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(final: Path, text: str) -> Path:
    return atomic_write_bytes(final, text.encode("utf-8"))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _clean(value):
    """JSON-safe number: floats rounded to 6 significant digits, NaN as null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return value
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


class Writer:
    """Outputs of one notebook for one data source.

    ``writer.table(df, "table2", latex=True)`` writes ``tables/table2.csv`` and ``.md`` (and
    ``.tex``); ``writer.figure(fig, "figure1")`` writes ``figures/figure1.png`` and ``.svg``;
    ``writer.numbers(...)`` collects flat ``key: number`` pairs that :meth:`save` writes to
    ``numbers/<notebook>.json`` and merges into ``numbers.json``.
    """

    def __init__(self, source: str, notebook: str):
        self.source = source
        self.notebook = notebook
        self._numbers: dict[str, object] = {}

    def path(self, *parts: str) -> Path:
        return paths.result(self.source, *parts)

    def csv(self, df: pd.DataFrame, *parts: str) -> Path:
        return atomic_write_text(self.path(*parts), df.to_csv(index=False, float_format=FLOAT_FORMAT,
                                                              lineterminator="\n"))

    def table(self, df: pd.DataFrame, name: str, latex: bool = False, digits: int = 2,
              caption: str = "") -> pd.DataFrame:
        """Write a table as CSV (full precision) and Markdown (and LaTeX), rounded to ``digits``."""
        self.csv(df, "tables", f"{name}.csv")
        shown = df.round(digits)
        atomic_write_text(self.path("tables", f"{name}.md"),
                          (f"{caption}\n\n" if caption else "") + shown.to_markdown(index=False, disable_numparse=True) + "\n")
        if latex:
            atomic_write_text(self.path("tables", f"{name}.tex"),
                              shown.to_latex(index=False, caption=caption or None, escape=True,
                                             float_format=f"%.{digits}f", na_rep="--"))
        return shown

    def figure(self, fig, name: str) -> None:
        """Write a matplotlib figure as PNG (150 dpi) and SVG, without time stamps."""
        import io

        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight", metadata=meta)
            atomic_write_bytes(self.path("figures", f"{name}.{fmt}"), buf.getvalue())

    def numbers(self, mapping: dict | None = None, prefix: str = "", **values) -> dict:
        """Record numbers under flat keys (``prefix`` + key). Returns the cleaned values."""
        added = {f"{prefix}{k}": _clean(v) for k, v in {**(mapping or {}), **values}.items()}
        self._numbers.update(added)
        return added

    def save(self) -> Path:
        """Write this notebook's numbers and the merged ``numbers.json``."""
        frag = atomic_write_text(self.path("numbers", f"{self.notebook}.json"),
                                 json.dumps(self._numbers, indent=1, sort_keys=True) + "\n")
        merge_numbers(self.source)
        return frag


def merge_numbers(source: str) -> Path:
    """Rebuild ``numbers.json`` from every notebook's ``numbers/<notebook>.json`` (staged copies first)."""
    final = paths.result(source, "numbers")
    names = {p.name for p in final.glob("*.json")} | {p.name for p in paths.output_path(final).glob("*.json")}
    merged = {}
    for name in sorted(names):
        merged.update(json.loads(paths.locate(final / name).read_text()))
    return atomic_write_text(paths.result(source, "numbers.json"), json.dumps(merged, indent=1, sort_keys=True) + "\n")


def read_numbers(source: str = "synthetic") -> dict:
    """The merged ``numbers.json`` of a data source."""
    return json.loads(paths.locate(paths.result(source, "numbers.json")).read_text())


def read_result_csv(source: str, *parts: str) -> pd.DataFrame:
    """Read an earlier output (a staged copy if there is one)."""
    return pd.read_csv(paths.locate(paths.result(source, *parts)))

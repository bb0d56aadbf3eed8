"""Writing outputs: tables, figures, ``numbers.json`` and the provenance manifest.

A :class:`Writer` writes below one results folder (a run's stage, or the data source's own
folder when a notebook is run by hand), each file through a temporary file and an atomic
rename, so a reader never sees a half-written file. Floats in CSV tables are written with 6 significant digits, so tables do
not depend on the last bits of floating-point arithmetic (BLAS threads, platform).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd


FLOAT_FORMAT = "%.6g"
PRIVATE = "private"  # row-level tables; on raw data nothing below it may be shared
SVG_HASHSALT = "trustlib"  # fixed ids inside SVG files, so that two runs write the same bytes


def atomic_write_bytes(final: Path, data: bytes) -> Path:
    """Write ``data`` to ``final`` through a temporary file in the same folder; returns ``final``."""
    target = Path(final)
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


class SavedFigure:
    """A figure file just written: ``path`` below the results folder and its PNG bytes.

    Jupyter shows it as that PNG (``_repr_png_``), at the on-screen size of a 100-dpi
    rendering; its text form names the file.
    """

    def __init__(self, path: str, png: bytes):
        self.path, self.png = path, png

    def _repr_png_(self):
        import struct

        width, height = struct.unpack(">II", self.png[16:24])      # the PNG header's pixel size
        return self.png, {"width": round(width * 100 / 150), "height": round(height * 100 / 150)}

    def __repr__(self) -> str:
        return f"<figure {self.path}>"


class Writer:
    """Outputs of one notebook, below one results folder ``root``.

    ``writer.table(df, "table2", latex=True)`` writes ``tables/table2.csv`` and ``.md`` (and
    ``.tex``); ``writer.figure(fig, "figure1")`` writes ``figures/figure1.png`` and ``.svg``;
    ``writer.numbers(...)`` collects flat ``key: number`` pairs that :meth:`save` writes to
    ``numbers/<notebook>.json`` and merges into ``numbers.json``; :meth:`save` also lists every
    file written in ``provenance/<notebook>.json``. ``writer.private(df, name)`` writes
    row-level tables to ``private/``, apart from everything shareable. ``read_csv`` and ``read_numbers`` read
    earlier notebooks' outputs from the same folder.
    """

    def __init__(self, root: Path | str, notebook: str):
        self.root = Path(root)
        self.notebook = notebook
        self._numbers: dict[str, object] = {}
        self._written: set[str] = set()

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def _write(self, data: bytes, *parts: str) -> Path:
        self._written.add("/".join(parts))
        return atomic_write_bytes(self.path(*parts), data)

    def csv(self, df: pd.DataFrame, *parts: str) -> Path:
        return self._write(df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode(), *parts)

    def private(self, df: pd.DataFrame, name: str) -> Path:
        """Write a row-level or unprotected table to ``private/<name>.csv``: never linked from
        the report or the article, and listed apart in the manifest (:data:`PRIVATE`)."""
        return self.csv(df, PRIVATE, f"{name}.csv")

    def table(self, df: pd.DataFrame, name: str, latex: bool = False, digits: int = 2,
              caption: str = "") -> pd.DataFrame:
        """Write a table as CSV (full precision) and Markdown (and LaTeX), rounded to ``digits``."""
        self.csv(df, "tables", f"{name}.csv")
        shown = df.round(digits)
        md = (f"{caption}\n\n" if caption else "") + shown.to_markdown(index=False, disable_numparse=True) + "\n"
        self._write(md.encode(), "tables", f"{name}.md")
        if latex:
            tex = shown.to_latex(index=False, caption=caption or None, escape=True,
                                 float_format=f"%.{digits}f", na_rep="--")
            self._write(tex.encode(), "tables", f"{name}.tex")
        return shown

    def figure(self, fig, name: str) -> "SavedFigure":
        """Write a matplotlib figure as PNG (150 dpi) and SVG, without time stamps, and close it.

        Returns the written PNG as a :class:`SavedFigure`, which a notebook shows as an image:
        the reader sees the very file in ``figures/``, and the figure is drawn once per format.
        """
        import io

        import matplotlib
        import matplotlib.pyplot as plt

        written = {}
        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
            buf = io.BytesIO()
            with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
                fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight", metadata=meta)
            written[fmt] = buf.getvalue()
            self._write(written[fmt], "figures", f"{name}.{fmt}")
        plt.close(fig)      # else a notebook's inline backend would draw it a second time
        return SavedFigure(f"figures/{name}.png", written["png"])

    def numbers(self, mapping: dict | None = None, prefix: str = "", **values) -> dict:
        """Record numbers under flat keys (``prefix`` + key). Returns the cleaned values."""
        added = {f"{prefix}{k}": _clean(v) for k, v in {**(mapping or {}), **values}.items()}
        self._numbers.update(added)
        return added

    def inputs(self, tables: dict) -> Path:
        """Record the files the tables were read from, with the SHA-256 of the bytes read
        (``provenance/inputs.json``; see :func:`trustlib.contract.load_folder`)."""
        read = {}
        for df in tables.values():
            read.update(df.attrs.get("read", {}))
        return self._write((json.dumps(read, indent=1, sort_keys=True) + "\n").encode(), "provenance", "inputs.json")

    def save(self) -> Path:
        """Write this notebook's numbers, the merged ``numbers.json`` and the list of its outputs."""
        frag = self._write((json.dumps(self._numbers, indent=1, sort_keys=True) + "\n").encode(),
                           "numbers", f"{self.notebook}.json")
        merge_numbers(self.root)
        record = {"notebook": f"notebooks/{self.notebook}.ipynb", "outputs": sorted(self._written)}
        atomic_write_text(self.path("provenance", f"{self.notebook}.json"),
                          json.dumps(record, indent=1, sort_keys=True) + "\n")
        return frag

    def read_csv(self, *parts: str) -> pd.DataFrame:
        """An earlier notebook's CSV output from this results folder."""
        return pd.read_csv(self.path(*parts))

    def read_numbers(self) -> dict:
        """The merged ``numbers.json`` of this results folder."""
        return read_numbers(self.root)


def merge_numbers(root: Path) -> Path:
    """Rebuild ``numbers.json`` in ``root`` from every notebook's ``numbers/<notebook>.json``."""
    import fcntl

    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root, ".numbers.lock"), "w") as lock:  # notebooks of one run save in parallel
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {}
        for frag in sorted(Path(root, "numbers").glob("*.json")):
            merged.update(json.loads(frag.read_text()))
        return atomic_write_text(Path(root, "numbers.json"), json.dumps(merged, indent=1, sort_keys=True) + "\n")


def read_numbers(root: Path) -> dict:
    """The merged ``numbers.json`` of a results folder."""
    return json.loads(Path(root, "numbers.json").read_text())

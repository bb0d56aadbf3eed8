"""Writing a notebook's outputs: tables, figures, ``numbers.json`` and the provenance manifest.

A :class:`Writer` writes below one results folder (a run's stage, or the data source's own
folder when a notebook is run by hand), each file atomically and at written precision as
:mod:`trustlib.store` writes every file (floats at 6 significant digits, ``private/``
owner-only). It reads only the outputs of the steps its notebook declares it reads
(:mod:`trustlib.steps`). :func:`shown` gives a table as a notebook shows it.

On the trial's data (a :class:`Writer` given a real data source), the shareable tables, figure
data and numbers are written at the precision the paper prints (:func:`printed`: odds ratios and
their limits to 2 decimals, other measured values to 3 significant digits, counts whole), so two
releases cannot be differenced at 6 digits; the full-precision copies go to ``private/full/``
and ``private/numbers/``, and the later steps read those (:meth:`Writer.read_csv`,
:meth:`Writer.read_numbers`), so what they compute does not depend on the rounding. The paper's
own numbers (``published`` keys and columns) are never rounded again.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd

from .. import paths, steps, store

MISSING_SHOWN = "--"      # a missing value in a Markdown or LaTeX table
FIGURE_DPI = 150
SVG_HASHSALT = "trustlib"  # fixed ids inside SVG files, so that two runs write the same bytes
# quantities the paper prints to 2 decimals (an odds ratio and its limits: 4.95, 2.02-12.15), by the
# name's end: or, quality_or, full_or, ci_high, quality_ci_high, loo_or_min ...
PRINTED_DECIMALS = {name: 2 for name in ("or", "ci_low", "ci_high", "or_min", "or_median", "or_max")}
VERBATIM = "published"    # the paper's own numbers (published.* keys, a published column): never rounded again
KEYED = {"reproduced": "reproduced_key"}   # a column of numbers.json values, each printed by its own key
PRINTED_SIGNIFICANT = 3   # any other measured value: 47.3 years, 52.1 %, alpha 0.77 as the paper prints them
FULL = "full"             # private/full/: the full-precision copies of a real run's shareable tables


def printed(name: str, value):
    """``value`` at the precision the paper prints a quantity called ``name`` (a column, or a
    dotted ``numbers.json`` key, by its last part): :data:`PRINTED_DECIMALS`, else
    :data:`PRINTED_SIGNIFICANT` significant digits. Whole numbers (counts), text, booleans,
    missing values and the paper's own numbers (:data:`VERBATIM`) are returned as they are."""
    name = str(name)
    if isinstance(value, (bool, str)) or value is None or value is pd.NA or name == VERBATIM \
            or name.startswith(f"{VERBATIM}."):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int) or not math.isfinite(value) or float(value).is_integer():
        return value
    last = name.rsplit(".", 1)[-1]
    decimals = next((d for end, d in PRINTED_DECIMALS.items() if last == end or last.endswith(f"_{end}")), None)
    return round(value, decimals) if decimals is not None else float(f"{value:.{PRINTED_SIGNIFICANT}g}")


def printed_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every float column of ``df`` at its printed precision (:func:`printed`, by column name; a
    :data:`KEYED` column row by row, by the key its row names)."""
    out = df.copy()
    for col in out.columns:
        if not pd.api.types.is_float_dtype(out[col]):
            continue
        if col in KEYED and KEYED[col] in out.columns:
            out[col] = [printed(k, v) for k, v in zip(out[KEYED[col]], out[col])]
        else:
            out[col] = out[col].map(lambda v, c=col: printed(c, v))
    return out


def _clean(value):
    """JSON-safe number: floats rounded to 6 significant digits, NaN (and pandas' NA) as null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return value
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


class SavedFigure:
    """A figure file just written: ``path`` below the results folder, its PNG bytes and the
    SHA-256 of the data it draws (``data_sha``: of ``figures/<name>.csv``, or "" if none).

    Jupyter shows it as that PNG (``_repr_png_``), at the on-screen size of a 100-dpi
    rendering; its text form names the file and the first 12 hex digits of its data's hash, so
    a notebook's text output changes exactly when what the figure draws changes (at written
    precision: the same on every machine, where pixels need not be).
    """

    def __init__(self, path: str, png: bytes, data_sha: str = ""):
        self.path, self.png, self.data_sha = path, png, data_sha

    def _repr_png_(self):
        import struct

        width, height = struct.unpack(">II", self.png[16:24])      # the PNG header's pixel size
        return self.png, {"width": round(width * 100 / FIGURE_DPI), "height": round(height * 100 / FIGURE_DPI)}

    def __repr__(self) -> str:
        return f"<figure {self.path}" + (f" data {self.data_sha[:12]}>" if self.data_sha else ">")


def _cell() -> str | None:
    """The digest (:func:`cell_digest`) of the notebook cell running now, from the kernel's
    execute request (None outside a kernel): the report links each output to the cell that wrote
    it. (IPython's execution count is no help: whether it is raised before or after a cell runs
    changed between versions.)"""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    try:
        return cell_digest(shell.kernel.get_parent()["content"]["code"])
    except (AttributeError, KeyError, TypeError):
        return None


def cell_digest(source: str) -> str:
    """A short SHA-256 of a cell's source, which names the cell in ``provenance/<notebook>.json``."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


class Writer:
    """Outputs of one notebook, below one results folder ``root``.

    ``writer.table(df, "table2", latex=True)`` writes ``tables/table2.csv`` and ``.md`` (and
    ``.tex``); ``writer.figure(fig, "figure1")`` writes ``figures/figure1.png`` and ``.svg``;
    ``writer.numbers(...)`` collects flat ``key: number`` pairs that :meth:`save` writes to
    ``numbers/<notebook>.json`` and merges into ``numbers.json``; :meth:`save` also lists every
    file written, and the cell that wrote each file and number, in ``provenance/<notebook>.json``.
    ``writer.private(df, name)`` writes row-level tables to ``private/``, apart from everything
    shareable. :meth:`read_csv` and :meth:`read_numbers` read the outputs of the steps this
    notebook's step declares it reads (:mod:`trustlib.steps`), and refuse anything else: a
    partial rerun can only be right if every input is declared.
    """

    def __init__(self, root: Path | str, notebook: str, data_source: str | None = None):
        self.root = Path(root)
        self.notebook = notebook
        self.real = data_source is not None and paths.is_real(data_source)   # shareable at printed precision
        self._full: dict[str, object] = {}
        self.step = steps.STEPS.get(notebook)
        self._numbers: dict[str, object] = {}
        self._written: set[str] = set()
        self._cells: dict[str, str | None] = {}
        self._number_cells: dict[str, str | None] = {}
        self._titles: dict[str, str] = {}

    @classmethod
    def for_notebook(cls, notebook: str, data_source: str, results_dir: str | Path | None = None) -> "Writer":
        """The writer of ``notebook`` in the results folder of ``data_source`` (its own, or
        ``results_dir`` when given: a run's stage), at printed precision on the trial's data."""
        return cls(paths.results_dir(data_source, results_dir), notebook, data_source)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def _write(self, data: bytes, *parts: str) -> Path:
        name = "/".join(parts)
        self._written.add(name)
        self._cells[name] = _cell()
        return store.atomic_write_bytes(self.path(*parts), data)

    def csv(self, df: pd.DataFrame, *parts: str) -> Path:
        """Write ``df`` as CSV below the results folder (6 significant digits); on the trial's
        data a shareable file at printed precision (:func:`printed_frame`), its full-precision
        copy in ``private/full/``."""
        if self.real and parts[0] != store.PRIVATE:
            self._write(df.to_csv(index=False, float_format=store.FLOAT_FORMAT, lineterminator="\n").encode(),
                        store.PRIVATE, FULL, *parts)
            df = printed_frame(df)
        return self._write(df.to_csv(index=False, float_format=store.FLOAT_FORMAT, lineterminator="\n").encode(), *parts)

    def private(self, df: pd.DataFrame, name: str) -> Path:
        """Write a row-level or unprotected table to ``private/<name>.csv``: never linked from
        the report or the article, and listed apart in the manifest (:data:`trustlib.store.PRIVATE`)."""
        return self.csv(df, store.PRIVATE, f"{name}.csv")

    def table(self, df: pd.DataFrame, name: str, latex: bool = False, digits: int = 2,
              caption: str = "") -> pd.DataFrame:
        """Write a table as CSV (6 significant digits, :data:`trustlib.store.FLOAT_FORMAT`; a missing value empty)
        and Markdown (and LaTeX), rounded to ``digits``, a missing value shown as ``--``.
        Returns the table as the Markdown shows it."""
        self.csv(df, "tables", f"{name}.csv")
        rounded = (printed_frame(df) if self.real else df).round(digits)
        shown = rounded
        if rounded.isna().any().any():
            shown = rounded.astype(object).where(rounded.notna(), MISSING_SHOWN)
        md = (f"{caption}\n\n" if caption else "") + shown.to_markdown(index=False, disable_numparse=True) + "\n"
        self._write(md.encode(), "tables", f"{name}.md")
        if latex:
            tex = rounded.to_latex(index=False, caption=caption or None, escape=True,
                                   float_format=f"%.{digits}f", na_rep=MISSING_SHOWN)
            self._write(tex.encode(), "tables", f"{name}.tex")
        return shown

    def figure(self, fig, name: str) -> "SavedFigure":
        """Write a matplotlib figure as PNG (150 dpi) and SVG, without time stamps, and close it
        (both cropped to the PNG's tight bounding box, found once: the same PNG as
        ``bbox_inches="tight"``, one drawing of the figure fewer per format);
        with the values it draws (``fig.plotted``, set by :mod:`trustlib.publish.figures`) as
        ``figures/<name>.csv``.

        Returns the written PNG as a :class:`SavedFigure`, which a notebook shows as an image:
        the reader sees the very file in ``figures/``, and the figure is drawn once per format.
        """
        import io

        import matplotlib
        import matplotlib.pyplot as plt

        data_sha = ""
        plotted = getattr(fig, "plotted", None)
        if plotted is not None:
            data_sha = store.sha256(self.csv(plotted, "figures", f"{name}.csv"))
        written = {}
        bbox = _tight_bbox(fig, FIGURE_DPI)
        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
            buf = io.BytesIO()
            with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
                fig.savefig(buf, format=fmt, dpi=FIGURE_DPI, bbox_inches=bbox, metadata=meta)
            written[fmt] = buf.getvalue()
            self._write(written[fmt], "figures", f"{name}.{fmt}")
        self._titles[f"figures/{name}.png"] = fig.get_suptitle() or (fig.axes[0].get_title() if fig.axes else "")
        plt.close(fig)      # else a notebook's inline backend would draw it a second time
        return SavedFigure(f"figures/{name}.png", written["png"], data_sha)

    def numbers(self, mapping: dict | None = None, prefix: str = "", **values) -> dict:
        """Record numbers under flat keys (``prefix`` + key). Returns the cleaned values."""
        added = {f"{prefix}{k}": _clean(v) for k, v in {**(mapping or {}), **values}.items()}
        if self.real:
            self._full.update(added)
            added = {k: printed(k, v) for k, v in added.items()}
        self._numbers.update(added)
        cell = _cell()
        self._number_cells.update(dict.fromkeys(added, cell))
        return added

    def inputs(self, tables: dict, k: int | None = None) -> Path:
        """Record the files the tables were read from, with the SHA-256 of the bytes read
        (``provenance/inputs.json``; see :func:`trustlib.data.contract.load_folder`), the missing
        values each file's format declared, by column (``provenance/missing_values.json``), and
        how each file was read where there is something to say: a workbook's sheet, IDs read as
        their number format displays them, whole numbers written as decimals
        (``provenance/how_read.json``). ``k``: the disclosure threshold (raw data): a count of
        1 to ``k`` - 1 people with a missing value reads ``suppressed`` (the manifest copies it)."""
        from .disclosure import HIDDEN

        read, missing, how = {}, {}, {}
        for df in tables.values():
            read.update(df.attrs.get("read", {}))
            name = df.attrs.get("path", df.attrs.get("file", "?"))
            if df.attrs.get("missing_read"):
                missing[name] = {col: HIDDEN if k is not None and 0 < n < k else n
                                 for col, n in sorted(df.attrs["missing_read"].items())}
            if df.attrs.get("how_read"):
                how[name] = df.attrs["how_read"]
        self._write((json.dumps(missing, indent=1, sort_keys=True) + "\n").encode(), "provenance",
                    "missing_values.json")
        self._write((json.dumps(how, indent=1, sort_keys=True) + "\n").encode(), "provenance", "how_read.json")
        return self._write((json.dumps(read, indent=1, sort_keys=True) + "\n").encode(), "provenance", "inputs.json")

    def save(self) -> Path:
        """Write this notebook's numbers, the merged ``numbers.json`` and its provenance: the
        files written, and the digest of the cell (:func:`cell_digest`) that wrote each file and number."""
        frag = self._write((json.dumps(self._numbers, indent=1, sort_keys=True) + "\n").encode(),
                           "numbers", f"{self.notebook}.json")
        if self.real:
            self._write((json.dumps(self._full, indent=1, sort_keys=True) + "\n").encode(),
                        store.PRIVATE, "numbers", f"{self.notebook}.json")
        store.merge_numbers(self.root)
        record = {"notebook": f"notebooks/{self.notebook}.ipynb", "outputs": sorted(self._written),
                  "cells": {k: v for k, v in sorted(self._cells.items()) if v is not None},
                  "number_cells": {k: v for k, v in sorted(self._number_cells.items()) if v is not None},
                  "titles": dict(sorted(self._titles.items()))}
        store.atomic_write_text(self.path("provenance", f"{self.notebook}.json"),
                          json.dumps(record, indent=1, sort_keys=True) + "\n")
        return frag

    def _declared(self, name: str) -> None:
        """Refuse to read ``name`` unless a step this one declares it reads writes it."""
        if self.step is None:
            return
        producer = steps.producer(name)
        if producer is None or producer.name not in self.step.reads:
            raise KeyError(f"{self.notebook} reads {name}, which no step it declares (trustlib/steps.py: "
                           f"{list(self.step.reads)}) writes")

    def read_csv(self, *parts: str) -> pd.DataFrame:
        """An earlier step's CSV output from this results folder, with declared types
        (:func:`trustlib.store.read_table`). Running a notebook alone before the steps it reads says which
        notebook makes the file."""
        name = "/".join(parts)
        self._declared(name)
        path = self.path(*parts)
        full = self.path(store.PRIVATE, FULL, *parts)     # a real run's full-precision copy, where there is one
        if full.exists():
            path = full
        if not path.exists():
            producer = steps.producer(name)
            raise FileNotFoundError(f"{path} does not exist: run notebook {producer.name if producer else '?'} "
                                    f"first, with the same results_dir (or run the chain with "
                                    f"`python -m trustlib run`)")
        return store.read_table(path)

    def read_numbers(self) -> dict:
        """The numbers of the steps this one declares it reads, at full precision (a real run's
        ``private/numbers/`` where there is one; all of ``numbers.json`` for a notebook outside
        the declared steps)."""
        if self.step is None:
            return store.read_numbers(self.root)
        merged = {}
        for name in self.step.reads:
            frag = self.path("numbers", f"{name}.json")
            if self.path(store.PRIVATE, "numbers", f"{name}.json").exists():
                frag = self.path(store.PRIVATE, "numbers", f"{name}.json")
            if not frag.exists() and steps.get(name).synthetic_only:
                continue                         # a raw run leaves out the steps about the generator
            if not frag.exists():
                raise FileNotFoundError(f"{frag} does not exist: run notebook {name} first, with the same "
                                        "results_dir (or run the chain with `python -m trustlib run`)")
            merged.update(json.loads(frag.read_text()))
        return merged


def _tight_bbox(fig, dpi: float):
    """The figure's tight bounding box (inches, padded by ``savefig.pad_inches``) as
    ``savefig(bbox_inches="tight", dpi=dpi)`` finds it for a PNG: laid out by an Agg canvas at
    ``dpi`` without rendering. The figure's own canvas and dpi are left as they were."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas, old_dpi = fig.canvas, fig.dpi
    try:
        FigureCanvasAgg(fig)
        fig.dpi = dpi
        fig.draw_without_rendering()
        return fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    finally:
        fig.dpi = old_dpi
        fig.set_canvas(canvas)


# -- tables as a notebook shows them ---------------------------------------------------------------------

WORDS = {   # a column's name in words, where replacing "_" by a space is not enough
    "ci_low": "95% CI, lower", "ci_high": "95% CI, upper", "clinic_var": "clinic variance", "or": "OR",
    "p": "P", "se": "SE", "coef": "log odds", "n": "n", "n_complete": "complete answers", "alpha": "Cronbach's alpha",
    "sd": "SD", "loglik": "log-likelihood", "n_clinics": "clinics", "n_events": "high-high", "or_min": "OR, lowest",
    "or_median": "OR, median", "or_max": "OR, highest", "share_or_above_1": "share with OR > 1",
    "share_or_above_1_p_below_05": "share with OR > 1 and P < .05", "full_or": "OR, all clinics",
    "loo_or_min": "OR without one clinic, lowest", "loo_or_max": "OR without one clinic, highest",
    "share_p_below_05": "share with P < .05", "most_influential": "most influential clinics",
    "empirical_se": "empirical SE", "mean_model_se": "mean model SE", "coverage_ci_low": "coverage, 95% CI lower",
    "coverage_ci_high": "coverage, 95% CI upper", "true_or": "true OR", "true_log_or": "true log OR",
    "true_marginal_log_or": "true marginal log OR", "sigma": "clinic SD", "pass_rate": "pass rate",
    "n_women": "women, n", "n_physicians": "physicians, n", "n_family": "family medicine, n",
    "age_mean": "age, mean", "age_sd": "age, SD", "n_high_high": "high-high, n", "pct_high_high": "high-high, %",
    "patient_surveys": "patient surveys",
}
NO_BREAK = str.maketrans({" ": "\u00a0", "-": "\u2011"})     # no-break space and hyphen


def words(name) -> str:
    """A column or row name as a reader reads it: :data:`WORDS`, else underscores as spaces."""
    return WORDS.get(name, str(name).replace("_", " ")) if isinstance(name, str) else name


def shown(frame, index: str | list[str] | None = None, digits: int | None = None):
    """A table (or Series) as a notebook shows it: named rows instead of 0..n (``index``, or the
    first column when the rows are numbered), names in words (:func:`words`), floats rounded to
    ``digits``, counts as whole numbers, P values as journals print them (``<.001``), a missing
    cell as in the Markdown tables
    (:data:`MISSING_SHOWN`), and "OR (CI)" cells that a narrow screen cannot break inside a
    number. For display only: files are written from the table itself."""
    import re

    if isinstance(frame, pd.Series):
        s = frame.round(digits) if digits is not None and pd.api.types.is_float_dtype(frame) else frame
        if pd.api.types.is_float_dtype(s) and not s.map(lambda v: pd.isna(v) or float(v).is_integer()).all():
            s = pd.Series([int(v) if isinstance(v, float) and v.is_integer() else v for v in s],
                          index=s.index, name=s.name, dtype=object)
        elif pd.api.types.is_float_dtype(s):
            s = s.astype("Int64")
        return s.rename(words(s.name)).rename(index=words)
    df = frame.copy()
    if index is None and isinstance(df.index, pd.RangeIndex) and len(df.columns) > 1:
        index = df.columns[0]
    if index is not None:
        df = df.set_index(index)
    if digits is not None:
        df = df.round(digits)
    for col in df.columns:
        s = df[col]
        if col == "p" and pd.api.types.is_float_dtype(s):       # P values as journals print them
            s = df[col] = s.map(lambda v: MISSING_SHOWN if pd.isna(v) else "<.001" if v < 0.001
                                else f"{v:.3f}".lstrip("0"))
        if (pd.api.types.is_float_dtype(s) and s.notna().any() and s.dropna().map(float.is_integer).all()
                and s.abs().max() > 1):                          # counts (not shares of 0 and 1)
            s = df[col] = s.astype("Int64")
        if s.isna().any():
            df[col] = s.astype(object).where(s.notna(), MISSING_SHOWN)
        elif s.dtype == object:
            df[col] = s.map(lambda v: v.translate(NO_BREAK) if isinstance(v, str) and
                            re.fullmatch(r"[<>]?[\d.]+ \([\d.]+-[\d.]+\)", v) else v)
    df = df.rename(columns=words)
    df.index = df.index.set_names([words(n) for n in df.index.names])
    return df

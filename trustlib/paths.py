"""Every location the project reads or writes. No other module or notebook builds a path.

Data sources
------------
``synthetic``  the committed synthetic cohort in ``data/synthetic/``; outputs in ``results/``
``raw``        the real extracts a user places in ``data/raw/`` (git-ignored); outputs in
               ``results_raw/`` (git-ignored)

Staging
-------
Notebooks write through :mod:`trustlib.outputs`, which writes below :func:`stage_root` when
the environment variable ``TRUSTLIB_STAGE`` is set (the pipeline runner sets it, and moves the
staged files into place only when a notebook finishes). Reads of earlier outputs go through
:func:`locate`, which prefers a staged copy, so a chain of notebooks inside one stage sees its
own fresh results.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CODEBOOK = DATA / "codebook.csv"
SCALES = DATA / "scales.csv"
PUBLISHED = DATA / "published.csv"  # published numbers the scorecard checks
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
PIPELINE_PARAMS = PARAMS / "pipeline.yml"
SYNTHETIC_PARAMS = PARAMS / "synthetic.yml"

DATA_SOURCES = ("synthetic", "raw")
TABLES = ("clinics", "clinicians", "patients")


def _check_source(source: str) -> str:
    if source not in DATA_SOURCES:
        raise ValueError(f"data_source must be one of {DATA_SOURCES}, not {source!r}")
    return source


def data_dir(source: str = "synthetic") -> Path:
    """Folder holding the three raw-format tables for a data source."""
    return DATA / _check_source(source)


def table_file(source: str, table: str) -> Path:
    """CSV file of one raw table (``clinics``, ``clinicians`` or ``patients``)."""
    return data_dir(source) / f"{table}.csv"


def column_map_file(source: str = "raw") -> Path:
    """Optional YAML mapping of the extract's column names onto the codebook's."""
    return data_dir(source) / "column_map.yml"


def checksum_file(source: str = "synthetic") -> Path:
    return data_dir(source) / "SHA256SUMS"


def results_dir(source: str = "synthetic") -> Path:
    """Final outputs of a data source (relative layout is the same for both sources)."""
    return ROOT / ("results" if _check_source(source) == "synthetic" else "results_raw")


def stage_root() -> Path | None:
    """Staging folder that mirrors the repository layout, or None when not staging."""
    value = os.environ.get("TRUSTLIB_STAGE")
    return Path(value) if value else None


def output_path(final: Path) -> Path:
    """Where to write a file whose final place is ``final`` (inside the repository)."""
    stage = stage_root()
    if stage is None:
        return final
    return stage / Path(final).resolve().relative_to(ROOT)


def locate(final: Path) -> Path:
    """Where to read a file whose final place is ``final``: a staged copy if there is one."""
    staged = output_path(final)
    return staged if staged.exists() else final


def result(source: str, *parts: str) -> Path:
    """Final path of an output, e.g. ``result("synthetic", "tables", "table2.csv")``."""
    return results_dir(source).joinpath(*parts)


def analysis_table(source: str = "synthetic") -> Path:
    return result(source, "analysis_table.csv")


def executed_notebook(source: str, name: str) -> Path:
    return result(source, "notebooks", f"{name}.ipynb")


def notebook(name: str) -> Path:
    return NOTEBOOKS / f"{name}.ipynb"


def relative(path: Path) -> str:
    """Repository-relative POSIX path, for messages and the manifest."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)

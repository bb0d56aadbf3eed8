"""Every location the project reads or writes. No other module or notebook builds a path.

Data sources
------------
``synthetic``  the committed synthetic cohort in ``data/synthetic/``; outputs in ``results/``
``raw``        the real extracts a user places in ``data/raw/`` (git-ignored); outputs in
               ``results_raw/`` (git-ignored)
``rehearsal``  an extract shaped like the trial's export, generated from the synthetic cohort
               into ``data/rehearsal/`` (git-ignored) to rehearse the raw path: read and
               protected exactly as raw data; outputs in ``results_rehearsal/`` (git-ignored)

Output folders
--------------
A run (:mod:`trustlib.run.pipeline`) executes every notebook into one private stage folder, passed
to each notebook as its ``results_dir`` parameter, and swaps the stage into place when the
whole run has succeeded; :class:`RunPaths` names a run's folders (results, stage, failed
notebooks, lock). A notebook run by hand, with ``results_dir = None``, reads and writes the
data source's own results folder. Nothing here reads environment variables.

Inside a results folder, ``private/`` holds the row-level tables (the analysis table, scored
clinicians, leave-one-clinic-out fits); everything else is aggregate and, on raw data, has
passed :mod:`trustlib.publish.disclosure`. The layout is the same for both sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CODEBOOK = DATA / "codebook.csv"
SCALES = DATA / "scales.csv"
PUBLISHED = DATA / "published.csv"  # published numbers the scorecard checks
NOTEBOOKS = ROOT / "notebooks"
REPORT_DOCS = (ROOT / "docs" / "glossary.md",)   # docs the notebooks link: the report carries a page of each
PARAMS = ROOT / "params"
PIPELINE_PARAMS = PARAMS / "pipeline.yml"
SYNTHETIC_PARAMS = PARAMS / "synthetic.yml"
README = ROOT / "README.md"
CITATION = ROOT / "CITATION.cff"        # the maintainers the article names
CANONICAL = ROOT / "canonical"            # what `make notebooks` records of the canonical synthetic run
CERTIFICATE = CANONICAL / "certificate.json"   # its digests and numbers (trustlib.publish.certificate)
CANONICAL_FIGURE = CANONICAL / "figure2_forest.png"   # Figure 2 as the README shows it

DATA_SOURCES = ("synthetic", "raw", "rehearsal")
REAL_LIKE = ("raw", "rehearsal")        # read through the column map and protected by disclosure control
RESULTS_NAMES = {"synthetic": "results", "raw": "results_raw", "rehearsal": "results_rehearsal"}


def is_real(source: str) -> bool:
    """True for a source read and protected as the trial's data (``raw``, and its rehearsal)."""
    return source in REAL_LIKE
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


def checksum_file(source: str = "synthetic") -> Path:
    return data_dir(source) / "SHA256SUMS"


def results_dir(source: str = "synthetic", override: str | Path | None = None) -> Path:
    """Output folder of a data source: ``override`` if given (a run's stage), else ``results/``
    (synthetic) or ``results_raw/`` (raw). The layout inside is the same for both sources."""
    if override is not None:
        return Path(override)
    return ROOT / RESULTS_NAMES[_check_source(source)]


def synthetic_dir(override: str | Path | None = None) -> Path:
    """Where notebook 00 writes the synthetic cohort: ``override`` (a stage) or data/synthetic/."""
    return Path(override) if override is not None else data_dir("synthetic")


def result(source: str, *parts: str) -> Path:
    """Final path of an output, e.g. ``result("synthetic", "tables", "table2.csv")``."""
    return results_dir(source).joinpath(*parts)


def analysis_table(source: str = "synthetic") -> Path:
    """The modelling table, one row per clinician (row-level: below ``private/``)."""
    return result(source, "private", "analysis_table.csv")


def notebook(name: str) -> Path:
    return NOTEBOOKS / f"{name}.ipynb"


@dataclass(frozen=True)
class RunPaths:
    """The folders of one run on one data source, below a project ``root`` (this repository, or
    a copy of it): the extract, the results folder, and beside it the run's stage, the failed
    run's notebooks and the lock (hidden names, git-ignored)."""

    source: str
    root: Path | None = None       # default: this repository (ROOT when the object is made)

    def __post_init__(self):
        _check_source(self.source)
        object.__setattr__(self, "root", Path(self.root) if self.root is not None else ROOT)

    @property
    def data(self) -> Path:
        return Path(self.root) / "data" / self.source

    @property
    def results_name(self) -> Path:
        """The results folder as named (``results/`` or ``results_raw/``), for messages."""
        return Path(self.root) / RESULTS_NAMES[self.source]

    @property
    def results(self) -> Path:
        """The results folder itself (a symlinked results folder is followed, not replaced)."""
        return self.results_name.resolve()

    def beside(self, suffix: str) -> Path:
        return self.results.parent / f".{self.results.name}.{suffix}"

    @property
    def stage(self) -> Path:
        return self.beside("stage")

    @property
    def failed(self) -> Path:
        return self.beside("failed")

    @property
    def lock(self) -> Path:
        return self.beside("lock")

    def relative(self, path: Path) -> str:
        """``path`` relative to the project root, for messages."""
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root)).as_posix()
        except ValueError:
            return str(path)


def relative(path: Path) -> str:
    """Repository-relative POSIX path, for messages and the manifest (symbolic links are not
    followed: a message names the file as the user named it)."""
    try:
        return Path(os.path.abspath(path)).relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def version(path: Path | str) -> tuple[str, int, int]:
    """A file's identity for a cache: its path, modification time (ns) and size. A cache keyed by
    it reads the file again once it is edited, in a live kernel too."""
    st = os.stat(path)
    return str(path), st.st_mtime_ns, st.st_size

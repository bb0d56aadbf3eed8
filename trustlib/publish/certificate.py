"""The reproduction certificate: is this run the canonical run, byte for byte?

``canonical/certificate.json`` (written by ``make notebooks`` from the canonical synthetic run)
holds the SHA-256 digest of every certified file of that run (every table, every figure's data,
``numbers.json`` and the scorecard) and ``numbers.json`` itself. :func:`compare` checks a
results folder against it, or against a second results folder (two machines' runs):

* the same files with the same digests: **identical**;
* otherwise, for each file that differs, how much, at written precision (the files are written at
  6 significant digits): the cells that differ and the largest absolute difference between two
  numbers. Against the certificate this is exact for ``numbers.json`` (its values are in the
  certificate); for another file the certificate holds its digest and line count, so the report
  names the file and says to compare with a folder of the canonical run for cell values.

Figures' pixels are not certified: they may differ in antialiasing between machines, while the
data each figure draws (``figures/<name>.csv``) are certified.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths, store

PATTERNS = ("tables/*", "figures/*.csv", "numbers.json", "scorecard.csv")
VERSION = 1


def certified_files(results: Path) -> list[str]:
    """The certified files of a results folder, as POSIX paths relative to it, sorted."""
    results = Path(results)
    return sorted({p.relative_to(results).as_posix() for pattern in PATTERNS for p in results.glob(pattern)
                   if p.is_file()})


def make(results: Path) -> dict:
    """The certificate of a results folder: its files' digests and line counts, and its numbers."""
    results = Path(results)
    files = {}
    for name in certified_files(results):
        data = (results / name).read_bytes()
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n")}
    return {"version": VERSION, "files": files, "numbers": store.read_numbers(results)}


def write(results: Path, dest: Path = paths.CERTIFICATE) -> Path:
    """Write the certificate of ``results`` to ``dest`` (``canonical/certificate.json``)."""
    store.make_folder(Path(dest).parent)
    return store.atomic_write_text(Path(dest), json.dumps(make(results), indent=1, sort_keys=True) + "\n")


def read(path: Path = paths.CERTIFICATE) -> dict:
    return json.loads(Path(path).read_text())


# -- comparing ------------------------------------------------------------------------------------------

@dataclass
class Difference:
    """How one certified file differs: ``what`` in words, ``cells`` that differ (None when only a
    digest was compared) and the largest absolute difference between two numbers (None if none)."""

    file: str
    what: str
    cells: int | None = None
    largest: float | None = None


@dataclass
class Comparison:
    """The outcome of comparing a results folder (``mine``) with a reference (``theirs``)."""

    mine: str
    theirs: str
    n_files: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        """What ``trustlib compare`` prints: one screen."""
        if self.identical:
            return [f"identical: {self.mine} is {self.theirs} byte for byte ({self.n_files} certified files: "
                    "tables, figures' data, numbers.json, scorecard)"]
        out = [f"different: {len(self.differences)} of {self.n_files} certified files of {self.mine} differ "
               f"from {self.theirs}"]
        for d in self.differences:
            out.append(f"  {d.file}: {d.what}")
        return out


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _cells(a: str, b: str) -> tuple[int, float | None, str]:
    """Cells that differ between two CSV texts, the largest numeric difference, and the first
    difference in words (line numbers count the header as line 1)."""
    ra, rb = list(csv.reader(io.StringIO(a))), list(csv.reader(io.StringIO(b)))
    if ra[:1] != rb[:1]:
        return -1, None, "the columns differ"
    if len(ra) != len(rb):
        return -1, None, f"{len(ra) - 1} rows here, {len(rb) - 1} there"
    header = ra[0] if ra else []
    n, largest, first = 0, None, ""
    for line, (x, y) in enumerate(zip(ra, rb), start=1):
        for col, (u, v) in enumerate(zip(x, y)):
            if u == v:
                continue
            n += 1
            fu, fv = _number(u), _number(v)
            if fu is not None and fv is not None:
                largest = max(largest or 0.0, abs(fu - fv))
            if not first:
                name = header[col] if col < len(header) else f"column {col + 1}"
                first = f"first at line {line}, column {name}: {u!r} here, {v!r} there"
    return n, largest, first


def _flat(value, prefix="") -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def _numbers(a: dict, b: dict) -> Difference | None:
    fa, fb = _flat(a), _flat(b)
    keys = sorted(set(fa) | set(fb))
    differ = [k for k in keys if fa.get(k, "<absent>") != fb.get(k, "<absent>")]
    if not differ:
        return None
    nums = [abs(fa[k] - fb[k]) for k in differ if isinstance(fa.get(k), (int, float)) and
            isinstance(fb.get(k), (int, float)) and not isinstance(fa.get(k), bool)]
    k = differ[0]
    return Difference("numbers.json", f"{len(differ)} of {len(keys)} values differ"
                      + (f", largest absolute difference {max(nums):.6g}" if nums else "")
                      + f" (first: {k} = {fa.get(k, '<absent>')!r} here, {fb.get(k, '<absent>')!r} there)",
                      len(differ), max(nums) if nums else None)


def _presence(mine: set, theirs: set) -> list[Difference]:
    return ([Difference(f, "missing here") for f in sorted(theirs - mine)]
            + [Difference(f, "only here") for f in sorted(mine - theirs)])


def with_certificate(results: Path, cert: dict, mine: str = "results/",
                     theirs: str = "the canonical run (canonical/certificate.json)") -> Comparison:
    """Compare a results folder with a certificate."""
    results = Path(results)
    have = certified_files(results)
    out = Comparison(mine, theirs, len(set(have) | set(cert["files"])), _presence(set(have), set(cert["files"])))
    for name in sorted(set(have) & set(cert["files"])):
        data = (results / name).read_bytes()
        if hashlib.sha256(data).hexdigest() == cert["files"][name]["sha256"]:
            continue
        if name == "numbers.json":
            d = _numbers(json.loads(data), cert["numbers"])
            out.differences.append(d or Difference(name, "the same values, written differently"))
        else:
            lines = data.count(b"\n")
            extent = ("" if lines == cert["files"][name]["lines"] else
                      f"; {lines} lines here, {cert['files'][name]['lines']} there")
            out.differences.append(Difference(name, "differs from the certified digest" + extent +
                                              " (for the cells, compare with a results folder of the canonical "
                                              "run: make compare WITH=<folder>)"))
    return out


def with_folder(results: Path, other: Path, mine: str = "", theirs: str = "") -> Comparison:
    """Compare two results folders file by file, cell by cell."""
    results, other = Path(results), Path(other)
    a, b = certified_files(results), certified_files(other)
    out = Comparison(mine or str(results), theirs or str(other), len(set(a) | set(b)), _presence(set(a), set(b)))
    for name in sorted(set(a) & set(b)):
        x, y = (results / name).read_bytes(), (other / name).read_bytes()
        if x == y:
            continue
        if name == "numbers.json":
            d = _numbers(json.loads(x), json.loads(y))
            out.differences.append(d or Difference(name, "the same values, written differently"))
            continue
        tx, ty = x.decode("utf-8", "replace"), y.decode("utf-8", "replace")
        if not name.endswith(".csv"):           # a Markdown or LaTeX table: its lines
            lx, ly = tx.splitlines(), ty.splitlines()
            n = sum(u != v for u, v in zip(lx, ly)) + abs(len(lx) - len(ly))
            out.differences.append(Difference(name, f"{n} lines differ"))
            continue
        n, largest, first = _cells(tx, ty)
        if n < 0:
            out.differences.append(Difference(name, first))
        else:
            size = f", largest absolute difference {largest:.6g}" if largest is not None else ""
            out.differences.append(Difference(name, f"{n} cell{'s differ' if n > 1 else ' differs'}{size} ({first})" if n
                                              else "the same cells, written differently", n, largest))
    return out


# -- what the repository records of the canonical run ------------------------------------------------------

README_START = "<!-- canonical-result: written by `make notebooks` from the canonical run; do not edit -->"
README_END = "<!-- /canonical-result -->"


def readme_block(results: Path) -> str:
    """The README's first-screen result: the scorecard in one line and Figure 2, from ``results``."""
    from ..stats import scorecard

    line = scorecard.summary(store.read_table(Path(results) / "scorecard.csv"))
    figure = paths.CANONICAL_FIGURE.relative_to(paths.ROOT).as_posix()
    return (f"{README_START}\n**Result of the canonical run (synthetic data):** {line} "
            "(every row: [notebook 05](notebooks/05_scorecard.ipynb)).\n\n"
            f"![Figure 2. Culture and high-high trust: adjusted two-level odds ratios per scale point, reproduced "
            f"and published, with 95% confidence intervals]({figure})\n{README_END}")


def replace_block(text: str, block: str) -> str:
    """``text`` (the README) with its canonical-result block replaced by ``block``."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no canonical-result block ({README_START!r} ... {README_END!r})")
    return text[:start] + block + text[end + len(README_END):]


def record(results: Path) -> list[Path]:
    """Record the canonical run ``results`` in the repository: the certificate, Figure 2 as the
    README shows it, and the README's result line. Returns the files written."""
    results = Path(results)
    store.make_folder(paths.CANONICAL)
    written = [write(results),
               store.atomic_write_bytes(paths.CANONICAL_FIGURE, (results / "figures" / "figure2_forest.png").read_bytes())]
    readme = paths.README.read_text()
    new = replace_block(readme, readme_block(results))
    if new != readme:
        store.atomic_write_text(paths.README, new)
        written.append(paths.README)
    return written

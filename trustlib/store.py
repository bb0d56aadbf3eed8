"""Files as the project writes them and reads them back: atomically, at written precision, with declared types.

Every file is written through a temporary file in the same folder and an atomic rename
(:func:`atomic_write_bytes`), so a reader never sees a half-written file. Files get the
permissions the umask gives (0644 under umask 022), so a colleague can read a shared results
folder; ``private/`` (:data:`PRIVATE`) and what is in it stay owner-only (0700 and 0600).

Floats in CSV tables and ``numbers.json`` are written with 6 significant digits
(:data:`FLOAT_FORMAT`), so outputs do not depend on the last bits of floating-point arithmetic
(BLAS kernel, CPU, threads). :func:`written` gives a table's values at that precision: figures
draw from it and sort by it, and the specification curve and clinic influence judge by it.
:func:`read_table` reads a written table back with declared types; :func:`merge_numbers` and
:func:`read_numbers` make and read a results folder's ``numbers.json``.
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(path: Path) -> int:
    """Permissions of a new output: what the umask gives a new file (0644 under 022), owner-only
    (0600) below a ``private/`` folder (``private/x.csv``, ``private/full/tables/x.csv``)."""
    return 0o600 if any(p.name == PRIVATE for p in _near(Path(path).parent)) else 0o666 & ~_umask()


def _near(folder: Path) -> list[Path]:
    """``folder`` and its two parents: an output's folder within a results folder."""
    return [folder, *list(folder.parents)[:2]]


def make_folder(folder: Path) -> Path:
    """Create ``folder`` and its parents; a ``private/`` folder and the folders below it
    (``private/full/tables``) are owner-only (0700), as their files are (0600)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    near = _near(folder)
    private = next((i for i, p in enumerate(near) if p.name == PRIVATE), None)
    for p in near[:private + 1] if private is not None else []:
        p.chmod(0o700)
    return folder


def atomic_write_bytes(final: Path, data: bytes) -> Path:
    """Write ``data`` to ``final`` through a temporary file in the same folder, with the mode of
    :func:`file_mode`; returns ``final``."""
    target = Path(final)
    make_folder(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode(target))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None:        # a full disk or a size limit: say which file it was writing
            raise OSError(err.errno, err.strerror, str(target)) from None
        raise
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


def written(frame):
    """``frame`` (DataFrame or Series) with every float at the precision outputs are written
    (:data:`FLOAT_FORMAT`, 6 significant digits): what a reader of the CSV file sees, the same on
    every machine. Non-float columns are unchanged."""
    def column(s: pd.Series) -> pd.Series:
        if not pd.api.types.is_float_dtype(s):
            return s
        return s.map(lambda v: float(FLOAT_FORMAT % v) if math.isfinite(v) else v)

    if isinstance(frame, pd.Series):
        return column(frame)
    return frame.apply(column)


TEXT_COLUMNS = ("clinician_id", "clinic_id", "patient_id", "dropped_clinic", "quadrant", "sex", "clinician_type",
                "specialty", "measure", "model", "group", "variable", "cell", "key", "step", "exclusion_reason",
                "scale", "label", "note")   # read back as text, exactly as written: "007" and "NA" stay themselves


def read_table(path: Path) -> pd.DataFrame:
    """A CSV table this project wrote, read back with declared types: identifier and category
    columns (:data:`TEXT_COLUMNS`) as text, exactly as written (no guessing: "007", "7" and "NA"
    stay distinct and none becomes a number or missing); an empty cell in another column is
    missing."""
    header = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype={c: str for c in header if c in TEXT_COLUMNS}, keep_default_na=False,
                       na_values={c: [""] for c in header if c not in TEXT_COLUMNS})


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

"""A private register of the cohorts of earlier shareable releases on raw data.

Each release passes disclosure control alone, but two releases whose extracts differ by a few
people can be differenced: one clinician fewer, and the two releases' ``numbers.json`` give that
clinician's age, scores and patients' trust. So a raw run records, once its results are in place,
who its release describes: the clinicians' and the patient surveys' IDs, each hashed with a salt
of the register's own. Before any kernel starts, a raw run whose clinicians or patient surveys
differ from those of an earlier release by 1 to ``min_cell_size - 1`` is refused, unless
``allow_release_difference: true`` says to release it anyway (the manifest records the parameter).
A difference of 0 (the same people) or of ``min_cell_size`` or more is not refused.

The register is ``.results_raw.releases`` beside the results folder: private (owner-only), never
in a results folder, and never quoted: a message says neither which people differ nor how many.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from .. import InputError, paths

KEYS = {"clinicians": "clinician_id", "patients": "patient_id"}
VERSION = 1


class ReleaseDifferenceError(InputError):
    """This release and an earlier one differ by too few people to be shared both."""


def register_file(project: paths.RunPaths) -> Path:
    return project.beside("releases")


def _read(project: paths.RunPaths) -> dict:
    path = register_file(project)
    if not path.exists():
        return {"version": VERSION, "salt": secrets.token_hex(16), "releases": []}
    return json.loads(path.read_text())


def _hashes(salt: str, ids) -> list[str]:
    return sorted({hashlib.sha256(f"{salt}|{i}".encode()).hexdigest()[:20] for i in ids})


def cohort(tables: dict, salt: str) -> dict[str, list[str]]:
    """Who a release describes: the hashed IDs of its clinicians and of its patient surveys."""
    return {table: _hashes(salt, tables[table][key].astype(str)) for table, key in KEYS.items()}


def check(project: paths.RunPaths, tables: dict, k: int, allowed: bool) -> str | None:
    """Refuse (:class:`ReleaseDifferenceError`) a release that differs from an earlier one by 1 to
    ``k - 1`` clinicians or patient surveys; with ``allowed``, return a warning instead. None when
    no earlier release is that close."""
    register = _read(project)
    now = cohort(tables, register["salt"])
    close = sorted({table for rel in register["releases"] for table in KEYS
                    if 0 < len(set(now[table]) ^ set(rel.get(table, []))) < k})
    if not close:
        return None
    what = " and ".join("clinicians" if t == "clinicians" else "patient surveys" for t in close)
    name = project.relative(project.results_name)
    if allowed:
        return (f"warning: this release's {what} differ from an earlier shareable release's by fewer than {k}; "
                "released because allow_release_difference is true (the manifest records it)")
    raise ReleaseDifferenceError(
        f"this extract's {what} differ from those of an earlier shareable release of {name}/ by fewer than "
        f"{k} (min_cell_size): the difference of the two releases' numbers could describe those people. "
        "Release the same cohort, or one that differs by at least min_cell_size, or set "
        "allow_release_difference: true to release it anyway (the manifest records it)")


def record(project: paths.RunPaths, tables: dict) -> Path:
    """Add this release's cohort to the register (after its results are in place)."""
    register = _read(project)
    now = cohort(tables, register["salt"])
    if now not in register["releases"]:
        register["releases"].append(now)
    path = register_file(project)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(register, fh)
    os.replace(tmp, path)
    return path

"""``manifest.json``: what a run read, what it wrote, and how each step was made.

Every output's SHA-256 (paths relative to the results folder) with the step that wrote it;
shareable outputs under ``outputs`` and row-level ones (``private/``) under
``private_outputs``; per step its fingerprint (:mod:`trustlib.run.fingerprint`), whether it was
executed or carried from the previous run, and its files; the run's parameters and those of
them that departed from ``params/pipeline.yml`` as it read then (``departures``), the extract
as read (its files' SHA-256, and how they were read: a workbook's sheet, IDs read as their number
format displays them), git commit and dirty flag, Python and key package versions. No time stamps, so two
runs of the same inputs write the same manifest.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

from .. import params, paths, store
from . import fingerprint


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit_date(commit: str) -> str:
    """The date (YYYY-MM-DD) of a commit of this repository, or "" outside a git checkout."""
    return _git("show", "-s", "--format=%cs", commit) if commit else ""


def read(results: Path) -> dict | None:
    """The manifest of a results folder, or None when there is none (or it cannot be read)."""
    try:
        man = json.loads((Path(results) / "manifest.json").read_text())
        return man if isinstance(man, dict) else None
    except (OSError, ValueError):
        return None


def run_facts(results: Path) -> dict:
    """The article's byline facts about a run from its ``manifest.json``: commit, its date, whether the
    tree had uncommitted changes, Python and the key packages' versions."""
    m = read(Path(results)) or {}
    git = m.get("git") or {}
    commit = git.get("commit") or ""
    date = commit_date(commit)
    return {"commit": commit, "date": date, "dirty": bool(git.get("dirty")), "python": m.get("python", ""),
            "packages": m.get("packages", {})}


def non_default_parameters(results: Path) -> dict:
    """The parameters of the run in ``results`` that differ from ``params/pipeline.yml`` (empty
    when it ran with the defaults, or has no manifest)."""
    return params.non_default((read(results) or {}).get("parameters", {}))


def step_files(results: Path, name: str) -> dict[str, str]:
    """SHA-256 of every file step ``name`` wrote below ``results`` (its provenance, report page
    and executed notebook included)."""
    record = json.loads((Path(results) / "provenance" / f"{name}.json").read_text())
    files = set(record["outputs"]) | {f"provenance/{name}.json", f"report/{name}.html"}
    return {f: store.sha256(Path(results) / f) for f in sorted(files) if (Path(results) / f).is_file()}


def write(results: Path, source: str, parameters: dict, names: list[str], fingerprints: dict[str, dict],
          carried: set[str], finish: dict) -> Path:
    """Write ``manifest.json`` below ``results`` (a run's stage, after every step)."""
    outs, private, step_records = {}, {}, {}
    for name in names:
        record = json.loads((results / "provenance" / f"{name}.json").read_text())
        for f in record["outputs"]:
            p = results / f
            if p.is_file():
                (private if f.startswith(f"{store.PRIVATE}/") else outs)[f] = {
                    "sha256": store.sha256(p), "notebook": record["notebook"]}
        step_records[name] = {"fingerprint": fingerprints[name], "run": "carried" if name in carried else "executed",
                              "files": step_files(results, name)}
    merged = results / "numbers.json"
    if merged.is_file():
        outs["numbers.json"] = {"sha256": store.sha256(merged), "notebook": "merged from numbers/*.json"}
    missing = results / "provenance" / "missing_values.json"
    how = results / "provenance" / "how_read.json"
    status = _git("status", "--porcelain", "--untracked-files=no")
    manifest = {
        "data_source": source,
        "git": {"commit": _git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)},
        "python": platform.python_version(),
        "packages": fingerprint.packages(),
        "parameters": parameters,
        "departures": params.non_default(parameters),
        "inputs": next((fp["data"] for fp in fingerprints.values() if fp["data"]), {}),
        "missing_values_read": json.loads(missing.read_text()) if missing.is_file() else {},
        "how_read": json.loads(how.read_text()) if how.is_file() else {},
        "notebooks": names,
        "steps": step_records,
        "finish": finish,
        "outputs": outs,
        "private_outputs": private,
    }
    return store.atomic_write_text(results / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")

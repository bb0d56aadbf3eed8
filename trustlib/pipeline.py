"""Running the notebooks with papermill, with staging, provenance and clear failure messages.

Each run executes notebooks with ``TRUSTLIB_STAGE`` pointing to a private staging folder, so
every output is first written there. Only when the run finishes are the staged files moved
into place; a failed run leaves earlier outputs exactly as they were and says which step
failed and where its partly executed notebook is. After a successful run the provenance
record of each notebook and ``manifest.json`` are rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import nbformat

from . import TrustlibError, outputs, params, paths

KERNEL = "trustlib"
SYNTHESIZE = "00_synthesize_cohort"
ANALYSIS = ["01_prepare_data", "02_describe_sample", "03_model_culture_and_trust", "04_figures",
            "05_scorecard", "06_robustness", "07_simulation_check"]
KEY_PACKAGES = ["numpy", "scipy", "pandas", "statsmodels", "matplotlib", "seaborn", "pandera",
                "papermill", "nbval", "joblib"]
STAGE_BASE = paths.ROOT / ".stage"


class StepFailed(TrustlibError):
    """A notebook failed; the message names the step, the error and the partial notebook."""


def install_kernel() -> Path:
    """Install the notebooks' kernel (``trustlib``) into this environment, quiet at start-up.

    The kernel runs this environment's Python; its log level is raised to ERROR so that
    ipykernel's start-up notice about local TCP transport does not clutter every run.
    """
    from ipykernel import kernelspec

    folder = Path(kernelspec.install(kernel_name=KERNEL, display_name="Python 3 (trustlib)", prefix=sys.prefix))
    spec_file = folder / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["argv"] = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.log_level")]
    spec["argv"].append("--IPKernelApp.log_level=ERROR")
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")
    return folder


def run_parameters(source: str, params_file: Path | None = None, overrides: dict | None = None) -> dict:
    """Parameters injected into every notebook: the pipeline file, ``overrides``, ``data_source``."""
    p = params.pipeline_params(params_file)
    unknown = sorted(set(overrides or {}) - set(p))
    if unknown:
        raise TrustlibError(f"unknown parameter(s) {unknown}; see {paths.relative(paths.PIPELINE_PARAMS)}")
    p.update(overrides or {})
    p["data_source"] = source
    return p


def _strip_timings(nb_path: Path) -> None:
    """Remove execution times papermill and Jupyter record, so reruns give identical files."""
    nb = nbformat.read(nb_path, as_version=4)
    pm = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables"):
        pm.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"      # papermill gives it a random id
    nbformat.write(nb, nb_path)


def notebook_parameters(name: str) -> dict:
    """The parameters a notebook declares in its ``parameters`` cell, with their defaults."""
    import papermill as pm

    return {k: v["default"] for k, v in pm.inspect_notebook(str(paths.notebook(name))).items()}


def _execute(name: str, output: Path, parameters: dict | None) -> None:
    import papermill as pm

    if parameters is not None:
        declared = notebook_parameters(name)
        parameters = {k: v for k, v in parameters.items() if k in declared}
    pm.execute_notebook(str(paths.notebook(name)), str(output), parameters=parameters,
                        kernel_name=KERNEL, cwd=str(paths.NOTEBOOKS), progress_bar=False,
                        log_output=False, request_save_on_cell_execute=False)
    _strip_timings(output)


def _commit(stage: Path) -> list[Path]:
    """Move every staged file into its final place (atomic renames); return final paths."""
    moved = []
    for src in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = src.relative_to(stage)
        if rel.parts[0] == "failed":
            continue
        dst = paths.ROOT / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        moved.append(dst)
    return moved


def run(names: list[str], source: str = "synthetic", params_file: Path | None = None,
        overrides: dict | None = None) -> list[Path]:
    """Execute ``names`` in order inside one stage; commit outputs only if all succeed."""
    parameters = run_parameters(source, params_file, overrides)
    produced: dict[str, list[str]] = {}
    with _staged(f"{source}-") as stage:
        for i, name in enumerate(names, 1):
            print(f"[{i}/{len(names)}] {name} ({source}) ...", end=" ", flush=True)
            before = {p for p in stage.rglob("*") if p.is_file()}
            executed = paths.output_path(paths.executed_notebook(source, name))
            executed.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            try:
                _execute(name, executed, parameters)
            except Exception as err:  # papermill wraps the notebook's exception
                failed = STAGE_BASE / "failed" / source / f"{name}.ipynb"
                failed.parent.mkdir(parents=True, exist_ok=True)
                if executed.exists():
                    shutil.copyfile(executed, failed)
                reason = _reason(err)
                raise StepFailed(f"step {name} failed ({source} data): {reason}\n"
                                 f"  partly executed notebook: {paths.relative(failed)}\n"
                                 f"  outputs of this run were discarded; {paths.relative(paths.results_dir(source))}/ "
                                 "is unchanged") from None
            print(f"done ({time.perf_counter() - t0:.1f} s)", flush=True)
            after = {p for p in stage.rglob("*") if p.is_file()}
            produced[name] = sorted(p.relative_to(stage).as_posix() for p in after - before)
        for name, files in produced.items():
            outputs.atomic_write_text(paths.result(source, "provenance", f"{name}.json"),
                                      json.dumps({"notebook": f"notebooks/{name}.ipynb", "parameters": parameters,
                                                  "outputs": files}, indent=1, sort_keys=True) + "\n")
        with _lock(source):
            moved = _commit(stage)
            outputs.merge_numbers(source)
            write_manifest(source)
    return moved


@contextlib.contextmanager
def _staged(prefix: str):
    """A fresh staging folder under ``.stage/`` as ``TRUSTLIB_STAGE`` for the block; removed after."""
    STAGE_BASE.mkdir(exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=prefix, dir=STAGE_BASE))
    old = os.environ.get("TRUSTLIB_STAGE")
    os.environ["TRUSTLIB_STAGE"] = str(stage)
    try:
        yield stage
    finally:
        if old is None:
            os.environ.pop("TRUSTLIB_STAGE", None)
        else:
            os.environ["TRUSTLIB_STAGE"] = old
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def _lock(source: str):
    """Serialize commits of runs that ``make -j`` starts in parallel."""
    import fcntl

    rdir = paths.results_dir(source)
    rdir.mkdir(parents=True, exist_ok=True)
    with open(rdir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _reason(err: Exception) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(err).__name__}: {err}"


def refresh_notebooks(names: list[str], source: str = "synthetic") -> None:
    """Re-execute the committed notebooks in place with their own default parameters.

    Their outputs are what nbval compares. Refuses raw data: committed notebooks must never
    carry outputs of the trial's data.
    """
    if source != "synthetic":
        raise TrustlibError("refusing to refresh committed notebooks from raw data: their outputs would "
                            "put trial data into git. Refresh with DATA=synthetic.")
    with _staged("refresh-") as stage:
        for name in names:
            print(f"refreshing notebooks/{name}.ipynb", flush=True)
            tmp = stage / f"{name}.ipynb"
            _execute(name, tmp, None)
            shutil.copyfile(tmp, paths.notebook(name))


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def input_files(source: str) -> list[Path]:
    files = sorted(p for p in paths.data_dir(source).glob("*") if p.is_file() and p.suffix in {".csv", ".yml"})
    return files + [paths.CODEBOOK, paths.SCALES, paths.PUBLISHED, paths.PIPELINE_PARAMS]


def write_manifest(source: str) -> Path:
    """``manifest.json``: every output's SHA-256 with its notebook and parameters, input checksums,
    git commit and dirty flag, Python and key package versions. Contains no time stamps."""
    rdir = paths.results_dir(source)
    records = {}
    for prov in sorted(rdir.joinpath("provenance").glob("*.json")):
        rec = json.loads(prov.read_text())
        for f in rec["outputs"]:
            records[f] = {"notebook": rec["notebook"], "parameters": rec["parameters"]}
    outs = {}
    for f, rec in sorted(records.items()):
        p = paths.ROOT / f
        if p.exists():
            outs[f] = {"sha256": outputs.sha256(p), **rec}
    status = _git("status", "--porcelain", "--untracked-files=no")
    manifest = {
        "data_source": source,
        "git": {"commit": _git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)},
        "python": platform.python_version(),
        "packages": {k: _version(k) for k in KEY_PACKAGES},
        "inputs": {paths.relative(p): outputs.sha256(p) for p in input_files(source) if p.exists()},
        "outputs": outs,
    }
    final = rdir / "manifest.json"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, final)
    return final


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"

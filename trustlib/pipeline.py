"""The one orchestrator: runs the notebooks with papermill as a single all-or-nothing run.

A run

1. fingerprints what it would read (the data files, including those a ``column_map.yml``
   names; the codebook, scales, published numbers; the notebooks' code; trustlib's code; the
   resolved parameters) and stops at once when ``manifest.json`` records the same fingerprint;
2. takes a lock on the results folder (a second run on the same folder refuses, naming it);
3. executes every notebook into one fresh stage folder beside the results folder (same
   filesystem), passing the stage as each notebook's ``results_dir`` parameter; notebooks whose
   inputs are ready run two at a time (:data:`STEPS` says which outputs each reads);
4. checks that the data files read (hashed by :func:`trustlib.contract.load_folder` as they
   were read) are the ones fingerprinted, writes provenance, the manifest and the HTML report
   into the stage;
5. replaces the results folder by the stage in one atomic exchange of the two folders.

Any failure, interrupt or error leaves the results folder exactly as it was; the partly
executed notebook is kept beside it (``.<results>.failed/``) and the message says where.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from importlib import metadata
from pathlib import Path

import nbformat

from . import TrustlibError, contract, outputs, params, paths

KERNEL = "trustlib"
SYNTHESIZE = "00_synthesize_cohort"
# notebook -> the notebooks whose outputs it reads; the order is the reading order
STEPS = {
    "01_prepare_data": [],
    "02_describe_sample": ["01_prepare_data"],
    "03_model_culture_and_trust": ["01_prepare_data"],
    "04_figures": ["01_prepare_data", "03_model_culture_and_trust"],
    "05_scorecard": ["02_describe_sample", "03_model_culture_and_trust", "08_unselected_seeds"],
    "06_robustness": [],
    "07_simulation_check": ["01_prepare_data"],
    "08_unselected_seeds": [],
    "09_clinic_influence": ["01_prepare_data"],
}
ANALYSIS = list(STEPS)
# about the synthetic generator, not the data: a raw run leaves it out (05 then has no rates column)
SYNTHETIC_ONLY = {"08_unselected_seeds"}
# The longest (06, which reads only the data) runs beside all the others; those start as their
# inputs exist, the short ones early, so the run does not end waiting on one long notebook
PRIORITY = ["06_robustness", "01_prepare_data", "02_describe_sample", "07_simulation_check",
            "08_unselected_seeds", "03_model_culture_and_trust", "09_clinic_influence", "04_figures",
            "05_scorecard"]
KEY_PACKAGES = ["numpy", "scipy", "pandas", "statsmodels", "matplotlib", "seaborn", "pandera",
                "papermill", "nbval", "joblib"]
FINGERPRINT_VERSION = 1
# The models' matrices are small: multithreaded BLAS only adds overhead (a run took 50 s of CPU
# more with it). A run's parallelism is two notebooks at a time, plus joblib workers (n_jobs).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


INPUT_ERRORS = {"DataValidationError", "CohortError", "ModelInputError", "UsageError"}


class StepFailed(TrustlibError):
    """A notebook failed; the message names the step, the error and the partial notebook.
    ``bad_input`` is True when the notebook stopped on a problem with the data or parameters."""

    def __init__(self, message: str, bad_input: bool = False):
        super().__init__(message)
        self.bad_input = bad_input


class RunLocked(TrustlibError):
    """Another run is writing the same results folder."""


def install_kernel() -> Path:
    """Install the notebooks' kernel (``trustlib``) into this environment, quiet at start-up.

    The kernel runs this environment's Python; its log level is raised to CRITICAL so that
    ipykernel's notices (local TCP transport, a KeyboardInterrupt at shutdown) do not clutter runs.
    """
    from ipykernel import kernelspec

    folder = Path(kernelspec.install(kernel_name=KERNEL, display_name="Python 3 (trustlib)", prefix=sys.prefix))
    spec_file = folder / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["argv"] = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.log_level")]
    spec["argv"].append("--IPKernelApp.log_level=CRITICAL")
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")
    return folder


def run_parameters(source: str, params_file: Path | None = None, overrides: dict | None = None) -> dict:
    """Parameters injected into every notebook: the pipeline file, ``overrides``, ``data_source``."""
    p = params.pipeline_params(params_file)
    unknown = sorted(set(overrides or {}) - set(p))
    if unknown:
        raise params.ParameterError(f"unknown parameter(s) {unknown}; see {paths.relative(paths.PIPELINE_PARAMS)}")
    p.update(overrides or {})
    p["data_source"] = source
    bad = params.problems(p)
    if bad:
        raise params.ParameterError("parameters a run cannot use:\n  - " + "\n  - ".join(bad))
    return p


def notebook_parameters(name: str) -> dict:
    """The parameters a notebook declares in its ``parameters`` cell, with their defaults."""
    import papermill as pm

    return {k: v["default"] for k, v in pm.inspect_notebook(str(paths.notebook(name))).items()}


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


def _execute(name: str, output: Path, parameters: dict, cwd: Path | None = paths.NOTEBOOKS) -> None:
    """Execute one notebook with the parameters it declares (others are not injected), its kernel
    in ``cwd``. Papermill changes the process's working folder for that, which is not safe for
    notebooks executed side by side: those pass ``cwd=None`` inside one ``chdir`` of their own."""
    import papermill as pm

    declared = notebook_parameters(name)
    missing = [k for k in ("results_dir", "data_dir") if k in parameters and k not in declared]
    if missing:  # it would write outside the stage
        raise TrustlibError(f"notebooks/{name}.ipynb does not declare {missing} in its parameters cell")
    pm.execute_notebook(str(paths.notebook(name)), str(output),
                        parameters={k: v for k, v in parameters.items() if k in declared},
                        kernel_name=KERNEL, language="python", cwd=str(cwd) if cwd else None, progress_bar=False,
                        log_output=False, request_save_on_cell_execute=False)
    _strip_timings(output)


# -- what a run reads ---------------------------------------------------------------------------

def _sha(path: Path) -> str:
    return outputs.sha256(path) if path.is_file() else "missing"


def _code_digest(path: Path) -> str:
    """SHA-256 of a notebook's cell sources (its outputs do not change what a run computes)."""
    if path.suffix != ".ipynb":
        return _sha(path)
    nb = nbformat.read(path, as_version=4)
    return hashlib.sha256(json.dumps([c.source for c in nb.cells]).encode()).hexdigest()


def input_files(source: str) -> list[Path]:
    """Files whose bytes the run's results depend on (data as the column map names them)."""
    from . import contract

    return contract.input_files(paths.data_dir(source)) + [paths.CODEBOOK, paths.SCALES, paths.PUBLISHED]


def fingerprint(source: str, parameters: dict, names: list[str] | None = None) -> dict:
    """What a run reads, by content: data and reference files, code, the parameters, and which
    notebooks it runs (a partial run is never mistaken for a full one)."""
    code = sorted((paths.ROOT / "trustlib").glob("*.py")) + [paths.notebook(n) for n in ANALYSIS]
    return {"version": FINGERPRINT_VERSION, "notebooks": names or _with_inputs(ANALYSIS, source),
            "inputs": {paths.relative(p): _sha(p) for p in input_files(source)},
            "code": {paths.relative(p): _code_digest(p) for p in code},
            "parameters": parameters,
            "packages": {k: _version(k) for k in KEY_PACKAGES}}


def is_current(source: str, parameters: dict, results: Path | None = None) -> bool:
    """True when ``results/manifest.json`` records a full run of exactly this fingerprint and
    every output it lists is still there, unchanged."""
    results = results or paths.results_dir(source)
    try:
        man = json.loads((results / "manifest.json").read_text())
        if man.get("fingerprint") != fingerprint(source, parameters):
            return False
        listed = {**man["outputs"], **man["private_outputs"]}
        return all(_sha(results / f) == rec["sha256"] for f, rec in listed.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


# -- the transaction ------------------------------------------------------------------------------

def _target(source: str) -> Path:
    """The results folder itself (a symlinked results folder is followed, not replaced)."""
    return paths.results_dir(source).resolve()


def _hidden(target: Path, suffix: str) -> Path:
    return target.parent / f".{target.name}.{suffix}"


@contextlib.contextmanager
def _locked(target: Path):
    """Hold the results folder's lock for the block; refuse if another run holds it."""
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = _hidden(target, "lock")
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise RunLocked(f"another run (pid {holder}) is writing {paths.relative(target)}/; "
                            "wait for it to finish, then run again") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fresh_stage(target: Path) -> Path:
    """The run's stage ``.<results>.stage`` beside the results folder, emptied of anything a
    killed run left (called while holding the lock, so no other run is using it). Its name is
    fixed so that executed notebooks, which show it as ``results_dir``, are the same every run."""
    stage = _hidden(target, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    umask = os.umask(0)
    os.umask(umask)
    stage.mkdir(mode=0o777 & ~umask)
    return stage


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two folders (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_in(stage: Path, target: Path) -> None:
    """Make ``stage`` the results folder in one step; the old results are then deleted."""
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)      # the stage now holds the previous results
        return
    old = _hidden(target, f"old-{os.getpid()}")          # no atomic exchange: two renames
    os.rename(target, old)
    os.rename(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def _kill_children() -> None:
    """Stop the notebook kernels and their worker processes (on an interrupt)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()


def _reason(err: BaseException) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(err).__name__}: {err}"


def _execute_all(names: list[str], stage: Path, parameters: dict, target: Path, jobs: int) -> set[str]:
    """Execute ``names`` into ``stage``, each once its inputs exist, ``jobs`` at a time. Each
    notebook's report page is rendered as soon as it finishes, while the others run; returns
    the names rendered."""
    from . import report

    pending = [n for n in PRIORITY if n in names]
    done: set[str] = set()
    running: dict = {}
    (stage / "notebooks").mkdir(parents=True, exist_ok=True)
    started: dict[str, float] = {}
    with contextlib.chdir(paths.NOTEBOOKS), ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            while pending or running:
                for name in [n for n in pending if all(d in done or d not in names for d in STEPS[n])]:
                    if len(running) >= jobs:
                        break
                    pending.remove(name)
                    started[name] = time.perf_counter()
                    running[pool.submit(_execute, name, stage / "notebooks" / f"{name}.ipynb", parameters, None)] = name
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    name = running.pop(fut)
                    err = fut.exception()
                    if err is not None:
                        raise StepFailed(_failure(name, err, stage, target, parameters["data_source"]),
                                         bad_input=getattr(err, "ename", "") in INPUT_ERRORS)
                    done.add(name)
                    print(f"  {name} done ({time.perf_counter() - started[name]:.1f} s)", flush=True)
                    report.render_notebook(stage / "notebooks" / f"{name}.ipynb", stage / "report")
        except BaseException:
            for fut in running:
                fut.cancel()
            _kill_children()
            raise
    return done


def _failure(name: str, err: BaseException, stage: Path, target: Path, source: str) -> str:
    partial = stage / "notebooks" / f"{name}.ipynb"
    failed = _hidden(target, "failed") / f"{name}.ipynb"
    where = ""
    if partial.exists():
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(partial, failed)
        where = f"\n  partly executed notebook: {paths.relative(failed)}"
    return (f"step {name} failed ({source} data): {_reason(err)}{where}\n"
            f"  nothing of this run was kept; {paths.relative(target)}/ is unchanged")


def run(source: str = "synthetic", params_file: Path | None = None, overrides: dict | None = None,
        force: bool = False, jobs: int = 2, names: list[str] | None = None) -> Path:
    """Run the analysis as one transaction; return the results folder.

    Does nothing (and says so) when the results folder records a run of the same fingerprint,
    unless ``force``. ``names`` runs a subset (with the notebooks they read from) and still
    replaces the whole results folder, so it never mixes two runs.
    """
    parameters = run_parameters(source, params_file, overrides)
    target = _target(source)
    print_name = paths.relative(paths.results_dir(source))
    if not force and names is None and is_current(source, parameters, target):
        print(f"{print_name}/ is up to date (same data, code and parameters as its manifest.json)")
        return target
    for var in THREAD_VARIABLES:  # kernels inherit this: one BLAS thread each (see THREAD_VARIABLES)
        os.environ.setdefault(var, "1")
    wanted = _with_inputs(names or ANALYSIS, source)
    try:                                           # bad data stops here, before any kernel starts
        contract.load_folder(paths.data_dir(source))
    except contract.DataValidationError as err:
        raise StepFailed(f"{err}\nnothing was run: {print_name}/ is unchanged", bad_input=True) from None
    before = fingerprint(source, parameters, wanted)
    with _locked(target):
        stage = _fresh_stage(target)
        try:
            stage_parameters = {**parameters, "results_dir": os.path.relpath(stage, paths.NOTEBOOKS)}
            print(f"running {len(wanted)} notebooks ({source} data) into a stage; "
                  f"{print_name}/ changes only if all succeed", flush=True)
            rendered = _execute_all(wanted, stage, stage_parameters, target, jobs)
            _check_inputs_unchanged(stage, before, source)
            _finish(stage, source, parameters, before, wanted, rendered)
            _swap_in(stage, target)
            shutil.rmtree(_hidden(target, "failed"), ignore_errors=True)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
    return target


def sequential_order() -> list[str]:
    """The analysis notebooks in an order that runs each after those it reads from (for
    running them one by one, as strict nbval does)."""
    done: list[str] = []
    while len(done) < len(STEPS):
        done.append(next(n for n in ANALYSIS if n not in done and all(d in done for d in STEPS[n])))
    return done


def _with_inputs(names: list[str], source: str = "synthetic") -> list[str]:
    """``names`` and every notebook they read from, in reading order (for raw data, without
    the notebooks about the synthetic generator)."""
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise TrustlibError(f"unknown notebook(s) {unknown}; choose from {ANALYSIS}")
    skip = SYNTHETIC_ONLY if source == "raw" else set()
    wanted = set()
    todo = [n for n in names if n not in skip]
    while todo:
        n = todo.pop()
        if n not in wanted:
            wanted.add(n)
            todo += [d for d in STEPS[n] if d not in skip]
    return [n for n in ANALYSIS if n in wanted]


def _check_inputs_unchanged(stage: Path, before: dict, source: str) -> None:
    """The data files as read (hashed at read time) are the ones the run fingerprinted."""
    read_file = stage / "provenance" / "inputs.json"
    read = json.loads(read_file.read_text()) if read_file.exists() else {}
    changed = sorted(f for f, sha in read.items() if before["inputs"].get(f) != sha)
    if changed:
        raise StepFailed(f"the {source} extract changed while the run read it ({', '.join(changed)}); "
                         "nothing of this run was kept: run again once the files are in place", bad_input=True)


def _finish(stage: Path, source: str, parameters: dict, before: dict, names: list[str],
            rendered: set[str] = frozenset()) -> None:
    """Provenance with parameters, merged numbers, manifest, report and article, all inside the stage."""
    from . import report

    for name in names:
        prov = stage / "provenance" / f"{name}.json"
        rec = json.loads(prov.read_text()) if prov.exists() else {"notebook": f"notebooks/{name}.ipynb",
                                                                   "outputs": []}
        rec["outputs"] = sorted(set(rec["outputs"]) | {f"notebooks/{name}.ipynb"})
        rec["parameters"] = parameters
        outputs.atomic_write_text(prov, json.dumps(rec, indent=1, sort_keys=True) + "\n")
    outputs.merge_numbers(stage)
    (stage / ".numbers.lock").unlink(missing_ok=True)
    write_manifest(stage, source, before)
    report.build(stage, source, rendered)
    if names == _with_inputs(ANALYSIS, source):   # the article reports every notebook's numbers
        from . import article    # (it imports the models: a partial run does not need them)

        article.build(stage, source)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write_manifest(results: Path, source: str, fp: dict) -> Path:
    """``manifest.json``: every output's SHA-256 (paths relative to the results folder) with its
    notebook and parameters, shareable outputs under ``outputs`` and row-level ones (``private/``)
    under ``private_outputs``; the inputs as read, the run's fingerprint, git commit and dirty flag, Python and key package versions.
    Contains no time stamps."""
    outs, private = {}, {}
    for prov in sorted(results.joinpath("provenance").glob("*.json")):
        rec = json.loads(prov.read_text())
        if "notebook" not in rec:
            continue
        for f in rec["outputs"]:
            p = results / f
            if p.is_file():
                (private if f.startswith(f"{outputs.PRIVATE}/") else outs)[f] = {
                    "sha256": outputs.sha256(p), "notebook": rec["notebook"], "parameters": rec["parameters"]}
    merged = results / "numbers.json"
    if merged.is_file():
        outs["numbers.json"] = {"sha256": outputs.sha256(merged), "notebook": "merged from numbers/*.json"}
    status = _git("status", "--porcelain", "--untracked-files=no")
    manifest = {
        "data_source": source,
        "git": {"commit": _git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)},
        "python": platform.python_version(),
        "packages": fp["packages"],
        "inputs": fp["inputs"],
        "fingerprint": fp,
        "outputs": outs,
        "private_outputs": private,
    }
    return outputs.atomic_write_text(results / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")


@functools.lru_cache(maxsize=None)
def _version(name: str) -> str:
    """An installed package's version (looked up once per process)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# -- the synthetic cohort and the committed notebooks --------------------------------------------------

def _without_injected(src: Path, dst: Path) -> None:
    """Copy an executed notebook, dropping papermill's injected-parameters cell and metadata, so
    the committed notebook shows its own defaults (equal to params/pipeline.yml; tested)."""
    nb = nbformat.read(src, as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, dst)


def synthesize(overrides: dict | None = None) -> Path:
    """Run notebook 00 into a stage, then move the new cohort into data/synthetic/."""
    final = paths.synthetic_dir()
    stage = Path(tempfile.mkdtemp(prefix=".synthetic.stage-", dir=final.parent))
    try:
        try:
            _execute(SYNTHESIZE, stage / f"{SYNTHESIZE}.ipynb", {**(overrides or {}), "data_dir": str(stage)})
        except Exception as err:
            raise StepFailed(f"step {SYNTHESIZE} failed: {_reason(err)}; data/synthetic/ is unchanged") from None
        for f in sorted(stage.iterdir()):   # committed files: git shows and restores any partial move
            if f.suffix == ".csv" or f.name == "SHA256SUMS":
                os.replace(f, final / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final


def refresh_notebooks(source: str = "synthetic") -> list[Path]:
    """Make the committed notebooks carry the outputs of the canonical synthetic run.

    The analysis notebooks are copied from the run's executed notebooks (run first if not
    current; nothing is executed twice); notebook 00 is executed into a throw-away folder.
    Refuses raw data: committed notebooks must never carry outputs of the trial's data.
    """
    if source != "synthetic":
        raise TrustlibError("refusing to refresh committed notebooks from raw data: their outputs would "
                            "put trial data into git. Refresh with DATA=synthetic.")
    results = run("synthetic")
    written = []
    for name in ANALYSIS:
        _without_injected(results / "notebooks" / f"{name}.ipynb", paths.notebook(name))
        written.append(paths.notebook(name))
    with tempfile.TemporaryDirectory(prefix="trustlib-refresh-") as tmp:
        out = Path(tmp) / f"{SYNTHESIZE}.ipynb"
        _execute(SYNTHESIZE, out, {"data_dir": tmp})
        cohort_files = [p.name for p in paths.synthetic_dir().glob("*.csv")] + ["SHA256SUMS"]
        differ = [f for f in cohort_files if (Path(tmp) / f).read_bytes() != (paths.synthetic_dir() / f).read_bytes()]
        if differ:
            raise TrustlibError(f"notebook 00 no longer regenerates the committed cohort ({differ}); "
                                "run `make synthetic` first")
        _without_injected(out, paths.notebook(SYNTHESIZE))
        written.append(paths.notebook(SYNTHESIZE))
    return written

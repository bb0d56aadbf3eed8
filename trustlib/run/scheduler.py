"""Executing the steps of a run: each notebook with papermill, or its previous outputs carried.

Steps start as soon as the steps they read are done, ``jobs`` at a time, the long ones first
(:data:`PRIORITY`). A step whose fingerprint (:mod:`trustlib.run.fingerprint`) equals the one the
previous run recorded, with its outputs intact, is *carried*: its files are linked into the
stage instead of executing the notebook again. Each notebook's kernel runs in ``notebooks/``
(set per kernel, never by changing this process's working folder) with one BLAS thread (its
kernel spec says so: the models' matrices are small, and threads cost a run 50 s of CPU).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import nbformat

from .. import InputError, TrustlibError, paths, steps, store
from . import fingerprint

KERNEL = "trustlib"
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# the longest (06, which reads only the data) starts first; the short ones early beside it
PRIORITY = ["06_robustness", "01_prepare_data", "02_describe_sample", "07_simulation_check",
            "08_unselected_seeds", "03_model_culture_and_trust", "09_clinic_influence", "04_figures",
            "05_scorecard"]


class StepFailed(TrustlibError):
    """A notebook failed; the message names the step, the error and the partial notebook.
    ``bad_input`` is True when the notebook stopped on a problem with the data or parameters."""

    def __init__(self, message: str, bad_input: bool = False):
        super().__init__(message)
        self.bad_input = bad_input


def input_error_names() -> set[str]:
    """Class names of every :class:`trustlib.InputError` (an error inside a kernel reaches the
    runner as its class name)."""
    found, todo = set(), [InputError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


def kernel_spec() -> dict:
    """The kernel spec the notebooks name: this environment's Python, quiet at start-up (log level
    CRITICAL, so ipykernel's notices do not clutter runs), one BLAS thread."""
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict()
    spec["argv"] = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.log_level")]
    spec["argv"].append("--IPKernelApp.log_level=CRITICAL")
    spec["display_name"] = "Python 3 (trustlib)"
    spec["env"] = dict(KERNEL_ENV)
    return spec


def install_kernel() -> Path:
    """Install (or update) the notebooks' kernel ``trustlib`` into this environment."""
    from ipykernel import kernelspec

    folder = Path(kernelspec.install(kernel_name=KERNEL, display_name="Python 3 (trustlib)", prefix=sys.prefix))
    (folder / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    return folder


def ensure_kernel() -> None:
    """Reinstall the kernel when its spec is missing or older than :func:`kernel_spec`."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        current = spec.env == KERNEL_ENV and spec.argv[-1] == "--IPKernelApp.log_level=CRITICAL"
    except NoSuchKernel:
        current = False
    if not current:
        install_kernel()


def notebook_parameters(name: str) -> dict:
    """The parameters a notebook declares in its ``parameters`` cell, with their defaults (text)."""
    import papermill as pm

    return {k: v["default"] for k, v in pm.inspect_notebook(str(paths.notebook(name))).items()}


# seconds a kernel may take to answer once started: papermill's default, 60, was reached on a
# 2-core machine running two test suites at once; a kernel that has not answered in ten minutes is broken
KERNEL_START_TIMEOUT = 600


def execute(name: str, output: Path, parameters: dict, shown_results: str | None = None,
            why: str | None = None) -> None:
    """Execute notebook ``name`` into ``output`` with the parameters it declares (others are not
    injected), its kernel in ``notebooks/``. ``shown_results``: what the executed notebook shows
    as ``results_dir`` (the results folder the stage becomes); ``why``: the reason it runs again,
    said on its "executing" line."""
    import papermill as pm

    declared = fingerprint.parameters_of(name) if name in steps.STEPS else tuple(notebook_parameters(name))
    missing = [k for k in ("results_dir", "data_dir") if k in parameters and k not in declared]
    if missing:  # it would write outside the stage
        raise TrustlibError(f"notebooks/{name}.ipynb does not declare {missing} in its parameters cell")
    pm.execute_notebook(str(paths.notebook(name)), str(output),
                        parameters={k: v for k, v in parameters.items() if k in declared},
                        kernel_name=KERNEL, language="python", progress_bar=False, log_output=False,
                        start_timeout=KERNEL_START_TIMEOUT,
                        request_save_on_cell_execute=False, resources={"metadata": {"path": str(paths.NOTEBOOKS)}},
                        on_cell_execute=_announce(name, why))
    clean_executed(output, shown_results)


def _announce(name: str, why: str | None = None):
    """A hook that prints ``<name> executing`` (with ``(why)``) once, when the kernel has started
    and runs the first cell after the parameters: the event a watcher (or a test) can wait for."""
    said = []

    def hook(cell, cell_index):
        tags = cell.get("metadata", {}).get("tags", [])
        if not said and cell.get("cell_type") == "code" and "parameters" not in tags \
                and "injected-parameters" not in tags:
            said.append(True)
            print(f"  {name} executing" + (f" ({why})" if why else ""), flush=True)
    return hook


def clean_executed(path: Path, shown_results: str | None = None) -> None:
    """Make an executed notebook the same on every run and readable: drop execution times and
    papermill's paths, give the injected cell a fixed id and a heading; and for a notebook of a
    run (``shown_results`` given), show ``results_dir`` as the results folder the stage becomes
    and link the docs the report carries where they are in that folder (``../report/glossary.html``,
    :func:`trustlib.publish.report.relink_docs`)."""
    nb = nbformat.read(path, as_version=4)
    if shown_results is not None:
        from ..publish.report import relink_docs

        nb = relink_docs(nb, "results")
    pm = nb.metadata.get("papermill", {})
    if paths.is_real(pm.get("parameters", {}).get("data_source", "")) and not nb.cells[0].get("id") == "confidential":
        from ..publish.disclosure import CONFIDENTIAL

        banner = nbformat.v4.new_markdown_cell(f"**{CONFIDENTIAL}** Every count and group statistic below passed "
                                               "the disclosure control; share only after the data owner's review.")
        banner["id"] = "confidential"
        nb.cells.insert(0, banner)
    for key in ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables"):
        pm.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"      # papermill gives it a random id
            source = cell.source.replace("# Parameters\n", "# Parameters of this run (`python -m trustlib run`), "
                                                            "replacing the defaults above\n", 1)
            if shown_results is not None:
                source = re.sub(r'^results_dir = .*$', f'results_dir = "{shown_results}"  # written to a stage '
                                "first, moved here when every step had succeeded", source, flags=re.M)
            cell.source = source
    nbformat.write(nb, path)


def reason(err: BaseException) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(err).__name__}: {err}"


def carry(name: str, old: Path, stage: Path, page: bool = True) -> None:
    """Link (or copy) step ``name``'s files from the previous results ``old`` into ``stage``, its
    report page too unless ``page`` is False (the finish renders the pages a stage lacks)."""
    record = json.loads((old / "provenance" / f"{name}.json").read_text())
    for f in record["outputs"] + [f"provenance/{name}.json"] + ([f"report/{name}.html"] if page else []):
        src, dst = old / f, stage / f
        if not src.is_file():
            continue
        store.make_folder(dst.parent)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _children() -> set:
    """The processes below this one (children, grandchildren, ...)."""
    import psutil

    return set(psutil.Process().children(recursive=True))


def _kill_children(spare: set = frozenset()) -> None:
    """Stop the notebook kernels and their worker processes (on an interrupt or a failure): every
    process below this one except those in ``spare``, the ones that were there before the run
    started (a caller's own workers, when the runner is called from Python rather than as
    ``python -m trustlib``; psutil identifies a process by its id and start time, so a reused id
    is not spared)."""
    import psutil

    for child in _children() - set(spare):
        with contextlib.suppress(psutil.Error):
            child.kill()


class Plan:
    """Decides, step by step, whether to execute or carry (``carriable(name, stage)``), and does it."""

    def __init__(self, names, stage: Path, parameters: dict, project: paths.RunPaths, previous: dict | None,
                 force: bool, shown_results: str):
        self.names, self.stage, self.parameters, self.project = names, stage, parameters, project
        self.previous = (previous or {}).get("steps", {}) if not force else {}
        # a carried step keeps its report page only if what the page depends on is the same
        self.finish_before = (previous or {}).get("finish") or {}
        self.same_pages = fingerprint.pages(self.finish_before) == fingerprint.pages(fingerprint.finish(parameters))
        self.data = fingerprint.data_files(project)
        self.shown_results = shown_results
        self.fingerprints: dict[str, dict] = {}
        self.carried: set[str] = set()
        self.why: dict[str, str] = {}      # why a step of a previous run executes again, in words

    def carriable(self, name: str) -> bool:
        fp = fingerprint.step(name, self.parameters, self.project, self.stage, self.data)
        self.fingerprints[name] = fp
        if not self.previous:            # no previous run (or forced): nothing to say why
            return False
        old = self.previous.get(name)
        if not old:
            self.why[name] = "not in the previous run"
        elif old.get("fingerprint") != fp:
            self.why[name] = fingerprint.changes(old.get("fingerprint") or {}, fp)
        elif not all(fingerprint.sha(self.project.results / f) == h for f, h in old.get("files", {}).items()):
            self.why[name] = "its previous outputs were changed or removed"
        return name not in self.why

    def do(self, name: str) -> str:
        """Carry or execute ``name``; returns what was done."""
        if self.carriable(name):
            carry(name, self.project.results, self.stage, page=self.same_pages)
            self.carried.add(name)
            return "carried"
        execute(name, self.stage / "notebooks" / f"{name}.ipynb",
                {**self.parameters, "results_dir": os.path.relpath(self.stage, paths.NOTEBOOKS)}, self.shown_results,
                self.why.get(name))
        prov = self.stage / "provenance" / f"{name}.json"
        record = json.loads(prov.read_text()) if prov.exists() else {"notebook": f"notebooks/{name}.ipynb",
                                                                     "outputs": []}
        record["outputs"] = sorted(set(record["outputs"]) | {f"notebooks/{name}.ipynb"})
        store.atomic_write_text(prov, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return "executed"


def run_steps(plan: Plan, jobs: int, on_failure) -> set[str]:
    """Run ``plan.names``, each once the steps it reads are done, ``jobs`` at a time; render each
    executed notebook's report page as it finishes, on a thread of its own (so that the next step
    starts at once rather than after the rendering). ``on_failure(name, err)`` builds the
    :class:`StepFailed` to raise. On a failure or an interrupt, the processes the run started
    (kernels and their workers) are stopped, and only those, with papermill's log quiet while the
    threads find their kernels gone (nbclient's "Kernel died while waiting for execute reply"
    would read as a crash). Returns the names whose report page this run rendered."""
    from ..publish import report

    names = plan.names
    pending = [n for n in PRIORITY if n in names] + [n for n in names if n not in PRIORITY]
    done: set[str] = set()
    renders: dict = {}
    running: dict = {}
    started: dict[str, float] = {}
    (plan.stage / "notebooks").mkdir(parents=True, exist_ok=True)
    before, log = _children(), logging.getLogger("papermill")
    quiet = log.disabled
    pool, renderer = ThreadPoolExecutor(max_workers=jobs), ThreadPoolExecutor(max_workers=1)
    stopped = False
    try:
        try:
            while pending or running:
                for name in [n for n in pending if all(d in done or d not in names for d in steps.get(n).reads)]:
                    if len(running) >= jobs:
                        break
                    pending.remove(name)
                    started[name] = time.perf_counter()
                    running[pool.submit(plan.do, name)] = name
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    name = running.pop(fut)
                    err = fut.exception()
                    if isinstance(err, BrokenPipeError):   # the run's output was closed: not the step's failure
                        raise err
                    if err is not None:
                        raise on_failure(name, err)
                    done.add(name)
                    how = fut.result()
                    print(f"  {name} done ({time.perf_counter() - started[name]:.1f} s)" if how == "executed"
                          else f"  {name} unchanged (carried)", flush=True)
                    if how == "executed":
                        renders[name] = renderer.submit(report.render_notebook, plan.stage / "notebooks"
                                                        / f"{name}.ipynb", plan.stage / "report", plan.project.source)
            for fut in renders.values():
                fut.result()
        except BaseException:
            stopped = True
            for fut in [*running, *renders.values()]:
                fut.cancel()
            log.disabled = True
            _kill_children(spare=before)
            raise
    finally:
        # On a failure or an interrupt the kernels are gone: their threads only have to notice, which
        # nbclient does seconds later. The run does not wait for them (Ctrl-C takes effect at once;
        # papermill will not write into a stage that is gone), and papermill's log stays quiet until
        # the last of them has ended. A report page being rendered is a fraction of a second: waited
        # for, so that it cannot write into the stage once the run has removed it.
        pool.shutdown(wait=not stopped, cancel_futures=stopped)
        renderer.shutdown(wait=True, cancel_futures=stopped)
        if stopped:
            left = list(running)
            threading.Thread(target=lambda: (wait(left), setattr(log, "disabled", quiet)), daemon=True).start()
        else:
            log.disabled = quiet
    return set(renders)

"""Raw runs on an extract in Stata, SPSS and Excel formats give the same tables as the CSV
cohort; interrupting a later run (SIGINT in notebook 06, SIGKILL in 03) leaves those
results exactly as they were, leaves no kernel or worker behind, and the next run succeeds
(acceptance: runs the pipeline in a sandbox, :mod:`sandbox`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import RAW_ENV, cli as _cli, sandbox, snapshot as _snapshot  # noqa: F401 (fixture)
from test_formats import write
from trustlib import paths, pipeline

# one worker runs this file (its tests share one sandbox): `make test` distributes with --dist loadgroup
pytestmark = pytest.mark.xdist_group("interrupts")


@pytest.fixture(scope="module")
def raw_run(sandbox):
    """A completed raw run on the cohort as .xlsx (clinics), .dta (clinicians), .sav (patients)."""
    raw = sandbox / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for table, fmt in zip(paths.TABLES, ("xlsx", "dta", "sav")):
        write(raw, table, fmt)
    run = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=sandbox, env=RAW_ENV)
    assert run.returncode == 0, run.stderr
    return sandbox


@pytest.mark.parametrize("output", ["private/analysis_table.csv", "private/clinicians_scored.csv"])
def test_stata_spss_and_excel_extracts_give_the_same_tables(raw_run, output):
    """The cohort as .xlsx, .dta and .sav gives byte-identical outputs to the synthetic CSV run.
    Reading is notebook 01's step, so its outputs are compared; every later notebook reads them
    (that a raw CSV extract reproduces Table 2 itself is in test_pipeline.py)."""
    synthetic = paths.result("synthetic", output)
    if not synthetic.exists():
        pytest.fail(f"{paths.relative(synthetic)} missing: run `make all` before the tests")
    assert (raw_run / "results_raw" / output).read_bytes() == synthetic.read_bytes()


def _sandbox_processes(root: Path) -> list:
    """Processes (kernels, workers) whose working folder is inside the sandbox."""
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if Path(p.cwd()).is_relative_to(root) and p.pid != os.getpid():
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


def _kernels(root: Path) -> dict:
    """The sandbox's notebook kernels: pid -> CPU seconds used so far."""
    import psutil

    found = {}
    for p in _sandbox_processes(root):
        try:
            if "ipykernel_launcher" in " ".join(p.cmdline()):
                t = p.cpu_times()
                found[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return found


# Each signal once, each in the case that tests it hardest: SIGINT is handled by the runner, which
# must stop its kernel and remove the stage (during 06, the first notebook); SIGKILL ends the runner
# unwarned, after notebook 01 has completed into the stage, which the next run must clear.
@pytest.mark.parametrize("sig, during", [(signal.SIGINT, "06_robustness"),
                                         (signal.SIGKILL, "03_model_culture_and_trust")],
                         ids=["SIGINT-06_robustness", "SIGKILL-03_model_culture_and_trust"])
def test_an_interrupted_run_keeps_the_previous_results(raw_run, sig, during):
    """Interrupt a run while ``during`` executes: results_raw/ is the complete previous run, no
    kernel or worker survives, and (after SIGKILL) the next run succeeds."""
    before = _snapshot(raw_run / "results_raw")
    env = {**os.environ, **RAW_ENV, "PYTHONPATH": str(raw_run)}
    proc = subprocess.Popen([sys.executable, "-m", "trustlib", "run", "--data", "raw", "--only", during],
                            cwd=raw_run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    stage = raw_run / ".results_raw.stage"
    ready = [stage / "provenance" / f"{n}.json" for n in pipeline.STEPS[during]]   # what `during` reads
    while not (stage.is_dir() and all(p.exists() for p in ready)):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    earlier = set(_kernels(raw_run))          # the kernel of a notebook `during` reads may still be closing
    # `during`'s kernel has used a second of CPU: past its start (about 0.3 s), executing the notebook
    while not any(cpu >= 1.0 for pid, cpu in _kernels(raw_run).items() if pid not in earlier):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.2)                      # listing processes costs CPU the run needs
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert "interrupted" in err and "Traceback" not in err
    assert _snapshot(raw_run / "results_raw") == before
    deadline = time.monotonic() + 15
    while _sandbox_processes(raw_run) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _sandbox_processes(raw_run), "a kernel or worker outlived the interrupted run"
    if sig != signal.SIGKILL:
        return  # the rerun (below, after the harshest case: SIGKILL mid-model) shows the next run succeeds
    rerun = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=raw_run, env=RAW_ENV)
    assert rerun.returncode == 0, rerun.stderr
    assert not (raw_run / ".results_raw.stage").exists(), "the next run did not clear the killed run's stage"
    after = _snapshot(raw_run / "results_raw")
    assert after["private/analysis_table.csv"] == before["private/analysis_table.csv"]  # same data: the same cohort

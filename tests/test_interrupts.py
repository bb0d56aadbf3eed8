"""Raw runs on an extract in Stata, SPSS and Excel formats give the same tables as the CSV
cohort; interrupting a later run (SIGINT in notebook 06, SIGKILL in 03) leaves those
results exactly as they were, leaves no kernel or worker behind, and the next run succeeds
(acceptance: runs the pipeline in a sandbox, :mod:`sandbox`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbox import cli as _cli, sandbox, snapshot as _snapshot  # noqa: F401 (fixture)
from test_formats import write
from trustlib import paths

CEILING = 600        # seconds: a ceiling for a loaded machine, never a timing

# one worker runs this file (its tests share one sandbox): `make test` distributes with --dist loadgroup
pytestmark = pytest.mark.xdist_group("interrupts")


@pytest.fixture(scope="module")
def raw_run(sandbox):
    """A completed raw run on the cohort as .xlsx (clinics), .dta (clinicians), .sav (patients)."""
    raw = sandbox / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for table, fmt in zip(paths.TABLES, ("xlsx", "dta", "sav")):
        write(raw, table, fmt)
    run = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=sandbox)
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


@pytest.fixture
def sigint_as_from_a_terminal():
    """Start the run with SIGINT at its default, as a terminal's shell would. A shell without job
    control starts a background command (``make test &`` in a script, ``nohup ... &``) with SIGINT
    ignored; every process below it inherits that, the run included, and a SIGINT sent to it
    would be ignored: the test would fail for its environment, not for the runner. A Python
    handler here is reset to the default in the child; only "ignored" is inherited."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


class Watcher:
    """Reads a run's output line by line in a thread; :meth:`wait_for` blocks until a line holds
    a text (an event the runner prints), or the generous ceiling passes."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._done = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def wait_for(self, text: str, ceiling: float = CEILING) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._done or any(text in line for line in self.lines), ceiling) \
                and any(text in line for line in self.lines)


# Each signal once, each in the case that tests it hardest: SIGINT is handled by the runner, which
# must stop its kernel and remove the stage (during 06, the first notebook); SIGKILL ends the runner
# unwarned, after notebook 01 has completed into the stage, which the next run must clear. The test
# waits for events (the runner prints "<notebook> executing" once its kernel runs the notebook's
# first cell), never for fixed times; ceilings are generous, for a loaded machine.
@pytest.mark.parametrize("sig, during", [(signal.SIGINT, "06_robustness"),
                                         (signal.SIGKILL, "03_model_culture_and_trust")],
                         ids=["SIGINT-06_robustness", "SIGKILL-03_model_culture_and_trust"])
def test_an_interrupted_run_keeps_the_previous_results(raw_run, sig, during, sigint_as_from_a_terminal, tmp_path):
    """Interrupt a run while ``during`` executes: results_raw/ is the complete previous run, no
    kernel or worker survives, and (after SIGKILL) the next run succeeds."""
    before = _snapshot(raw_run / "results_raw")
    # TMPDIR: a killed run cannot remove its kernels' connection files; they stay in the test's folder
    env = {**os.environ, "PYTHONPATH": str(raw_run), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "trustlib", "run", "--data", "raw", "--force", "--only", during],
                            cwd=raw_run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = Watcher(proc.stdout)
    assert watcher.wait_for(f"{during} executing"), "the run ended before it could be interrupted:\n" + \
        "".join(watcher.lines)
    proc.send_signal(sig)
    err = proc.stderr.read()
    assert proc.wait(timeout=CEILING) != 0
    if sig == signal.SIGINT:
        assert "interrupted" in err and "Traceback" not in err and "Kernel died" not in err, err
    assert _snapshot(raw_run / "results_raw") == before
    _wait_until(lambda: not _sandbox_processes(raw_run))
    assert not _sandbox_processes(raw_run), "a kernel or worker outlived the interrupted run"
    if sig != signal.SIGKILL:
        return  # the rerun (below, after the harshest case: SIGKILL mid-model) shows the next run succeeds
    rerun = _cli("run", "--data", "raw", "--only", "01_prepare_data", root=raw_run)
    assert rerun.returncode == 0, rerun.stderr
    assert not (raw_run / ".results_raw.stage").exists(), "the next run did not clear the killed run's stage"
    after = _snapshot(raw_run / "results_raw")
    assert after["private/analysis_table.csv"] == before["private/analysis_table.csv"]  # same data: the same cohort


@pytest.mark.parametrize("sig, when", [(signal.SIGTERM, "into a stage"), (signal.SIGHUP, "06_robustness executing")],
                         ids=["SIGTERM-at-the-stage's-first-moment", "SIGHUP-mid-run"])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(raw_run, sig, when, tmp_path):
    """What `timeout`, `docker stop`, a batch scheduler (SIGTERM) and a closed terminal (SIGHUP)
    send: the kernels are stopped, the stage removed, one line said, and the status is 128 + the
    signal, as a shell reports a command its signal ended; results_raw/ is as it was."""
    before = _snapshot(raw_run / "results_raw")
    env = {**os.environ, "PYTHONPATH": str(raw_run), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "trustlib", "run", "--data", "raw", "--force", "--only",
                             "06_robustness"], cwd=raw_run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    watcher = Watcher(proc.stdout)
    assert watcher.wait_for(when), "the run ended before it could be stopped:\n" + "".join(watcher.lines)
    proc.send_signal(sig)
    err = proc.stderr.read()
    assert proc.wait(timeout=CEILING) == 128 + sig
    assert err.strip() == f"interrupted ({signal.Signals(sig).name}): nothing of this run was kept", err
    assert _snapshot(raw_run / "results_raw") == before
    assert not (raw_run / ".results_raw.stage").exists()
    _wait_until(lambda: not _sandbox_processes(raw_run))
    assert not _sandbox_processes(raw_run), "a kernel or worker outlived the stopped run"


def test_a_signal_once_the_results_are_swapped_in_says_they_are_kept(raw_run, tmp_path):
    """A signal that arrives while the new results are being swapped in is held until the exchange
    is made and recorded: the run then says that results_raw/ holds it (never "nothing was kept"),
    and leaves no stage."""
    script = ("import os, signal\n"
              "from trustlib.run import transaction\n"
              "real = transaction.swap_in\n"
              "def swap_in(*args):\n"
              "    os.kill(os.getpid(), signal.SIGTERM)   # arrives inside the held block\n"
              "    real(*args)\n"
              "transaction.swap_in = swap_in\n"
              "transaction.handle_stop_signals()\n"
              "from trustlib.run.cli import leave, main\n"
              "leave(main(['run', '--data', 'raw', '--force', '--only', '01_prepare_data']))\n")
    env = {**os.environ, "PYTHONPATH": str(raw_run), "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], cwd=raw_run, env=env, capture_output=True, text=True,
                         timeout=CEILING)
    assert run.returncode == 143, run.stderr
    assert run.stderr.strip() == ("interrupted (SIGTERM) once the run had finished: results_raw/ holds this run's "
                                  "results"), run.stderr
    manifest = (raw_run / "results_raw" / "manifest.json").read_text()
    assert '"01_prepare_data"' in manifest and '"06_robustness"' not in manifest.split('"notebooks"')[1][:200]
    assert not (raw_run / ".results_raw.stage").exists()


def _wait_until(condition, ceiling: float = CEILING) -> None:
    """Wait for ``condition`` (polled: the processes of the sandbox are not an event we can
    subscribe to), up to the ceiling."""
    deadline = time.monotonic() + ceiling
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_failed_run_stops_the_processes_it_started_and_no_other(tmp_path):
    """A step that fails stops the kernels and workers the run started; a process that was there
    before (a caller's own worker, when the runner is called from Python) is left running."""
    from trustlib.run import scheduler

    echo = "import sys\nfor line in sys.stdin:\n    print(line, end='', flush=True)"
    before = subprocess.Popen([sys.executable, "-c", echo], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started = []

    class Plan:
        names, stage = ["01_prepare_data"], tmp_path

        def do(self, name):
            started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"]))
            raise RuntimeError("the step failed")

    try:
        with pytest.raises(RuntimeError, match="reported"):
            scheduler.run_steps(Plan(), 1, lambda name, err: RuntimeError(f"reported: {err}"))
        assert started[0].wait(timeout=CEILING) == -signal.SIGKILL
        # alive if it answers (a process sent SIGKILL runs no more code: its pipe would close)
        try:
            before.stdin.write("still here?\n")
            before.stdin.flush()
            answer = before.stdout.readline()
        except BrokenPipeError:
            answer = ""
        assert answer == "still here?\n", "a process the run did not start was stopped"
    finally:
        before.kill()
        before.wait()


def test_a_failed_run_does_not_log_the_kernels_it_stops_as_dead(tmp_path, caplog):
    """When one step fails, the run stops the other step's kernel; nbclient then logs "Kernel
    died while waiting for execute reply", which would read as a second failure. The run keeps
    papermill's log quiet while it stops, and until the stopped step's thread has ended (the run
    does not wait for it: an interrupt takes effect at once), and only then."""
    import logging

    from trustlib.run import scheduler

    kernel_started, stopped_step_ended = threading.Event(), threading.Event()

    class Plan:
        names, stage = ["01_prepare_data", "06_robustness"], tmp_path

        def do(self, name):
            if name == "06_robustness":          # the step whose kernel is stopped
                try:
                    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
                    kernel_started.set()
                    kernel.wait(timeout=CEILING)
                    logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
                    raise RuntimeError("Kernel died")
                finally:
                    stopped_step_ended.set()
            assert kernel_started.wait(timeout=CEILING)
            raise RuntimeError("the step failed")

    with caplog.at_level(logging.INFO, logger="papermill"):
        with pytest.raises(RuntimeError, match="reported: the step failed"):
            scheduler.run_steps(Plan(), 2, lambda name, err: RuntimeError(f"reported: {err}"))
        assert stopped_step_ended.wait(timeout=CEILING)
        _wait_until(lambda: not logging.getLogger("papermill").disabled)
        assert not [r for r in caplog.records if r.name == "papermill"]
        logging.getLogger("papermill").error("after the run")
        assert [r.getMessage() for r in caplog.records if r.name == "papermill"] == ["after the run"]

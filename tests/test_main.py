"""The command line's way out (``python -m trustlib``): its status and all its output, without
the interpreter's teardown of the loaded libraries."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from trustlib import paths


def test_a_command_leaves_with_its_status_and_every_byte_it_printed():
    code = ("import sys\nfrom trustlib.run.cli import leave\n"
            "print('x' * 200_000)\nprint('the end', end='')\nprint('last words', file=sys.stderr, end='')\nleave(3)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}     # buffered, as a pipe usually is
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.ROOT, env=env)
    assert done.returncode == 3
    assert done.stdout == "x" * 200_000 + "\nthe end" and done.stderr == "last words"


def test_a_command_run_from_the_shell_prints_all_it_says_into_a_pipe():
    done = subprocess.run([sys.executable, "-m", "trustlib", "validate", "data/synthetic"],
                          capture_output=True, text=True, cwd=paths.ROOT)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("data/synthetic: valid (") and done.stdout.endswith("can be applied\n")


def test_verify_without_results_names_the_make_command_of_its_data(tmp_path, capsys):
    from trustlib.run.cli import main

    assert main(["verify", "--data", "raw"], root=tmp_path) == 1
    assert "results_raw/scorecard.csv not found; run `make all DATA=raw` first" in capsys.readouterr().err
    assert main(["verify"], root=tmp_path) == 1
    assert "results/scorecard.csv not found; run `make all` first" in capsys.readouterr().err


def test_a_closed_output_stops_a_command_with_the_shells_status_and_says_so(monkeypatch, capsys):
    """``| head`` closes the pipe: the command stops as a shell's writer would (status 141, 128 +
    SIGPIPE) and says why, not "error: Broken pipe" with a bad-input status."""
    from trustlib.run.cli import main

    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["validate", "data/synthetic"], root=paths.ROOT) == 141
    assert capsys.readouterr().err == ("stopped: the output was closed before the command finished (a run stopped "
                                       "this way leaves its results folder as it was)\n")


def test_a_closed_output_while_notebooks_run_is_not_a_failed_step(tmp_path):
    """The "executing" line is printed from the thread that runs the notebook: a closed output
    there stops the run as a closed output (status 141), not as that step's failure."""
    from trustlib.run import scheduler
    from trustlib.run.cli import message

    class Plan:
        names, stage = ["01_prepare_data"], tmp_path

        def do(self, name):
            raise BrokenPipeError(32, "Broken pipe")

    def failed(name, err):
        return AssertionError(f"reported as a failure of {name}")

    try:
        scheduler.run_steps(Plan(), 1, failed)
    except BrokenPipeError as err:
        assert message(err)[0] == 141
    else:
        raise AssertionError("the closed output was not reported")


@pytest.mark.acceptance
def test_a_run_ends_naming_its_report_article_and_the_scorecard_line(capsys):
    """`make all` (here: up to date, so nothing executes) ends with where to read the run and the
    scorecard in one line, the line the README shows for the canonical run."""
    from trustlib import store
    from trustlib.stats import scorecard
    from trustlib.run.cli import main

    if not paths.result("synthetic", "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    assert main(["run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    card = store.read_table(paths.result("synthetic", "scorecard.csv"))
    assert lines[-2:] == ["report: results/report/index.html; article: results/article/article.pdf",
                          f"scorecard: {scorecard.summary(card)}"]

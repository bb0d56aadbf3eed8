"""Every command the README, docs/, CONTRIBUTING and data/raw/README.md show, in their fenced
``bash`` blocks or as an inline command (`make ...`, `.venv/bin/...`, `python -m trustlib ...`),
and every target `make help` lists (for the synthetic cohort, and those the real-data steps use with ``DATA=raw``),
runs in a sandbox: a copy of the repository with the canonical run's `results/`, the cohort as a
messy extract in `data/raw/` with a copy of those results as `results_raw/`, and the environment
linked. Each distinct command runs once.

How each is exercised (and so what "runs" means here):

* **as written**, and must exit 0 with no traceback, printing what :data:`SAYS` expects: most;
* **pipeline runs plan but do not execute** their steps: ``TRUSTLIB_DRY_RUN=1`` makes every
  ``run`` make all its checks (parameters, permissions, the extract, the cohort rules) and say
  which steps it would execute or carry, then stop: a documented run proves it parses, validates
  and plans, in seconds (a real raw run of the cohort, and `make verify` on it, are in
  test_pipeline.py);
* **collected, not run**: a pytest command line (``--collect-only`` on this repository);
* **resolved, not run** (``make -n``): the targets that start the test suite (`test`, `slow`, `unit`,
  `acceptance`, `nbval`: CI runs `make test` and `make slow` itself), install from the network (`lock`, `lab`),
  need R's packages and the network (`reference`), or time the machine for minutes (`bench`);
* **heavy arguments made light**, as :data:`LIGHTER` lists: the Monte Carlo script with 2
  replicates on 1 core, the papermill recipe in the sandbox's own scratch folder, waiting for
  its kernel as long as the runner does (papermill's 60 s passed on a loaded machine);
* **destructive targets** (`clean`, `distclean`, `make clean all`) on a copy of their own;
* **commands the documents say fail** (:data:`FAILS`) must fail as they say: `make notebooks
  DATA=raw` refuses.

The sandbox has no scratch folder: a recipe that writes into one must make it, as a user's
machine has none either.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from sandbox import copy_repository, link_environment, make_small, write_raw_extract
from trustlib import paths
from trustlib.run import scheduler

pytestmark = pytest.mark.xdist_group("documented")
DOCUMENTS = ["README.md", "CONTRIBUTING.md", "data/raw/README.md",
             *sorted(p.relative_to(paths.ROOT).as_posix() for p in (paths.ROOT / "docs").glob("*.md"))]
INLINE = re.compile(r"`((?:make |\.venv/bin/|python -m trustlib )[^`]*)`")   # a command written inline
FAILS = {"make notebooks DATA=raw": (1, "refusing to refresh committed notebooks from raw data")}
RESOLVED_ONLY = {"test", "slow", "unit", "acceptance", "nbval", "lock", "lab", "reference", "bench"}
DESTRUCTIVE = {"clean", "distclean"}
PIPELINE = ["validate", "all", "verify"]    # the targets the real-data steps use with DATA=raw
LIGHTER = {r"scripts/monte_carlo\.py 200 2": "scripts/monte_carlo.py 2 1",
           r"WITH=(\.\./other-clone/results|<folder>)": "WITH=results_raw"}      # the sandbox's second run: a copy
SAYS = {"make validate DATA=raw": "valid (34 clinics, 165 clinicians, 1132 patients)",
        "make verify": "scorecard: 28 of 28 compared checks pass", "make help": "make lab",
        "make all": "dry run: checks passed; would execute", "make article": "article.pdf",
        "make synthetic": "synthetic cohort written to data/synthetic/",
        "make notebooks": "refreshed notebooks/00_synthesize_cohort.ipynb"}


def _documented() -> dict[str, str]:
    """command -> the document that shows it, for every line of every fenced bash block, then
    every command written inline."""
    found = {}
    for doc in DOCUMENTS:
        text = (paths.ROOT / doc).read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                if command and not command.startswith("#"):
                    found.setdefault(command, doc)
    for doc in DOCUMENTS:
        for command in INLINE.findall(re.sub(r"```.*?```", "", (paths.ROOT / doc).read_text(), flags=re.S)):
            found.setdefault(" ".join(command.split()), f"{doc} (inline)")
    return found


def _help_targets() -> list[str]:
    out = subprocess.run(["make", "help"], cwd=paths.ROOT, capture_output=True, text=True, check=True).stdout
    return re.findall(r"^  make (\S+)", out, flags=re.M)


def commands() -> dict[str, str]:
    """Every distinct command to run, with where it comes from: the documents' commands in their
    order (a recipe's steps run in turn), then the targets they do not show."""
    found = _documented()
    for command, where in [(f"make {t}", "make help") for t in _help_targets()] + \
            [(f"make {t} DATA=raw", "make help (DATA=raw)") for t in PIPELINE]:
        found.setdefault(command, where)
    return found


def _target(command: str) -> str | None:
    m = re.match(r"make (\w+)", command)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """The sandbox: code, notebooks, data, the small grid, the run's results (also as results_rehearsal/ and
    results_raw/), a messy extract in data/raw/, the Makefile, scripts and docs, the R scripts,
    and the environment (linked)."""
    if not paths.result("synthetic", "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    root = make_small(copy_repository(tmp_path_factory.mktemp("documented")))
    write_raw_extract(root / "data" / "raw")
    for name in ("results", "results_raw", "results_rehearsal"):
        shutil.copytree(paths.results_dir("synthetic"), root / name, symlinks=True)
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-lab.lock", "README.md"):
        shutil.copy2(paths.ROOT / name, root / name)
    for folder in ("scripts", "docs", "tests/reference"):
        shutil.copytree(paths.ROOT / folder, root / folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return link_environment(root)


def run(box, command: str) -> subprocess.CompletedProcess:
    for heavy, light in LIGHTER.items():
        command = re.sub(heavy, light, command)
    command = command.replace("/tmp/trustlib-scratch", str(box / "scratch"))
    if command.startswith(".venv/bin/papermill "):     # wait for the kernel as the runner does, loaded machine or not
        command += f" --start-timeout {scheduler.KERNEL_START_TIMEOUT}"
    if _target(command) in RESOLVED_ONLY:
        command = command.replace("make ", "make -n ", 1)
    env = {**os.environ, "PYTHONPATH": str(box), "TRUSTLIB_DRY_RUN": "1"}
    if re.match(r"\.venv/bin/python -m pytest ", command):   # the suite itself (CI runs it): collected, here, not run
        env.pop("PYTHONPATH")
        return subprocess.run(["bash", "-c", f"{command} --collect-only -q"], cwd=paths.ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
    return subprocess.run(["bash", "-c", command], cwd=box, env=env, capture_output=True, text=True, timeout=900)


def _check(result: subprocess.CompletedProcess, command: str) -> None:
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("command", [c for c in commands() if _target(c) not in DESTRUCTIVE],
                         ids=lambda c: f"{commands()[c]}: {c}")
def test_every_documented_command_and_make_target_runs(box, command):
    if command.startswith("Rscript") and shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed (the command needs R with lme4)")
    result = run(box, command)
    if command in FAILS:
        code, says = FAILS[command]
        assert result.returncode in (code, 2) and says in result.stderr and "Traceback" not in result.stderr, \
            result.stderr
        return
    _check(result, command)
    if not command.startswith("mkdir "):            # a silent shell step of a recipe
        assert (result.stdout + result.stderr).strip(), f"`{command}` printed nothing"
    if command in SAYS:
        assert SAYS[command] in result.stdout, result.stdout


def test_the_documents_show_the_two_commands_and_the_real_data_steps():
    shown = _documented()
    assert {"make all", "make test", "make lab"} <= set(shown)
    assert {"make validate DATA=raw", "make all DATA=raw", "make verify DATA=raw"} <= set(shown)


@pytest.mark.parametrize("target", sorted(DESTRUCTIVE))
def test_destructive_targets(box, tmp_path, target):
    copy = tmp_path / "copy"
    shutil.copytree(box, copy, symlinks=True)
    result = run(copy, f"make {target}")
    _check(result, f"make {target}")
    assert not (copy / "results").exists() and (copy / "results_raw" / "manifest.json").exists()
    assert (copy / ".venv").exists() == (target != "distclean")
    assert (paths.ROOT / ".venv").exists()                     # the link went, not the environment
    raw = run(copy, "make clean DATA=raw")
    _check(raw, "make clean DATA=raw")
    if target == "clean":                         # the full reproduction performance.md times (a dry run here)
        again = run(copy, "make clean all")
        _check(again, "make clean all")
        assert "would execute" in again.stdout
    assert not (copy / "results_raw").exists() and (copy / "data" / "raw").exists()

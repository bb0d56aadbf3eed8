"""Every command the README and docs/ show in their fenced ``bash`` blocks, and every target
`make help` lists, runs in a sandbox: a copy of the repository with the canonical run's
`results/`, the complete raw run's `data/raw/` (a generated extract) and `results_raw/`, and the
small robustness grid and Monte Carlo (:func:`sandbox.make_small`).

How each is exercised (and so what "runs" means here):

* **as written**, and must exit 0 with no traceback: most commands;
* **pipeline runs plan but do not execute** their steps: ``TRUSTLIB_DRY_RUN=1`` makes every
  ``run`` make all its checks (parameters, permissions, the extract, the cohort rules) and say
  which steps it would execute or carry, then stop; a documented run that would execute steps
  so proves it parses, validates and plans, in seconds;
* **resolved, not run** (``make -n``): the targets that start the test suite (`test`, `unit`,
  `acceptance`, `nbval`: CI runs `make test` itself), install from the network (`lock`, `lab`),
  need R's packages and the network (`reference`), or time the machine for minutes (`bench`);
* **heavy arguments made light**, as :data:`LIGHTER` lists: the Monte Carlo script with 2
  replicates on 1 core, the papermill recipe in the sandbox's own scratch folder;
* **destructive targets** (`clean`, `distclean`) on a copy of their own.

Acceptance: needs `make all` and the shared raw run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from sandbox import raw_run  # noqa: F401 (fixture)
from trustlib import paths

pytestmark = pytest.mark.xdist_group("rawrun")
DOCUMENTS = ["README.md", *sorted(p.relative_to(paths.ROOT).as_posix() for p in (paths.ROOT / "docs").glob("*.md"))]
RESOLVED_ONLY = {"test", "unit", "acceptance", "nbval", "lock", "lab", "reference", "bench"}
DESTRUCTIVE = {"clean", "distclean"}
LIGHTER = {r"scripts/monte_carlo\.py 200 2": "scripts/monte_carlo.py 2 1"}


def documented() -> list[tuple[str, str]]:
    """(document, command) for every line of every fenced bash block."""
    found = []
    for doc in DOCUMENTS:
        text = (paths.ROOT / doc).read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            found += [(doc, line.strip()) for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return found


def help_targets() -> list[str]:
    out = subprocess.run(["make", "help"], cwd=paths.ROOT, capture_output=True, text=True, check=True).stdout
    return re.findall(r"^  make (\S+)", out, flags=re.M)


def _make_target(command: str) -> str | None:
    m = re.match(r"make (\w+)", command)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def box(raw_run, tmp_path_factory):
    """The raw run's sandbox, with the canonical results, the Makefile, scripts, the R scripts
    and the environment (linked)."""
    if not paths.result("synthetic", "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    shutil.copytree(paths.results_dir("synthetic"), raw_run / "results", symlinks=True, dirs_exist_ok=True)
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-lab.lock", "README.md"):
        shutil.copy2(paths.ROOT / name, raw_run / name)
    for folder in ("scripts", "docs"):
        shutil.copytree(paths.ROOT / folder, raw_run / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(paths.ROOT / "tests" / "reference", raw_run / "tests" / "reference", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (raw_run / ".venv").symlink_to(paths.ROOT / ".venv")
    (raw_run / "scratch").mkdir()
    return raw_run


def run(box, command: str, resolve_only: bool = False) -> subprocess.CompletedProcess:
    for heavy, light in LIGHTER.items():
        command = re.sub(heavy, light, command)
    command = command.replace("/tmp/trustlib-scratch", str(box / "scratch"))
    if resolve_only:
        command = command.replace("make ", "make -n ", 1)
    env = {**os.environ, "PYTHONPATH": str(box), "TRUSTLIB_DRY_RUN": "1"}
    return subprocess.run(["bash", "-c", command], cwd=box, env=env, capture_output=True, text=True, timeout=900)


def _check(result: subprocess.CompletedProcess, command: str) -> None:
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("doc, command", documented(), ids=[f"{d}: {c}" for d, c in documented()])
def test_every_documented_command_runs(box, doc, command):
    target = _make_target(command)
    if target in DESTRUCTIVE:
        pytest.skip("a destructive target: test_destructive_targets runs it on a copy")
    if command.startswith("Rscript") and shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed (the command needs R with lme4)")
    result = run(box, command, resolve_only=target in RESOLVED_ONLY)
    _check(result, command)
    if target in RESOLVED_ONLY:
        assert result.stdout.strip(), f"`make -n {target}` resolves to nothing"


@pytest.mark.parametrize("target", sorted(set(help_targets()) - DESTRUCTIVE))
def test_every_make_help_target_runs(box, target):
    result = run(box, f"make {target}", resolve_only=target in RESOLVED_ONLY)
    _check(result, f"make {target}")


@pytest.mark.parametrize("target", ["validate", "all", "verify", "report", "article"])
def test_every_pipeline_target_runs_on_raw_data(box, target):
    result = run(box, f"make {target} DATA=raw")
    _check(result, f"make {target} DATA=raw")


def test_the_commands_do_what_they_say(box):
    """A few outputs checked, so that an exit status of 0 is not all there is."""
    assert "valid (34 clinics, 165 clinicians, 1132 patients)" in run(box, "make validate DATA=raw").stdout
    assert "is up to date" in run(box, "make all DATA=raw").stdout
    verify = run(box, "make verify DATA=raw")
    assert re.search(r"scorecard: (\d+) of \1 compared checks pass; \d+ not compared", verify.stdout), verify.stdout
    assert "dry run: checks passed; would execute" in run(box, "make all").stdout   # the sandbox's small grid differs
    assert "$(" not in run(box, "make help").stdout


@pytest.mark.parametrize("target", sorted(DESTRUCTIVE))
def test_destructive_targets(box, tmp_path, target):
    copy = tmp_path / "copy"
    shutil.copytree(box, copy, symlinks=True, ignore=shutil.ignore_patterns("results_raw"))
    (copy / "results_raw").mkdir()
    (copy / "results_raw" / "kept.csv").write_text("a\n")
    result = run(copy, f"make {target}")
    _check(result, f"make {target}")
    assert not (copy / "results").exists() and (copy / "results_raw" / "kept.csv").exists()
    assert (copy / ".venv").exists() == (target != "distclean")
    assert (paths.ROOT / ".venv").exists()                     # the link went, not the environment
    raw = run(copy, "make clean DATA=raw")
    _check(raw, "make clean DATA=raw")
    assert not (copy / "results_raw").exists() and (copy / "data" / "raw").exists()

"""Shared fixtures: the committed synthetic cohort, copied so tests can break it, one complete
raw run in a sandbox (session-wide: defined here so that every module shares it), and a guard
that the suite never touches the user's private folders."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sandbox import full_raw_run_once  # noqa: F401 (fixture)
from trustlib import paths
from trustlib.data import cohort, contract
from trustlib.run import config as run_config


ACCEPTANCE_MODULES = {"test_results.py", "test_report.py", "test_machines.py", "test_certificate.py", "test_site.py"}


def _acceptance(module) -> bool:
    """A module that reads the run's outputs (listed above) or runs the pipeline in a sandbox
    (it uses tests/sandbox.py)."""
    return (module.__file__.rsplit("/", 1)[-1] in ACCEPTANCE_MODULES
            or any(getattr(v, "__module__", None) == "sandbox" for v in vars(module).values()))


# whole runs of their own: a run in another BLAS kernel, signals sent to running kernels, every
# documented command, CONTRIBUTING's recipes followed in a copy, `make lab` in its own environment
SLOW_MODULES = {"test_machines.py", "test_ids.py", "test_interrupts.py", "test_documented_commands.py",
                "test_contributing.py", "test_lab.py"}


def _slow(item) -> bool:
    """A test that needs a run, an environment or a recipe of its own: in a module above, marked
    ``slow``, or reading the complete raw run in a sandbox (:func:`sandbox.full_raw_run_once`)."""
    return (item.module.__file__.rsplit("/", 1)[-1] in SLOW_MODULES or item.get_closest_marker("slow") is not None
            or "full_raw_run_once" in getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config, items):
    """Tests that read the run's outputs or run the pipeline are acceptance tests (`make unit`
    leaves them out; `make test` runs them after `make all`). Those that need a whole run of their
    own are also ``slow``: `make test` leaves them out, `make slow` runs them (CI runs both)."""
    for item in items:
        if item.module is not None and _acceptance(item.module):
            item.add_marker(pytest.mark.acceptance)
        if item.module is not None and _slow(item):
            item.add_marker(pytest.mark.slow)


def private_snapshot() -> dict[str, str]:
    """SHA-256 of every file (and every folder's existence) under data/raw/ and results_raw/."""
    snap = {}
    for folder in (paths.data_dir("raw"), paths.results_dir("raw")):
        snap[paths.relative(folder)] = "folder" if folder.is_dir() else "absent"
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                snap[paths.relative(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
    return snap


@pytest.fixture(scope="session", autouse=True)
def private_folders_untouched():
    """The user's data/raw/ and results_raw/ are byte-identical after the whole suite."""
    before = private_snapshot()
    yield
    assert private_snapshot() == before, "the test suite changed data/raw/ or results_raw/"


@pytest.fixture(scope="session")
def tables() -> dict[str, pd.DataFrame]:
    """The committed synthetic cohort, validated and typed."""
    return contract.load_folder(paths.data_dir("synthetic"))


@pytest.fixture(scope="session")
def config() -> run_config.RunConfig:
    """The canonical run's configuration (params/pipeline.yml)."""
    return run_config.RunConfig.load("synthetic")


@pytest.fixture(scope="session")
def rules(config) -> cohort.Rules:
    return config.rules


@pytest.fixture(scope="session")
def model_args(config) -> dict:
    """The canonical run's model choices, as keyword arguments (nagq, covariates)."""
    return {"nagq": config.nagq, "covariates": list(config.covariates)}


@pytest.fixture
def data_copy(tmp_path) -> Path:
    """A writable copy of data/synthetic/ (the three CSV files)."""
    folder = tmp_path / "data"
    folder.mkdir()
    for table in paths.TABLES:
        shutil.copy(paths.table_file("synthetic", table), folder / f"{table}.csv")
    return folder


def read_text_table(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)


def write_text_table(folder: Path, table: str, df: pd.DataFrame) -> None:
    df.to_csv(folder / f"{table}.csv", index=False)



def card_where(failing: dict[str, float] | None = None) -> pd.DataFrame:
    """A scorecard where every row passes but those of ``failing`` (key -> reproduced value)."""
    from trustlib.stats import scorecard

    pub = scorecard.load_published()
    numbers = {r.reproduced_key: float(r.value) / (2 if r.comparator == "<" else 1) for r in pub.itertuples()}
    for key, value in (failing or {}).items():
        numbers[pub.set_index("key").loc[key, "reproduced_key"]] = value
    return scorecard.build(pub, numbers)

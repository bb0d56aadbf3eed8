"""Shared fixtures: the committed synthetic cohort, copied so tests can break it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from trustlib import contract, paths


@pytest.fixture(scope="session")
def tables() -> dict[str, pd.DataFrame]:
    """The committed synthetic cohort, validated and typed."""
    return contract.load_folder(paths.data_dir("synthetic"))


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

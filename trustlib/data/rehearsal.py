"""A rehearsal extract: the synthetic cohort written as the trial's export would come, to rehearse
the raw path (`make all DATA=rehearsal`) before the real files arrive.

:func:`write` puts into ``data/rehearsal/`` the files and columns ``data/column_map.example.yml``
names: the clinicians' and the patients' surveys as CSV files under the export's column names,
the clinics as a workbook with one sheet (``Sites``) whose header is on line 3 under two title
lines, the codebook's missing code (-9) where an answer is missing, and that column map as
``column_map.yml``. A run on it reads it through the column map and protects it exactly as raw
data (disclosure control, the confidential banner, the release register), into
``results_rehearsal/``. Its numbers are the synthetic cohort's, suppressed where raw data's
would be.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from .. import params, paths

EXAMPLE_MAP = paths.DATA / "column_map.example.yml"
TITLE_LINES = ["Healthy Work Place: participating sites (baseline)", ""]   # above the header, as exports have


IDS = {"clinics": ["clinic_id"], "clinicians": ["clinician_id", "clinic_id"], "patients": ["patient_id", "clinician_id"]}


def _copies(df: pd.DataFrame, table: str, copies: int) -> pd.DataFrame:
    """``copies`` copies of a table, the IDs of copy c > 1 suffixed ``-c`` (K01-2, C001-2...): a
    cohort ``copies`` times the size, for timing the path at scale."""
    parts = [df]
    for c in range(2, copies + 1):
        parts.append(df.assign(**{col: df[col] + f"-{c}" for col in IDS[table]}))
    return pd.concat(parts, ignore_index=True)


def write(folder: Path | None = None, copies: int = 1) -> Path:
    """Write the rehearsal extract into ``folder`` (default ``data/rehearsal/``); returns it. With
    ``copies`` > 1, the cohort ``copies`` times over, with new IDs (for the scale benchmark)."""
    folder = Path(folder) if folder is not None else paths.data_dir("rehearsal")
    spec = params.load_yaml(EXAMPLE_MAP)
    stage = folder.with_name(f".{folder.name}.stage")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    for table in paths.TABLES:
        entry = spec.get(table, {}) or {}
        back = {ours: theirs for theirs, ours in (entry.get("columns") or {}).items()}
        df = _copies(pd.read_csv(paths.table_file("synthetic", table), dtype=str, keep_default_na=False), table,
                     copies).rename(columns=back)
        name = entry.get("file") or f"{table}.csv"
        if name.endswith(".xlsx"):
            _workbook(df, stage / name, entry.get("sheet") or "Sheet1", int(entry.get("header_row") or 1))
        else:
            df.to_csv(stage / name, index=False)
    shutil.copy2(EXAMPLE_MAP, stage / "column_map.yml")
    if folder.exists():
        shutil.rmtree(folder)
    stage.rename(folder)
    return folder


def _workbook(df: pd.DataFrame, path: Path, sheet: str, header_row: int) -> None:
    """One visible sheet with the table's header on ``header_row`` under title lines; every cell
    as text, so IDs stay as written."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for line in TITLE_LINES[:header_row - 1]:
        ws.append([line] if line else [])
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append(list(row))
    wb.save(path)

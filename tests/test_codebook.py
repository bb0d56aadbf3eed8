"""The codebook and scale definitions are complete and consistent."""

from __future__ import annotations

import pandas as pd

from trustlib import paths
from trustlib.data import codebook
from trustlib.stats import scorecard


def test_codebook_loads_with_every_column():
    cb = codebook.load_codebook()
    assert list(cb.columns) == codebook.COLUMNS
    assert set(cb["table"]) == set(paths.TABLES)


def test_each_table_starts_with_its_primary_key():
    for table in paths.TABLES:
        first = codebook.table_variables(table).iloc[0]
        assert first["key"] == "primary" and first["type"] == "id"


def test_integer_variables_have_a_range_and_missing_code():
    cb = codebook.load_codebook()
    ints = cb[cb["type"] == "integer"]
    assert ints[["min", "max", "missing_code"]].notna().all().all()
    assert (ints["missing_code"] < ints["min"]).all()


def test_instrument_item_counts():
    assert len(codebook.scale_items("org_trust")) == 5
    pt = codebook.scale_items("patient_trust")
    assert len(pt) == 11 and pt["reverse"].sum() >= 2 and (pt["max"] == 5).all()
    for s in codebook.scales_with_role("exposure"):
        items = codebook.scale_items(s)
        assert len(items) >= 3 and (items["min"] == 1).all() and (items["max"] == 4).all()


def test_every_scale_in_scales_csv_has_items_and_a_valid_minimum():
    for _, s in codebook.load_scales().iterrows():
        items = codebook.scale_items(s["scale"])
        assert 1 <= s["min_answered"] <= len(items), s["scale"]


def test_the_papers_measures_are_exposures_in_published_order():
    """The measures the paper publishes come first among the exposures, in its order; an added
    measure (CONTRIBUTING) follows them, with or without published rows."""
    pub = scorecard.load_published()
    published = list(dict.fromkeys(m for m in pub["measure"] if isinstance(m, str) and m))
    exposures = codebook.scales_with_role("exposure")
    assert exposures[:len(published)] == published
    assert published[:4] == ["quality", "communication", "cohesiveness", "alignment"]   # the paper's Table


def test_published_numbers_cover_every_published_measure():
    pub = scorecard.load_published()
    for m in {m for m in pub["measure"] if isinstance(m, str) and m}:
        assert m in codebook.scales_with_role("exposure")
        assert set(pub.loc[pub["measure"] == m, "quantity"]) == {"or", "ci_low", "ci_high", "p"}
    assert pub["key"].is_unique
    assert pd.to_numeric(pub["value"]).notna().all()


def test_an_edited_scales_file_is_read_again_in_the_same_process(tmp_path, monkeypatch):
    """A live kernel sees an edit to data/scales.csv or data/codebook.csv at once: the caches are
    keyed by each file's path, modification time and size, not by its path alone."""
    import os
    import shutil

    from trustlib import paths
    from trustlib.data import contract

    scales_file, codebook_file = tmp_path / "scales.csv", tmp_path / "codebook.csv"
    shutil.copy(paths.SCALES, scales_file)
    shutil.copy(paths.CODEBOOK, codebook_file)
    monkeypatch.setattr(paths, "SCALES", scales_file)
    monkeypatch.setattr(paths, "CODEBOOK", codebook_file)
    before = codebook.scales_with_role("exposure")
    schema = contract.table_schema("clinicians")
    text = scales_file.read_text().replace(",exposure", ",descriptive", 1)
    scales_file.write_text(text)
    os.utime(scales_file, ns=(1, 1))                  # even a clock that does not move: the size changed
    assert codebook.scales_with_role("exposure") == before[1:]
    rows = codebook_file.read_text().splitlines()
    last = next(r.split(",")[0] for r in reversed(rows) if r.split(",")[1] == "clinicians")
    assert last in schema.columns
    codebook_file.write_text("\n".join(r for r in rows if not r.startswith(f"{last},clinicians,")) + "\n")
    assert last not in contract.table_schema("clinicians").columns
    assert last not in codebook.table_variables("clinicians")["variable"].tolist()

"""Atomic, staged writing and numbers.json merging."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from trustlib import outputs, paths


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTLIB_STAGE", str(tmp_path / "stage"))
    return tmp_path / "stage"


def test_writes_go_to_the_stage_and_reads_prefer_it(stage):
    final = paths.result("synthetic", "tables", "zz_test_table.csv")
    written = outputs.atomic_write_text(final, "a\n1\n")
    assert written == stage / "results" / "tables" / "zz_test_table.csv"
    assert not final.exists()
    assert paths.locate(final) == written


def test_writer_numbers_are_cleaned_and_merged(stage):
    w = outputs.Writer("synthetic", "zz_a")
    w.numbers({"x": np.float64(1 / 3), "n": np.int64(5), "bad": float("nan"), "flag": True}, prefix="t.")
    w.save()
    w2 = outputs.Writer("synthetic", "zz_b")
    w2.numbers(y=2.0)
    w2.save()
    merged = json.loads((stage / "results" / "numbers.json").read_text())
    assert merged["t.x"] == 0.333333 and merged["t.n"] == 5 and merged["t.bad"] is None
    assert merged["t.flag"] is True and merged["y"] == 2.0


def test_table_writes_csv_markdown_and_latex(stage):
    w = outputs.Writer("synthetic", "zz")
    df = pd.DataFrame({"a": [1.23456789, math.pi], "b": ["x", "y"]})
    w.table(df, "zz_demo", latex=True, caption="Demo")
    base = stage / "results" / "tables"
    assert (base / "zz_demo.csv").read_text().splitlines()[1] == "1.23457,x"
    assert "| 1.23 | x   |" in (base / "zz_demo.md").read_text()
    assert "\\begin{tabular}" in (base / "zz_demo.tex").read_text()


def test_figures_are_byte_identical_across_saves(stage):
    w = outputs.Writer("synthetic", "zz")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    w.figure(fig, "zz_fig")
    first = {p.name: p.read_bytes() for p in (stage / "results" / "figures").iterdir()}
    w.figure(fig, "zz_fig")
    second = {p.name: p.read_bytes() for p in (stage / "results" / "figures").iterdir()}
    assert first == second and set(first) == {"zz_fig.png", "zz_fig.svg"}
    plt.close(fig)


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTLIB_STAGE", raising=False)
    target = tmp_path / "x.txt"
    target.write_text("old")

    monkeypatch.setattr(outputs.paths, "output_path", lambda p: p)
    with pytest.raises(TypeError):
        outputs.atomic_write_bytes(target, None)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]

"""Atomic writing below one results folder, provenance of what each notebook wrote, and
numbers.json merging."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from trustlib import outputs


def test_writer_writes_only_below_its_folder_and_lists_what_it_wrote(tmp_path):
    w = outputs.Writer(tmp_path / "res", "zz")
    w.csv(pd.DataFrame({"a": [1]}), "tables", "t.csv")
    w.numbers(x=1)
    w.save()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["res/.numbers.lock", "res/numbers.json", "res/numbers/zz.json", "res/provenance/zz.json",
                     "res/tables/t.csv"]
    prov = json.loads((tmp_path / "res" / "provenance" / "zz.json").read_text())
    assert prov == {"notebook": "notebooks/zz.ipynb", "outputs": ["numbers/zz.json", "tables/t.csv"]}
    assert w.read_csv("tables", "t.csv")["a"].tolist() == [1]


def test_writer_numbers_are_cleaned_and_merged(tmp_path):
    w = outputs.Writer(tmp_path, "zz_a")
    w.numbers({"x": np.float64(1 / 3), "n": np.int64(5), "bad": float("nan"), "flag": True}, prefix="t.")
    w.save()
    w2 = outputs.Writer(tmp_path, "zz_b")
    w2.numbers(y=2.0)
    w2.save()
    merged = w2.read_numbers()
    assert merged["t.x"] == 0.333333 and merged["t.n"] == 5 and merged["t.bad"] is None
    assert merged["t.flag"] is True and merged["y"] == 2.0


def test_parallel_saves_lose_no_notebooks_numbers(tmp_path):
    """Notebooks of one run save side by side; the merged file has every notebook's numbers."""
    def save(i):
        w = outputs.Writer(tmp_path, f"nb{i:02d}")
        w.numbers({f"k{i}": i})
        w.save()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(save, range(40)))
    assert outputs.read_numbers(tmp_path) == {f"k{i}": i for i in range(40)}


def test_table_writes_csv_markdown_and_latex(tmp_path):
    w = outputs.Writer(tmp_path, "zz")
    df = pd.DataFrame({"a": [1.23456789, math.pi], "b": ["x", "y"]})
    w.table(df, "zz_demo", latex=True, caption="Demo")
    base = tmp_path / "tables"
    assert (base / "zz_demo.csv").read_text().splitlines()[1] == "1.23457,x"
    assert "| 1.23 | x   |" in (base / "zz_demo.md").read_text()
    assert "\\begin{tabular}" in (base / "zz_demo.tex").read_text()


def test_figures_are_byte_identical_across_saves(tmp_path):
    w = outputs.Writer(tmp_path, "zz")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    w.figure(fig, "zz_fig")
    first = {p.name: p.read_bytes() for p in (tmp_path / "figures").iterdir()}
    w.figure(fig, "zz_fig")
    second = {p.name: p.read_bytes() for p in (tmp_path / "figures").iterdir()}
    assert first == second and set(first) == {"zz_fig.png", "zz_fig.svg"}
    plt.close(fig)


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        outputs.atomic_write_bytes(target, None)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_inputs_records_the_bytes_read(tmp_path, data_copy):
    from trustlib import contract

    tables = contract.load_folder(data_copy)
    outputs.Writer(tmp_path, "zz").inputs(tables)
    read = json.loads((tmp_path / "provenance" / "inputs.json").read_text())
    assert sorted(read) == sorted(str(data_copy / f"{t}.csv") for t in ("clinicians", "clinics", "patients"))
    assert all(sha == outputs.sha256(Path(f)) for f, sha in read.items())

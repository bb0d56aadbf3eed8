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

from trustlib import store
from trustlib.publish import outputs


def test_writer_writes_only_below_its_folder_and_lists_what_it_wrote(tmp_path):
    w = outputs.Writer(tmp_path / "res", "zz")
    w.csv(pd.DataFrame({"a": [1]}), "tables", "t.csv")
    w.numbers(x=1)
    w.save()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["res/.numbers.lock", "res/numbers.json", "res/numbers/zz.json", "res/provenance/zz.json",
                     "res/tables/t.csv"]
    prov = json.loads((tmp_path / "res" / "provenance" / "zz.json").read_text())
    assert prov["notebook"] == "notebooks/zz.ipynb" and prov["outputs"] == ["numbers/zz.json", "tables/t.csv"]
    assert prov["cells"] == {} and prov["number_cells"] == {}      # outside a kernel no cell is known
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
    assert store.read_numbers(tmp_path) == {f"k{i}": i for i in range(40)}


def test_table_writes_csv_markdown_and_latex(tmp_path):
    w = outputs.Writer(tmp_path, "zz")
    df = pd.DataFrame({"a": [1.23456789, math.pi], "b": ["x", "y"]})
    w.table(df, "zz_demo", latex=True, caption="Demo")
    base = tmp_path / "tables"
    assert (base / "zz_demo.csv").read_text().splitlines()[1] == "1.23457,x"
    assert "| 1.23 | x   |" in (base / "zz_demo.md").read_text()
    assert "\\begin{tabular}" in (base / "zz_demo.tex").read_text()


def test_a_missing_value_is_empty_in_csv_and_dashes_in_markdown_and_latex(tmp_path):
    w = outputs.Writer(tmp_path, "zz")
    df = pd.DataFrame({"step": ["in", "out"], "n": pd.array([34, None], dtype="Int64"), "x": [0.5, float("nan")]})
    shown = w.table(df, "zz_na", latex=True)
    base = tmp_path / "tables"
    assert (base / "zz_na.csv").read_text().splitlines()[1:] == ["in,34,0.5", "out,,"]
    md = (base / "zz_na.md").read_text()
    assert "| in     | 34  | 0.5 |" in md and "| out    | --  | --  |" in md and "nan" not in md.lower()
    tex = (base / "zz_na.tex").read_text()
    assert "in & 34 & 0.50" in tex and "out & -- & --" in tex
    assert shown["n"].tolist() == [34, "--"]              # what the notebook shows is what the file says
    assert outputs.Writer(tmp_path, "zz").numbers(n=df["n"].iloc[1]) == {"n": None}


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


def test_a_figure_is_cropped_once_as_a_tight_png_is(tmp_path):
    """The PNG equals matplotlib's own ``bbox_inches="tight"`` save (the crop found once serves
    both formats); the SVG has the PNG's size (pixels at 150 dpi are points at 72), and the
    figure keeps its dpi."""
    import io
    import re
    import struct

    fig, ax = plt.subplots(figsize=(5, 3), dpi=72)
    ax.plot([1, 2, 3])
    ax.set_title("A long title " * 3)
    ax.text(3.4, 2, "beyond the axes")
    tight = io.BytesIO()
    fig.savefig(tight, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    canvas = fig.canvas
    outputs._tight_bbox(fig, 150)
    assert fig.canvas is canvas and fig.dpi == 72
    outputs.Writer(tmp_path, "zz").figure(fig, "zz_crop")
    png = (tmp_path / "figures" / "zz_crop.png").read_bytes()
    assert png == tight.getvalue()
    width, height = struct.unpack(">II", png[16:24])
    svg_w, svg_h = map(float, re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                        (tmp_path / "figures" / "zz_crop.svg").read_text()).groups())
    assert abs(svg_w - width * 72 / 150) < 1 and abs(svg_h - height * 72 / 150) < 1
    assert fig.dpi == 72


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        store.atomic_write_bytes(target, None)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_inputs_records_the_bytes_read(tmp_path, data_copy):
    from trustlib.data import contract

    tables = contract.load_folder(data_copy)
    outputs.Writer(tmp_path, "zz").inputs(tables)
    read = json.loads((tmp_path / "provenance" / "inputs.json").read_text())
    assert sorted(read) == sorted(str(data_copy / f"{t}.csv") for t in ("clinicians", "clinics", "patients"))
    assert all(sha == store.sha256(Path(f)) for f, sha in read.items())


def test_outputs_follow_the_umask_and_private_stays_owner_only(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        w = outputs.Writer(tmp_path, "zz")
        w.csv(pd.DataFrame({"a": [1]}), "tables", "t.csv")
        w.private(pd.DataFrame({"id": ["C1"]}), "rows")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "tables" / "t.csv") == 0o644
    assert mode(tmp_path / "private") == 0o700 and mode(tmp_path / "private" / "rows.csv") == 0o600


def test_tables_are_read_back_with_ids_as_written(tmp_path):
    """"007" and "7" are different clinics, "NA" is an ID like any other: no type guessing."""
    df = pd.DataFrame({"clinic_id": ["007", "7", "NA"], "clinician_id": ["0012", "12", "N/A"], "age": [40.0, None, 50.0]})
    w = outputs.Writer(tmp_path, "zz")
    back = store.read_table(w.csv(df, "private", "t.csv"))
    assert back["clinic_id"].tolist() == ["007", "7", "NA"] and back["clinician_id"].tolist() == ["0012", "12", "N/A"]
    assert back["age"].isna().tolist() == [False, True, False]


def test_a_step_reads_only_what_the_steps_it_declares_write(tmp_path):
    w = outputs.Writer(tmp_path, "04_figures")                  # declares it reads 01 and 03
    outputs.Writer(tmp_path, "01_prepare_data").private(pd.DataFrame({"clinic_id": ["K1"]}), "analysis_table")
    assert w.read_csv("private", "analysis_table.csv")["clinic_id"].tolist() == ["K1"]
    with pytest.raises(KeyError, match="no step it declares"):
        w.read_csv("tables", "flow.csv")                        # written by 02, which 04 does not declare
    with pytest.raises(FileNotFoundError, match="run notebook 03_model_culture_and_trust first"):
        w.read_csv("tables", "table2.csv")


def test_written_precision_is_what_a_table_file_holds():
    df = pd.DataFrame({"x": [1 / 3, 4.7412345678, float("nan")], "n": [1, 2, 3], "s": ["a", "b", "c"]})
    w = store.written(df)
    assert w["x"].iloc[:2].tolist() == [0.333333, 4.74123] and np.isnan(w["x"].iloc[2])
    assert w["n"].equals(df["n"]) and w["s"].equals(df["s"])


def test_a_figure_shows_its_data_digest(tmp_path):
    w = outputs.Writer(tmp_path, "zz")
    fig, ax = plt.subplots()
    fig.plotted = pd.DataFrame({"or": [1.5, 2.25]})
    saved = w.figure(fig, "zz_fig")
    digest = store.sha256(tmp_path / "figures" / "zz_fig.csv")
    assert repr(saved) == f"<figure figures/zz_fig.png data {digest[:12]}>"


def test_shown_names_rows_and_columns_in_words_and_counts_as_whole_numbers():
    df = pd.DataFrame({"measure": ["quality", "cohesiveness"], "ci_low": [2.13496, 1.2], "clinic_var": [0.0, 0.14],
                       "patient_surveys": [1132.0, 1127.0], "share_or_above_1": [1.0, 1.0],
                       "OR (95% CI)": ["4.80 (2.13-10.80)", "2.18 (1.20-3.95)"], "n_clinics": [34.0, None]})
    out = outputs.shown(df, digits=2)
    assert out.index.name == "measure" and list(out.index) == ["quality", "cohesiveness"]      # no 0..n
    assert list(out.columns) == ["95% CI, lower", "clinic variance", "patient surveys", "share with OR > 1",
                                 "OR (95% CI)", "clinics"]
    assert str(out["patient surveys"].dtype) == "Int64" and out["95% CI, lower"].iloc[0] == 2.13
    assert out["share with OR > 1"].dtype == float             # a share of 1 stays a share
    assert list(out["clinics"]) == [34, outputs.MISSING_SHOWN]
    cell = out["OR (95% CI)"].iloc[0]
    assert " " not in cell and "-" not in cell and cell.replace("\u00a0", " ").replace("\u2011", "-") == "4.80 (2.13-10.80)"
    assert df["patient_surveys"].dtype == float                # the table itself is left as it is
    p = outputs.shown(pd.DataFrame({"term": ["a", "b", "c"], "p": [0.0000123, 0.0456, float("nan")]}))
    assert list(p["P"]) == ["<.001", ".046", outputs.MISSING_SHOWN]


def test_shown_series_prints_counts_without_decimals():
    s = outputs.shown(pd.Series({"n_women": 86.0, "age_mean": 47.2913, "n_high_high": 55.0}), digits=2)
    assert list(s.index) == ["women, n", "age, mean", "high-high, n"]
    assert s.to_string().split() == ["women,", "n", "86", "age,", "mean", "47.29", "high-high,", "n", "55"]
    assert str(outputs.shown(pd.Series({"n_women": 86.0, "n_family": 105.0})).dtype) == "Int64"


@pytest.mark.parametrize("name,value,expected", [
    ("table2.quality.glmm.adjusted.or", 12.14873, 12.15),     # the paper: 4.95 (2.02-12.15)
    ("quality_ci_high", 13.9349, 13.93),                      # a scorecard key
    ("published.quality_ci_high", 12.15, 12.15),             # the paper's own numbers: never rounded again
    ("published", 0.0034567, 0.0034567),
    ("ci_low", 2.01642, 2.02),
    ("table1.all_modelled.age.mean", 47.3272, 47.3),          # the paper: 47.3 (9.2) years
    ("percent", 64.8148, 64.8),
    ("p", 2.72988e-05, 2.73e-05),
    ("alpha", 0.916583, 0.917),
    ("cutoffs.patient_trust_cutoff", 88.0134, 88.0),
    ("n_patients", 1132, 1132),                              # counts whole, as they are
    ("count", 1132.0, 1132.0),
    ("note", "text", "text"),
    ("converged", True, True),
    ("or", float("nan"), None),
])
def test_printed_precision_is_the_papers(name, value, expected):
    got = outputs.printed(name, outputs._clean(value))
    assert got == expected and type(got) is type(expected)


def test_a_real_runs_shareable_outputs_are_at_printed_precision_and_full_precision_stays_private(tmp_path):
    """On the trial's data the shareable table, Markdown, figure data and numbers carry the
    paper's precision; the full values go to private/, owner-only; synthetic runs keep 6 digits."""
    df = pd.DataFrame({"measure": ["quality"], "or": [4.951234], "mean": [47.32721], "n": [162]})
    for source, root in (("raw", tmp_path / "raw"), ("synthetic", tmp_path / "synthetic")):
        w = outputs.Writer(root, "zz", source)
        w.table(df, "t")
        w.csv(df, "figures", "f.csv")
        w.private(df, "rows")
        w.numbers({"quality.or": 4.951234, "age.mean": 47.32721, "n": 162})
        w.save()
    raw, syn = tmp_path / "raw", tmp_path / "synthetic"
    assert (raw / "tables" / "t.csv").read_text() == "measure,or,mean,n\nquality,4.95,47.3,162\n"
    assert (raw / "figures" / "f.csv").read_text() == "measure,or,mean,n\nquality,4.95,47.3,162\n"
    assert "4.95 " in (raw / "tables" / "t.md").read_text() and "47.33" not in (raw / "tables" / "t.md").read_text()
    assert json.loads((raw / "numbers.json").read_text()) == {"age.mean": 47.3, "n": 162, "quality.or": 4.95}
    full = "measure,or,mean,n\nquality,4.95123,47.3272,162\n"
    assert (raw / "private" / "full" / "tables" / "t.csv").read_text() == full
    assert (raw / "private" / "full" / "figures" / "f.csv").read_text() == full
    assert (raw / "private" / "rows.csv").read_text() == full                  # private: as it is
    assert json.loads((raw / "private" / "numbers" / "zz.json").read_text())["quality.or"] == 4.95123
    for folder in ("private", "private/full", "private/full/tables", "private/numbers"):
        assert (raw / folder).stat().st_mode & 0o777 == 0o700, folder
    assert (raw / "private" / "full" / "tables" / "t.csv").stat().st_mode & 0o777 == 0o600
    assert (raw / "tables").stat().st_mode & 0o777 == 0o777 & ~store._umask()      # shareable: as the umask gives
    listed = json.loads((raw / "provenance" / "zz.json").read_text())["outputs"]
    assert "private/full/tables/t.csv" in listed and "private/numbers/zz.json" in listed   # carried with the step
    assert (syn / "tables" / "t.csv").read_text() == full
    assert not (syn / "private" / "full").exists() and not (syn / "private" / "numbers").exists()


def test_a_real_runs_later_steps_read_the_full_precision_copies(tmp_path):
    """What a later step computes does not depend on the printed precision: it reads private/;
    a scorecard's reproduced values are printed by their own keys, the paper's never rounded."""
    w = outputs.Writer(tmp_path, "03_model_culture_and_trust", "raw")
    w.csv(pd.DataFrame({"measure": ["quality"], "or": [4.951234]}), "tables", "table2.csv")
    w.numbers({"table2.quality.glmm.adjusted.or": 4.951234, "cohort.pct_high_high": 33.9506})
    w.save()
    outputs.Writer(tmp_path, "02_describe_sample", "raw").save()            # the other step 05 reads
    later = outputs.Writer(tmp_path, "05_scorecard", "raw")
    assert later.read_csv("tables", "table2.csv")["or"].tolist() == [4.95123]
    assert later.read_numbers()["table2.quality.glmm.adjusted.or"] == 4.95123
    card = pd.DataFrame({"key": ["quality_ci_high", "pct_high_high"], "published": [12.15, 34.0],
                         "reproduced": [13.934912, 33.9506], "reproduced_key": ["table2.quality.glmm.adjusted.ci_high",
                                                                               "outcome.pct_high_high"]})
    later.csv(card, "scorecard.csv")
    shared = pd.read_csv(tmp_path / "scorecard.csv")
    assert shared["published"].tolist() == [12.15, 34.0] and shared["reproduced"].tolist() == [13.93, 34.0]

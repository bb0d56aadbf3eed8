"""The reproduction certificate (``canonical/``) and ``trustlib compare``.

The acceptance tests hold the run of ``make all`` to the committed record of the canonical run:
the certificate's digests, the README's result line and Figure 2 (within the notebooks' pixel
tolerance). The others change one cell of a copy of the run and check that the comparison names
the file, the cell and the size of the change, against the certificate and between two folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_notebooks import PIXEL_TOLERANCE, _pixels
from trustlib import paths
from trustlib.publish import certificate
from trustlib.run.cli import main


def _results() -> Path:
    results = paths.results_dir("synthetic")
    if not (results / "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    return results


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the run's results folder (certified files only, and the manifest)."""
    dst = tmp_path / "results"
    for name in certificate.certified_files(_results()) + ["manifest.json"]:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_results() / name, dst / name)
    return dst


def _edit_cell(folder: Path, table: str = "tables/table2.csv") -> tuple[str, str, str]:
    """Change the first numeric cell of ``table`` by one unit in its last written digit; return
    the old and new text and the column."""
    path = folder / table
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[1].rstrip("\n").split(",")
    for i, cell in enumerate(cells):
        try:
            float(cell)
        except ValueError:
            continue
        new = cell[:-1] + str((int(cell[-1]) + 1) % 10) if cell[-1].isdigit() else cell + "1"
        cells[i] = new
        lines[1] = ",".join(cells) + "\n"
        path.write_text("".join(lines))
        return cell, new, header[i]
    raise AssertionError(f"{table} has no numeric cell on its first row")


@pytest.mark.acceptance
def test_the_run_is_the_canonical_run(capsys):
    """`make all` on this checkout gives, byte for byte, the run the certificate records (on any
    machine: the outputs are written at 6 significant digits)."""
    assert main(["compare"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("identical: results/ is the canonical run"), out


@pytest.mark.acceptance
def test_readme_opens_with_the_canonical_result_and_figure_2():
    """The README's first 40 lines hold the scorecard line and Figure 2, as `make notebooks`
    writes them from this run; the committed image is this run's Figure 2 within the pixel
    tolerance."""
    text = paths.README.read_text()
    assert certificate.readme_block(_results()) in "\n".join(text.splitlines()[:40])
    a = _pixels(paths.CANONICAL_FIGURE.read_bytes())
    b = _pixels((_results() / "figures" / "figure2_forest.png").read_bytes())
    assert a.shape == b.shape
    assert np.any(a != b, axis=-1).mean() <= PIXEL_TOLERANCE


def test_certificate_covers_every_table_figure_data_file_and_the_numbers():
    cert = certificate.read()
    files = set(cert["files"])
    assert {"numbers.json", "scorecard.csv", "tables/table2_paper.csv", "figures/figure2_forest.csv"} <= files
    assert not any(f.endswith((".png", ".svg")) for f in files)
    assert all(len(v["sha256"]) == 64 for v in cert["files"].values())
    assert cert["numbers"]["scorecard.n_compared"] > 0


def test_an_edited_cell_is_named_against_the_certificate(copy, capsys):
    cert = certificate.make(copy)
    old, new, column = _edit_cell(copy)
    result = certificate.with_certificate(copy, cert)
    assert not result.identical
    assert [d.file for d in result.differences] == ["tables/table2.csv"]
    cert_file = copy.parent / "canonical" / "certificate.json"
    certificate.write(_results(), cert_file)
    assert main(["compare", "--results", str(copy)], root=copy.parent) == 1
    out = capsys.readouterr().out
    assert out.startswith("different: 1 of ") and "tables/table2.csv" in out, out


def test_two_folders_compare_cell_by_cell(copy, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(copy, other)
    assert certificate.with_folder(copy, other).identical
    old, new, column = _edit_cell(other)
    result = certificate.with_folder(copy, other)
    (d,) = result.differences
    assert d.file == "tables/table2.csv" and d.cells == 1
    assert d.largest == pytest.approx(abs(float(new) - float(old)))
    assert f"column {column}" in d.what and repr(old) in d.what and repr(new) in d.what
    assert main(["compare", str(other), "--results", str(copy)]) == 1
    assert "1 cell differs" in capsys.readouterr().out


def test_numbers_differ_by_how_much(copy):
    cert = certificate.make(copy)
    numbers = json.loads((copy / "numbers.json").read_text())
    key = "table2.quality.glmm.adjusted.or"
    numbers[key] = numbers[key] + 0.25
    (copy / "numbers.json").write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
    (d,) = certificate.with_certificate(copy, cert).differences
    assert d.file == "numbers.json" and d.cells == 1 and d.largest == pytest.approx(0.25)
    assert key in d.what


def test_a_missing_or_extra_file_is_named(copy):
    cert = certificate.make(copy)
    (copy / "tables" / "flow.md").unlink()
    (copy / "tables" / "extra.csv").write_text("a\n1\n")
    what = {d.file: d.what for d in certificate.with_certificate(copy, cert).differences}
    assert what == {"tables/flow.md": "missing here", "tables/extra.csv": "only here"}


def test_compare_without_a_run_says_what_to_do(tmp_path, capsys):
    assert main(["compare", "--results", str(tmp_path)]) == 2
    assert "run `make all` first" in capsys.readouterr().err


def test_readme_block_is_replaced_in_place():
    text = f"intro\n{certificate.README_START}\nold\n{certificate.README_END}\nrest\n"
    assert certificate.replace_block(text, "NEW") == "intro\nNEW\nrest\n"
    with pytest.raises(ValueError, match="no canonical-result block"):
        certificate.replace_block("no block here", "NEW")

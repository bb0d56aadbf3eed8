"""The browsable report: every executed notebook as HTML, and an index page.

The index shows the scorecard first, then each figure as a thumbnail and each table as a link,
both pointing at the notebook cell that made them, and ends with the manifest's git commit and
input-data checksums. Links are relative, so the folder can be opened or copied as it is.
"""

from __future__ import annotations

import ast
import functools
import html
import json
from pathlib import Path

import nbformat
import pandas as pd

from . import disclosure, outputs

SELECTION_NOTE = ("The synthetic cohort was selected to match these calibration targets: its generator was tuned "
                  "to the published marginals and its seed is the first of 1,000 whose cohort passed every row "
                  "(data/synthetic/CALIBRATION.md). On these data the scorecard shows that the selection holds and "
                  "that the pipeline still computes the same numbers; it does not show that the pipeline "
                  "reproduces the paper, which only the trial's data could.")


def _name_pattern(node: ast.expr) -> str | None:
    """The output name a call argument gives: a string, or an f-string's literal prefix + '{'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.removesuffix(".csv")
    if isinstance(node, ast.JoinedStr):
        prefix = "".join(v.value for v in node.values[:1] if isinstance(v, ast.Constant))
        return prefix + "{"
    return None


def _producers(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """(kind, name pattern, cell id) for every ``out.figure/table/csv(...)`` call in a notebook."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "out"
                    and node.func.attr in ("figure", "table", "csv")):
                continue
            names = [n for n in map(_name_pattern, node.args[1:]) if n]
            if names:
                kind = "figure" if node.func.attr == "figure" else "table"
                found.append((kind, names[-1], cell.get("id", "")))
    return found


def _matches(pattern: str, name: str) -> bool:
    if pattern.endswith("{"):
        return name.startswith(pattern[:-1])
    return name == pattern


@functools.lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab")


def render_notebook(path: Path, report_dir: Path) -> nbformat.NotebookNode:
    """Write ``report_dir/<notebook>.html`` for one executed notebook; return the notebook.

    The runner calls this as each notebook finishes, while the others still run."""
    nb = nbformat.read(path, as_version=4)
    body, _ = _exporter().from_notebook_node(nb)
    outputs.atomic_write_text(Path(report_dir) / f"{Path(path).stem}.html", body)
    return nb


def render_notebooks(results: Path, report_dir: Path, rendered=()) -> dict[str, nbformat.NotebookNode]:
    """Write ``<notebook>.html`` for every executed notebook not named in ``rendered`` (already
    written by :func:`render_notebook` in this run); return all the notebooks by name."""
    notebooks = {}
    for path in sorted(Path(results, "notebooks").glob("*.ipynb")):
        notebooks[path.stem] = (nbformat.read(path, as_version=4) if path.stem in rendered
                                else render_notebook(path, report_dir))
    return notebooks


def _link(notebook: str, cell_id: str, fallback: str = "index.html") -> str:
    """Link to the cell that made an output, or to ``fallback`` when no executed notebook made it."""
    if not notebook:
        return fallback
    return f"{notebook}.html#cell-id={cell_id}" if cell_id else f"{notebook}.html"


def producer_lookup(notebooks: dict[str, nbformat.NotebookNode]):
    """A function ``(kind, output name) -> (notebook, cell id)`` of the cell that wrote an output
    (``kind`` is ``"figure"`` or ``"table"``; ``("", "")`` when no executed notebook did)."""
    producers = {name: _producers(nb) for name, nb in notebooks.items()}

    def producer(kind: str, name: str) -> tuple[str, str]:
        for nb_name, calls in producers.items():
            for k, pattern, cell in calls:
                if k == kind and _matches(pattern, name):
                    return nb_name, cell
        return "", ""

    return producer


def build(results: Path, source: str = "synthetic", rendered=()) -> Path:
    """Render the report of the results folder ``results`` into its ``report/``; return index.html.

    ``rendered`` names notebooks whose page this run has already written (:func:`render_notebook`)."""
    rdir = Path(results)
    report_dir = rdir / "report"
    notebooks = render_notebooks(rdir, report_dir, rendered)
    producer = producer_lookup(notebooks)

    parts = [f"<h1>Where Trust Flourishes: reproduction report ({html.escape(source)} data)</h1>"]
    if source == "synthetic":
        parts.append("<p><strong>The data behind this report are synthetic</strong>, calibrated to the published "
                     "study; they are not the trial's data.</p>")
    else:
        parts.append(f"<p class=\"banner\"><strong>{disclosure.CONFIDENTIAL}</strong> Every count "
                     "and group statistic passed the disclosure control (trustlib.disclosure): cells of fewer than "
                     "<code>min_cell_size</code> people, and cells that would give them back, read "
                     "<em>suppressed</em>; no clinician is plotted and no clinic is named. Row-level tables stay in "
                     "<code>private/</code>, which this report does not link. Share only after the data owner's "
                     "review.</p>")
    card_path = rdir / "tables" / "scorecard.csv"   # with the unselected pass rates (synthetic data)
    if card_path.exists():
        card = pd.read_csv(card_path, keep_default_na=False)
        n_pass = int((card["passed"].astype(str) == "True").sum())
        nb_name, cell = producer("table", "scorecard")
        if source == "synthetic":
            parts.append(f"<h2>Scorecard (a regression test): {n_pass} of {len(card)} calibration targets met "
                         f"(<a href=\"{_link(nb_name, cell)}\">notebook</a>)</h2>")
            if "agrees_to_print" in card:
                n_print = int((card["agrees_to_print"].astype(str) == "True").sum())
                parts.append(f"<p>{n_print} of {len(card)} reproduced numbers round to the published value at its "
                             "printed precision (column <code>agrees_to_print</code>; what a run on the trial's "
                             "data should show).</p>")
            parts.append(f"<p>{SELECTION_NOTE}</p>")
            numbers = outputs.read_numbers(rdir) if (rdir / "numbers.json").exists() else {}
            if "unselected.all_rows.pass_rate" in numbers:
                n = numbers["unselected.seeds"]
                k = round(numbers["unselected.all_rows.pass_rate"] * n)
                parts.append(f"<p><strong>Unselected draws:</strong> {k} of {n} fresh cohorts of the same generator "
                             "met every row (column <code>unselected_pass_rate</code> gives each row's rate; "
                             "notebook 08).</p>")
        else:
            parts.append(f"<h2>Scorecard: {n_pass} of {len(card)} published numbers reproduced "
                         f"(<a href=\"{_link(nb_name, cell)}\">notebook</a>)</h2>")
        parts.append(card.drop(columns=["source"], errors="ignore").to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                                           classes="scorecard", border=0))
    parts.append("<h2>Notebooks</h2><ul>" + "".join(
        f"<li><a href=\"{n}.html\">{html.escape(n)}</a></li>" for n in notebooks) + "</ul>")
    figs = sorted((rdir / "figures").glob("*.png"))
    parts.append("<h2>Figures</h2><div class=\"thumbs\">")
    for fig in figs:
        nb_name, cell = producer("figure", fig.stem)
        parts.append(f"<figure><a href=\"{_link(nb_name, cell, f'../figures/{fig.name}')}\"><img src=\"../figures/{fig.name}\" "
                     f"alt=\"{fig.stem}\" width=\"320\"></a><figcaption>{html.escape(fig.stem)} "
                     f"(<a href=\"../figures/{fig.stem}.svg\">SVG</a>)</figcaption></figure>")
    parts.append("</div><h2>Tables</h2><ul>")
    for tab in sorted((rdir / "tables").glob("*.csv")):
        nb_name, cell = producer("table", tab.stem)
        extra = "".join(f", <a href=\"../tables/{tab.stem}{ext}\">{ext[1:]}</a>"
                        for ext in (".md", ".tex") if (tab.with_suffix(ext)).exists())
        parts.append(f"<li><a href=\"{_link(nb_name, cell, f'../tables/{tab.name}')}\">{html.escape(tab.stem)}</a> "
                     f"(<a href=\"../tables/{tab.name}\">csv</a>{extra})</li>")
    parts.append("</ul>")
    manifest_path = rdir / "manifest.json"
    if manifest_path.exists():
        man = json.loads(manifest_path.read_text())
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td><code>{v}</code></td></tr>" for k, v in man["inputs"].items())
        parts.append(f"<h2>Provenance</h2><p>git commit <code>{man['git']['commit']}</code>"
                     f"{' (uncommitted changes)' if man['git']['dirty'] else ''}; Python {man['python']}; "
                     f"<a href=\"../manifest.json\">manifest.json</a></p><table>{rows}</table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             ".thumbs{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;width:330px}"
             "img{border:1px solid #ccc}table{border-collapse:collapse;font-size:0.85em}"
             "td,th{padding:2px 8px;border-bottom:1px solid #eee}"
             ".banner{border:2px solid #b00;padding:0.6em;background:#fff3f3}")
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Reproduction report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    return outputs.atomic_write_text(report_dir / "index.html", page)

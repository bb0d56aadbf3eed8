"""The browsable report: every executed notebook as HTML, and an index page.

The index opens with the scorecard in words (measure names, P values as journals print them,
pass / fail / not compared), each row linked to the notebook cell that computed its reproduced
number; then each figure as a thumbnail captioned with its title and each table as a link, both
pointing at the cell that wrote them (the provenance each notebook records); a link to the
article; and the manifest's git commit and input checksums. On raw data every page, notebook
pages included, carries the confidential banner. Links are relative, and no page loads anything
from the network, so the folder can be opened or copied as it is, offline too.
"""

from __future__ import annotations

import functools
import html
import json
import os
from pathlib import Path

import nbformat
import pandas as pd

from .. import params, paths, store
from ..data import codebook
from ..stats import scorecard
from . import disclosure, outputs

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
         ".thumbs{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;width:330px}"
         "img{border:1px solid #ccc}table{border-collapse:collapse;font-size:0.9em}"
         "td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}"
         ".pass{color:#1b7837}.fail{color:#b2182b;font-weight:bold}.nc{color:#777}.pass,.fail,.nc{white-space:nowrap}"
         ".banner{border:2px solid #b00;padding:0.6em;background:#fff3f3}")
VERDICT = {scorecard.PASS: ("&#10003; pass", "pass"), scorecard.FAIL: ("&#10007; fail", "fail"),
           scorecard.NOT_COMPARED: ("not compared", "nc")}


def banner_html(source: str) -> str:
    """The confidential banner of raw-data pages ('' for the synthetic cohort)."""
    if not paths.is_real(source):
        return ""
    return (f"<p class=\"banner\"><strong>{disclosure.CONFIDENTIAL}</strong> Every count and group statistic "
            "passed the disclosure control (trustlib.publish.disclosure): cells of fewer than <code>min_cell_size</code> "
            "people, and cells that would give them back, read <em>suppressed</em>; no clinician is plotted and no "
            "clinic is named. Row-level tables stay in <code>private/</code>, which this report does not link. "
            "Share only after the data owner's review.</p>")


# nbconvert's lab page without the three scripts it loads from a CDN (cdnjs): require.js (for
# widgets and JavaScript outputs), MathJax (for TeX in markdown) and mermaid (for diagrams). The
# notebooks have none of these, and a page of a confidential report should not call out when opened.
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


class _Highlighted(str):
    """A code cell's source as pygments highlights it: every character of the source escaped."""


@functools.lru_cache(maxsize=1)
def _exporter():
    """nbconvert's lab exporter, with :data:`PAGE_TEMPLATE` (no scripts from the network), and
    without its bleach pass (``clean_html``) over code cells as pygments highlights them: pygments
    escapes the source, so that pass returned them unchanged and took a fifth of the rendering
    time. Every other use of the filter is nbconvert's; but for the three scripts, the pages are
    those of the stock exporter, byte for byte (tested)."""
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.strings import clean_html

    highlight = Highlight2HTML(pygments_lexer="ipython3")

    def highlight_code(source, language=None, metadata=None):
        return _Highlighted(highlight(source, language, metadata))

    def clean(element):
        return element if type(element) is _Highlighted else clean_html(element)

    return HTMLExporter(template_name="lab", template_file="report.html.j2",
                        extra_loaders=[jinja2.DictLoader({"report.html.j2": PAGE_TEMPLATE})],
                        filters={"highlight_code": highlight_code, "clean_html": clean})


def render_notebook(path: Path, report_dir: Path, source: str) -> nbformat.NotebookNode:
    """Write ``report_dir/<notebook>.html`` for one executed notebook; return the notebook. On raw
    data (``source``, the run's data source, passed down: never read back from the notebook) the
    page carries the banner.

    The runner calls this as each notebook finishes, while the others still run."""
    nb = nbformat.read(path, as_version=4)
    body, _ = _exporter().from_notebook_node(relink_docs(nb, "report"))
    banner = banner_html(source)
    if banner:
        body = body.replace("<body", "<style>.banner{border:2px solid #b00;padding:0.6em;background:#fff3f3;"
                                     "margin:1em}</style><body", 1)
        i = body.index(">", body.index("<body")) + 1
        body = body[:i] + banner + body[i:]
    store.atomic_write_text(Path(report_dir) / f"{Path(path).stem}.html", body)
    return nb


DOC_LINK_PLACES = ("notebooks", "results", "report")


def doc_link(doc: Path, place: str) -> str:
    """The link to ``doc`` (one of :data:`trustlib.paths.REPORT_DOCS`) from a notebook in
    ``place``: ``notebooks`` (the repository's notebooks/: ``../docs/glossary.md``), ``results``
    (a results folder's notebooks/, the executed notebooks: ``../report/glossary.html``) or
    ``report`` (the report's page of the notebook: ``glossary.html``)."""
    return {"notebooks": os.path.relpath(doc, paths.NOTEBOOKS), "results": f"../report/{doc.stem}.html",
            "report": f"{doc.stem}.html"}[place]


def relink_docs(nb: nbformat.NotebookNode, place: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose markdown links to the docs the report carries
    (:data:`trustlib.paths.REPORT_DOCS`), written for any place of :func:`doc_link`, point at them
    from ``place``: the executed notebooks link the report's pages beside them, and so do the
    report's pages (:func:`write_docs`), so that a results folder stands on its own; the
    committed notebooks link docs/. Other links are left as they are."""
    import copy
    import re

    known = {}
    for doc in paths.REPORT_DOCS:
        known[doc.resolve()] = doc
        known.update({doc_link(doc, where): doc for where in DOC_LINK_PLACES if where != "notebooks"})

    def relink(match):
        target, hash_, anchor = match.group(2).partition("#")
        doc = None
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):
            doc = known.get(target) or known.get((paths.NOTEBOOKS / target).resolve())
        return f"{match.group(1)}({doc_link(doc, place)}{hash_}{anchor})" if doc else match.group(0)

    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"(\]\s*)\(([^)\s]+)\)", relink, cell.source)
    return out


def write_docs(report_dir: Path, source: str = "synthetic") -> list[Path]:
    """Write a page of each doc the report carries (:data:`trustlib.paths.REPORT_DOCS`, Markdown)
    into ``report_dir``, with the confidential banner on raw data as every page of that report;
    return the pages."""
    import mistune

    written = []
    for doc in paths.REPORT_DOCS:
        body = mistune.html(doc.read_text(encoding="utf-8"))
        page = Path(report_dir) / f"{doc.stem}.html"
        store.atomic_write_text(page, f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{doc.stem.capitalize()}</title>"
                                        f"<style>{STYLE}</style></head><body>{banner_html(source)}{body}</body></html>\n")
        written.append(page)
    return written


def render_notebooks(results: Path, report_dir: Path, rendered=(), source: str = "synthetic"
                     ) -> dict[str, nbformat.NotebookNode]:
    """Write ``<notebook>.html`` for every executed notebook not named in ``rendered`` (already
    written by :func:`render_notebook` in this run, or carried); return all the notebooks by name."""
    notebooks = {}
    for path in sorted(Path(results, "notebooks").glob("*.ipynb")):
        done = path.stem in rendered or (Path(report_dir) / f"{path.stem}.html").exists()
        notebooks[path.stem] = nbformat.read(path, as_version=4) if done else render_notebook(path, report_dir, source)
    return notebooks


class Links:
    """Where each output and each number of a results folder was made: the notebook and the id of
    the cell, from the digests of the cells' sources each notebook's provenance records."""

    def __init__(self, results: Path):
        self.files: dict[str, tuple[str, str]] = {}
        self.numbers: dict[str, tuple[str, str]] = {}
        self.titles: dict[str, str] = {}
        for prov in sorted(Path(results, "provenance").glob("*.json")):
            record = json.loads(prov.read_text())
            nb_path = Path(results, "notebooks", f"{prov.stem}.ipynb")
            if "notebook" not in record or not nb_path.exists():
                continue
            ids = {outputs.cell_digest(c.source): c.get("id", "") for c in nbformat.read(nb_path, as_version=4).cells
                   if c.cell_type == "code"}
            for f, digest in record.get("cells", {}).items():
                self.files[f] = (prov.stem, ids.get(digest, ""))
            for k, digest in record.get("number_cells", {}).items():
                self.numbers[k] = (prov.stem, ids.get(digest, ""))
            self.titles.update(record.get("titles", {}))

    @staticmethod
    def href(where: tuple[str, str] | None, fallback: str = "index.html") -> str:
        """Link (from the report folder) to a cell, or ``fallback`` when nothing made it."""
        if not where:
            return fallback
        notebook, cell_id = where
        return f"{notebook}.html#cell-id={cell_id}" if cell_id else f"{notebook}.html"

    def file(self, path: str, fallback: str = "index.html") -> str:
        return self.href(self.files.get(path), fallback)

    def number(self, key: str, fallback: str = "index.html") -> str:
        return self.href(self.numbers.get(key), fallback)


def scorecard_html(card: pd.DataFrame, links: Links, rates: pd.DataFrame | None) -> str:
    """The scorecard in words (:func:`trustlib.stats.scorecard.display`), each reproduced number linked
    to the cell that computed it."""
    shown = scorecard.display(card, rates)
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns) + "</tr>"
    rows = []
    for (_, r), key in zip(shown.iterrows(), card["reproduced_key"]):
        cells = []
        for col, value in r.items():
            text = html.escape(str(value))
            if col in ("consistent", "to print"):
                word, cls = VERDICT[value]
                cells.append(f"<td class=\"{cls}\">{word}</td>")
            elif col == "reproduced":
                cells.append(f"<td><a href=\"{links.number(key)}\">{text}</a></td>")
            else:
                cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"scorecard\">{head}{''.join(rows)}</table>"


def _what_the_scorecard_shows(fails: bool, changed: bool) -> str:
    """What a synthetic run's scorecard can say, given whether rows fail and whether the run's
    parameters are the ones the cohort was selected under."""
    if changed:
        return ("The selection was made under the canonical parameters, not this run's, so here the scorecard "
                "shows how this run's choices move the numbers")
    if fails:
        return ("Under the parameters it was selected with, rows now fail: the pipeline no longer computes the "
                "numbers the selection met")
    return ("So on these data the scorecard shows that the selection holds and that the pipeline still computes the "
            "same numbers")


def headline(source: str, card: pd.DataFrame, numbers: dict, changed: dict | None = None) -> str:
    """The scorecard's heading and the account of the cohort's selection, from the same counts;
    ``changed``: the run's parameters that differ from params/pipeline.yml (named when any)."""
    c = scorecard.counts(card)
    fails = ", ".join(scorecard.label(r.key, r.measure, r.quantity) for r in scorecard.failures(card).itertuples())
    hidden = f" ({c['n_not_compared']} suppressed, not compared)" if c["n_not_compared"] else ""
    parts = [f"<h2>Scorecard: {c['n_passed']} of {c['n_compared']} compared published numbers consistent with the paper{hidden}</h2>"]
    if fails:
        parts.append(f"<p>Not consistent with the paper: {html.escape(fails)}.</p>")
    if changed:
        parts.append(f"<p><strong>This run's parameters are not those of "
                     f"{html.escape(paths.relative(paths.PIPELINE_PARAMS))}:</strong> "
                     f"{html.escape(params.parameter_words(changed))}.</p>")
    if source == "synthetic":
        searched = numbers.get("unselected.searched_seeds")
        seeds, joint = numbers.get("unselected.seeds"), numbers.get("unselected.all_rows.pass_rate")
        selection = (f"its seed is the first of the {searched:,} the calibration tried whose cohort met every row "
                     "under the rules the scorecard applies now" if searched else "its seed was selected")
        parts.append(f"<p><strong>The data behind this report are synthetic.</strong> The cohort was selected to "
                     f"match these numbers: its generator was tuned to the published marginals, and {selection} "
                     f"(data/synthetic/CALIBRATION.md). {_what_the_scorecard_shows(bool(fails), bool(changed))}; it "
                     "cannot show that the pipeline reproduces the paper, which only the trial's data could."
                     + (f" Of {seeds} fresh, unselected cohorts of the same generator, {round(joint * seeds)} met "
                        "every row (last column: each row's rate; notebook 08)." if seeds and joint is not None
                        else "") + "</p>")
    parts.append(f"<p>Consistent means within each row's stated rule (column <em>rule</em>). The stricter test, "
                 f"rounding to the published value at its printed precision (column <em>to print</em>), is met by "
                 f"{c['n_agree_to_print']} of {c['n_compared']}: what a run on the trial's own data should show.</p>")
    return "".join(parts)


def build(results: Path, cfg, rendered=(), notebooks: dict | None = None) -> Path:
    """Render the report of the results folder ``results`` into its ``report/``; return index.html.

    ``cfg``: the run's :class:`trustlib.run.config.RunConfig` (its data source); ``rendered`` names
    notebooks whose page this run has already written (:func:`render_notebook`); ``notebooks``,
    what :func:`render_notebooks` returned if every page is written already."""
    rdir = Path(results)
    source = cfg.data_source
    report_dir = rdir / "report"
    if notebooks is None:
        notebooks = render_notebooks(rdir, report_dir, rendered, source)
    write_docs(report_dir, source)
    links = Links(rdir)
    numbers = store.read_numbers(rdir) if (rdir / "numbers.json").exists() else {}
    parts = [f"<h1>Where Trust Flourishes: reproduction report ({html.escape(source)} data)</h1>", banner_html(source),
             "<p>Read the results as an article: <a href=\"../article/index.html\">HTML</a>, "
             "<a href=\"../article/article.pdf\">PDF</a>. Statistical terms: <a href=\"glossary.html\">glossary</a>.</p>"]
    card_path = rdir / "scorecard.csv"
    if card_path.exists():
        card = store.read_table(card_path)
        rates_path = rdir / "tables" / "unselected_pass_rates.csv"
        rates = store.read_table(rates_path) if source == "synthetic" and rates_path.exists() else None
        parts += [headline(source, card, numbers, params.non_default(cfg.parameters())),
                  scorecard_html(card, links, rates),
                  f"<p>Computed in <a href=\"{links.file('scorecard.csv')}\">notebook 05</a>; each reproduced "
                  "number links to the cell that computed it.</p>"]
    parts.append("<h2>Notebooks</h2><ul>" + "".join(
        f"<li><a href=\"{n}.html\">{html.escape(n)}</a></li>" for n in notebooks) + "</ul>")
    parts.append("<h2>Figures</h2><div class=\"thumbs\">")
    for fig in sorted((rdir / "figures").glob("*.png")):
        rel = f"figures/{fig.name}"
        caption = links.titles.get(rel) or fig.stem
        parts.append(f"<figure><a href=\"{links.file(rel, f'../figures/{fig.name}')}\"><img src=\"../figures/{fig.name}\" "
                     f"alt=\"{html.escape(caption)}\" width=\"320\"></a><figcaption>{html.escape(caption)} "
                     f"(<a href=\"../figures/{fig.stem}.svg\">SVG</a>, <a href=\"../figures/{fig.stem}.csv\">data</a>)"
                     "</figcaption></figure>")
    parts.append("</div><h2>Tables</h2><ul>")
    for tab in sorted((rdir / "tables").glob("*.csv")):
        rel = f"tables/{tab.name}"
        extra = "".join(f", <a href=\"../tables/{tab.stem}{ext}\">{ext[1:]}</a>"
                        for ext in (".md", ".tex") if (tab.with_suffix(ext)).exists())
        parts.append(f"<li><a href=\"{links.file(rel, f'../{rel}')}\">{html.escape(tab.stem)}</a> "
                     f"(<a href=\"../{rel}\">csv</a>{extra})</li>")
    parts.append("</ul>")
    man_path = rdir / "manifest.json"
    if man_path.exists():
        man = json.loads(man_path.read_text())
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td><code>{v}</code></td></tr>" for k, v in man["inputs"].items())
        runs = ", ".join(f"{n} {s['run']}" for n, s in man.get("steps", {}).items())
        parts.append(f"<h2>Provenance</h2><p>git commit <code>{man['git']['commit']}</code>"
                     f"{' (uncommitted changes)' if man['git']['dirty'] else ''}; Python {man['python']}; "
                     f"<a href=\"../manifest.json\">manifest.json</a>. Steps: {html.escape(runs)}.</p>"
                     f"<table>{rows}</table>")
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Reproduction report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    return store.atomic_write_text(report_dir / "index.html", page)

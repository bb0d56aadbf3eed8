"""One self-contained, offline folder of a run: ``<results>/site/``, ready to publish as static pages.

It holds the run's report (with a page per executed notebook and the glossary), the article
(HTML, PDF, Markdown), the figures, the tables, ``numbers.json``, the scorecard and the
manifest, laid out as in the results folder so every link of the report and the article holds;
the docs (``docs/*.md`` and CONTRIBUTING) as HTML pages in ``site/docs/``; and a first page,
``site/index.html``, with the run's scorecard line, Figure 2 and links to all of it.

**Every link stays inside the folder and nothing loads from the network.** In the docs' pages a
link to another doc, the README, a notebook or a results page points at its page in the site;
a link to a web page or to a repository file the site does not carry becomes its text (a web
address shown after it), so a page never sends its reader, or the browser, outside the folder.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from pathlib import Path

from .. import paths, store

CARRIED = ("report", "article", "figures", "tables", "numbers.json", "scorecard.csv", "manifest.json")
DOCS_PAGES = {"CONTRIBUTING.md": "contributing"}      # repository files besides docs/*.md shown as doc pages
STYLE = ("body{font-family:sans-serif;max-width:900px;margin:2em auto;padding:0 1em;line-height:1.45}"
         "table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd}img{max-width:100%}"
         "code,pre{font-size:0.9em}")


def doc_sources() -> dict[Path, str]:
    """Repository Markdown file -> its page's name (without .html) in ``site/docs/``."""
    out = {p: p.stem for p in sorted((paths.ROOT / "docs").glob("*.md"))}
    out.update({paths.ROOT / name: stem for name, stem in DOCS_PAGES.items() if (paths.ROOT / name).exists()})
    return out


def _target(path: Path, pages: dict[Path, str]) -> str | None:
    """The page in the site (relative to ``site/docs/``) that stands for a repository ``path``,
    or None when the site does not carry it."""
    path = Path(os.path.normpath(path))
    if path in pages:
        return f"{pages[path]}.html"
    if path == paths.README:
        return "../index.html"
    rel = path.relative_to(paths.ROOT).as_posix() if path.is_relative_to(paths.ROOT) else ""
    if rel.startswith("notebooks/") and rel.endswith(".ipynb"):
        return f"../report/{Path(rel).stem}.html"
    for prefix in (f"{name}/" for name in paths.RESULTS_NAMES.values()):
        if rel.startswith(prefix) and rel[len(prefix):].split("/")[0] in CARRIED:
            return "../" + rel[len(prefix):]
    return None


LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)


def relink(body: str, doc: Path, pages: dict[Path, str], site: Path) -> str:
    """The HTML ``body`` of ``doc`` with each link pointing inside the site, or made text."""
    def one(m: re.Match) -> str:
        href, text = html.unescape(m.group(1)), m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", href):                   # a web page: its address as text
            return f"{text} (<code>{html.escape(href)}</code>)" if href not in text else text
        target, _, anchor = href.partition("#")
        if not target:
            return m.group(0)
        page = _target(doc.parent / target, pages)
        if page and (site / "docs" / page).resolve().is_relative_to(site.resolve()):
            return f'<a href="{html.escape(page)}{"#" + anchor if anchor else ""}">{text}</a>'
        return text
    return LINK.sub(one, body)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def _index(site: Path, pages: dict[Path, str]) -> str:
    from ..stats import scorecard

    parts = ["<h1>Where Trust Flourishes: a step-by-step reproduction</h1>",
             "<p>A reproduction of Linzer et al., <em>Where Trust Flourishes</em> (Ann Fam Med 2021): which perceived "
             "organizational-culture traits go with clinicians who trust their organization and are trusted by their "
             "patients. This folder is one run of it, browsable offline.</p>"]
    if (site / "scorecard.csv").exists():
        parts.append(f"<p><strong>Scorecard:</strong> {html.escape(scorecard.summary(store.read_table(site / 'scorecard.csv')))}"
                     " (<a href=\"report/index.html\">every row</a>).</p>")
    if (site / "figures" / "figure2_forest.png").exists():
        parts.append('<p><img src="figures/figure2_forest.png" alt="Figure 2: adjusted two-level odds ratios, '
                     'reproduced and published"></p>')
    parts.append("<h2>Read</h2><ul>"
                 + ("<li><a href=\"article/index.html\">The reproduction article</a> "
                    "(<a href=\"article/article.pdf\">PDF</a>)</li>" if (site / "article" / "index.html").exists() else "")
                 + "<li><a href=\"report/index.html\">The report</a>: the scorecard, the figures, the tables</li></ul>")
    notebooks = sorted(p for p in (site / "report").glob("[0-9][0-9]_*.html"))
    if notebooks:
        parts.append("<h2>Notebooks</h2><ul>" + "".join(
            f"<li><a href=\"report/{p.name}\">{html.escape(p.stem)}</a></li>" for p in notebooks) + "</ul>")
    parts.append("<h2>Docs</h2><ul>" + "".join(
        f"<li><a href=\"docs/{stem}.html\">{html.escape(stem)}</a></li>" for stem in sorted(pages.values())) + "</ul>")
    return _page("Where Trust Flourishes: a reproduction", "".join(parts))


def _add_home_link(page: Path, site: Path) -> None:
    """Put a link to the site's first page at the top of ``page``."""
    home = os.path.relpath(site / "index.html", page.parent)
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"(<body[^>]*>)", lambda m: f'{m.group(1)}<p style="font-family:sans-serif;font-size:0.9em">'
                  f'<a href="{home}">&larr; the site\'s first page</a></p>', text, count=1)
    store.atomic_write_text(page, text)


def build(results: Path) -> Path:
    """Write ``results/site/`` from the run in ``results`` (replacing an earlier site in one
    step); return its ``index.html``."""
    import mistune

    results = Path(results)
    final = results / "site"
    stage = Path(tempfile.mkdtemp(prefix=".site-", dir=results))
    try:
        for name in CARRIED:
            src = results / name
            if src.is_dir():
                shutil.copytree(src, stage / name)
            elif src.is_file():
                shutil.copy2(src, stage / name)
        pages = doc_sources()
        store.make_folder(stage / "docs")
        for doc, stem in pages.items():
            text = doc.read_text(encoding="utf-8")
            title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), stem)
            body = relink(mistune.html(text), doc, pages, stage)
            store.atomic_write_text(stage / "docs" / f"{stem}.html", _page(title, body))
        for page in sorted(stage.rglob("*.html")):      # every page leads back to the first one
            _add_home_link(page, stage)
        store.atomic_write_text(stage / "index.html", _index(stage, pages))
        old = results / ".site-old"
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final / "index.html"

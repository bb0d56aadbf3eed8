"""`make site`: the run as one offline folder. Built from a copy of the run's results, every page
is walked: every href and src resolves to a file inside the folder (anchors included), and no
page loads anything from the network."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from test_report import _parse
from trustlib import paths
from trustlib.publish import site
from trustlib.run.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    results = paths.results_dir("synthetic")
    if not (results / "report" / "index.html").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    copy = tmp_path_factory.mktemp("site") / "results"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("site", ".*"))
    index = site.build(copy)
    assert index == copy / "site" / "index.html"
    return copy / "site"


def _pages(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.html"))


def test_the_site_holds_the_report_the_article_every_notebook_and_the_docs(built):
    names = {p.relative_to(built).as_posix() for p in _pages(built)}
    assert {"index.html", "report/index.html", "article/index.html", "docs/glossary.html", "docs/methods.html",
            "docs/contributing.html"} <= names
    assert {f"report/{p.stem}.html" for p in paths.NOTEBOOKS.glob("0[1-9]_*.ipynb")} <= names
    assert {f"docs/{p.stem}.html" for p in (paths.ROOT / "docs").glob("*.md")} <= names
    assert (built / "article" / "article.pdf").is_file()


def test_every_link_resolves_inside_the_site(built):
    root = built.resolve()
    broken = []
    for page in _pages(built):
        parsed = _parse(page)
        for tag, ref in parsed.refs:
            url = urlparse(ref)
            if url.scheme == "data" and tag != "a":
                continue
            if url.scheme or url.netloc:
                broken.append(f"{page.relative_to(built)}: {tag} leaves the site: {ref[:80]}")
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page.resolve()
            if not target.is_relative_to(root) or not target.is_file():
                broken.append(f"{page.relative_to(built)}: {tag} {ref} does not resolve inside the site")
            elif url.fragment and target.suffix == ".html" and not {url.fragment, unquote(url.fragment)} & _parse(target).ids:
                # a browser matches the fragment as written, then percent-decoded (nbconvert's heading ids are encoded)
                broken.append(f"{page.relative_to(built)}: anchor {ref} not found")
    assert broken == [], "\n".join(broken[:20])


def test_every_page_leads_back_to_the_first_one(built):
    for page in _pages(built):
        if page != built / "index.html":
            targets = {(page.parent / ref).resolve() for tag, ref in _parse(page).refs if tag == "a"}
            assert (built / "index.html").resolve() in targets, page


def test_no_page_loads_from_the_network(built):
    for page in _pages(built):
        text = page.read_text(encoding="utf-8")
        loads = re.findall(r"""(?:src|@import|url\()\s*=?\s*["']?\s*(?:https?:)?//""", text)
        assert loads == [] and "<script" not in text.lower().replace("<script type=\"application/json\"", ""), page


def test_a_docs_link_to_a_web_page_or_an_uncarried_file_becomes_text(tmp_path):
    pages = site.doc_sources()
    doc = paths.ROOT / "docs" / "methods.md"
    body = ('<a href="parameters.md#x">params</a> <a href="https://example.org/">site</a> '
            '<a href="../trustlib/stats/glmm.py">code</a> <a href="../README.md">readme</a> '
            '<a href="../notebooks/03_model_culture_and_trust.ipynb">nb</a>')
    out = site.relink(body, doc, pages, tmp_path)
    assert out == ('<a href="parameters.html#x">params</a> site (<code>https://example.org/</code>) code '
                   '<a href="../index.html">readme</a> <a href="../report/03_model_culture_and_trust.html">nb</a>')


def test_make_site_needs_a_run(tmp_path, capsys):
    assert main(["site"], root=tmp_path) == 2
    assert "run `make all` first" in capsys.readouterr().err

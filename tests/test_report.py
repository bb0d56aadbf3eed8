"""The HTML report: every link and image resolves, anchors included."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from trustlib import paths, steps

REPORT = paths.result("synthetic", "report")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append((tag, a[key]))


def _parse(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def index():
    path = REPORT / "index.html"
    if not path.exists():
        pytest.fail("results/report/index.html is missing: run `make all` before the tests")
    return path


def assert_links_resolve(page: Path) -> None:
    """Every href and src of ``page`` is a relative path to an existing file, anchors included."""
    parsed = _parse(page)
    assert parsed.refs, f"{page.name} has no links"
    anchors = {}
    for tag, ref in parsed.refs:
        url = urlparse(ref)
        assert not url.scheme and not url.netloc, f"external link {ref}"
        target = (page.parent / unquote(url.path)).resolve()
        assert target.is_file(), f"broken {tag} reference {ref}"
        if url.fragment:
            if target not in anchors:
                anchors[target] = _parse(target).ids
            assert unquote(url.fragment) in anchors[target], f"anchor #{url.fragment} not in {target.name}"


def test_every_link_and_image_resolves(index):
    assert_links_resolve(index)


def test_every_relative_link_of_the_notebook_pages_stays_in_the_results_folder(index):
    """The notebooks link the glossary relative to notebooks/ (``../docs/glossary.md``); their
    pages link the report's own copy, so the results folder can be copied as it is; and every
    page loads only what is in it (an image as a data: URI or a file; no script from the web)."""
    results = index.parent.parent.resolve()
    for name in steps.ANALYSIS:
        page = index.parent / f"{name}.html"
        refs = _parse(page).refs
        loaded = [(tag, ref[:40]) for tag, ref in refs if tag != "a" and urlparse(ref).scheme not in ("", "data")]
        assert loaded == [] and "<script" not in page.read_text(), page.name
        local = [(tag, ref) for tag, ref in refs
                 if not (urlparse(ref).scheme or urlparse(ref).netloc or ref.startswith("#"))]
        assert ("a", "glossary.html") in local, page.name
        for tag, ref in local:
            target = (page.parent / unquote(urlparse(ref).path)).resolve()
            assert target.is_file() and results in target.parents, f"{page.name}: {tag} {ref} outside {results.name}/"


def test_the_report_carries_the_glossary_as_a_page(index):
    page = (index.parent / "glossary.html").read_text()
    source = (paths.ROOT / "docs" / "glossary.md").read_text()
    terms = re.findall(r"^\*\*([^*]+)\*\*", source, flags=re.M)
    assert len(terms) > 10 and all(f"<strong>{html.escape(t, quote=False)}</strong>" in page for t in terms)


def test_links_to_the_glossary_point_at_the_copy_beside_each_place():
    """The committed notebooks link docs/glossary.md, the executed ones (in a results folder's
    notebooks/) the report's page, and the report's pages the page beside them; from any form to
    any, other links untouched, and back again."""
    import nbformat

    from trustlib.publish import report

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("[terms](../docs/glossary.md#gee), [web](https://example.org/a), "
                                              "[here](#top), [other](../docs/methods.md), [gone](../docs/missing.md)"),
                nbformat.v4.new_code_cell("# [not a link](../docs/glossary.md)")]
    rest = ", [web](https://example.org/a), [here](#top), [other](../docs/methods.md), [gone](../docs/missing.md)"
    executed = report.relink_docs(nb, "results")
    assert executed.cells[0].source == "[terms](../report/glossary.html#gee)" + rest
    page = report.relink_docs(executed, "report")
    assert page.cells[0].source == "[terms](glossary.html#gee)" + rest
    assert report.relink_docs(nb, "report").cells[0].source == page.cells[0].source
    assert report.relink_docs(page, "notebooks").cells[0].source == nb.cells[0].source
    assert report.relink_docs(executed, "notebooks").cells[0].source == nb.cells[0].source
    assert all(c.cells[1].source == nb.cells[1].source for c in (executed, page))
    assert nb.cells[0].source.startswith("[terms](../docs/glossary.md#gee)")    # the notebook itself is unchanged


def test_every_relative_link_of_the_executed_notebooks_stays_in_the_results_folder(index):
    """The executed notebooks (results/notebooks/) link the report's glossary page: the results
    folder, copied as it is, has every page its notebooks link."""
    import nbformat

    results = index.parent.parent.resolve()
    for name in steps.ANALYSIS:
        path = results / "notebooks" / f"{name}.ipynb"
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        local = [t for t in re.findall(r"\]\s*\(([^)\s]+)\)", text)
                 if not (urlparse(t).scheme or urlparse(t).netloc or t.startswith("#"))]
        assert "../report/glossary.html" in local, name
        for ref in local:
            target = (path.parent / unquote(urlparse(ref).path)).resolve()
            assert target.is_file() and results in target.parents, f"{name}.ipynb: {ref} outside {results.name}/"


def test_a_refreshed_notebook_links_docs_again(tmp_path):
    """`make notebooks` copies executed notebooks into notebooks/: their links go back to docs/."""
    import nbformat

    from trustlib.publish import report
    from trustlib.run import pipeline

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Terms: [glossary](../report/glossary.html).")]
    nbformat.write(nb, tmp_path / "executed.ipynb")
    pipeline._without_injected(tmp_path / "executed.ipynb", tmp_path / "committed.ipynb")
    assert nbformat.read(tmp_path / "committed.ipynb", as_version=4).cells[0].source == \
        "Terms: [glossary](../docs/glossary.md)."
    assert report.doc_link(paths.REPORT_DOCS[0], "notebooks") == "../docs/glossary.md"


def test_scorecard_comes_first_and_provenance_last(index):
    text = index.read_text()
    assert text.index("Scorecard") < text.index("Figures") < text.index("Provenance")
    card = pd.read_csv(paths.result("synthetic", "scorecard.csv"))
    passed, compared = int((card["verdict"] == "pass").sum()), int((card["verdict"] != "not compared").sum())
    assert f"Scorecard: {passed} of {compared} compared published numbers consistent with the paper" in text
    assert "synthetic" in text and "selected to match these numbers" in text


def test_every_figure_is_a_thumbnail_linked_to_its_notebook_cell(index):
    parsed = _parse(index)
    images = [ref for tag, ref in parsed.refs if tag == "img"]
    figures = sorted(p.name for p in paths.result("synthetic", "figures").glob("*.png"))
    assert sorted(Path(i).name for i in images) == figures
    cell_links = [ref for tag, ref in parsed.refs if tag == "a" and "#cell-id=" in ref]
    assert len(cell_links) >= len(figures)


def test_each_table_and_figure_links_to_the_cell_that_writes_it():
    """The cell a link names writes the file: its source names the table or figure (a figure
    named per measure by its stem without the measure)."""
    import nbformat

    from trustlib.publish import report

    results = paths.results_dir("synthetic")
    links = report.Links(results)
    checked = 0
    for f, (notebook, cell_id) in links.files.items():
        if not f.startswith(("tables/", "figures/")):
            continue
        cells = {c.get("id"): c.source for c in nbformat.read(results / "notebooks" / f"{notebook}.ipynb",
                                                              as_version=4).cells}
        source, stem = cells.get(cell_id, ""), Path(f).stem
        assert f'"{stem}' in source or f'"{stem.rsplit("_", 1)[0]}_' in source, f"{f} links to cell {cell_id}"
        checked += 1
    assert checked >= 30


def test_the_headline_says_what_the_scorecard_can_show_for_this_run():
    from conftest import card_where
    from trustlib.publish import report

    numbers = {"unselected.searched_seeds": 10}
    canonical = report.headline("synthetic", card_where(), numbers, {})
    assert "the selection holds" in canonical and "not those of" not in canonical
    failing = report.headline("synthetic", card_where({"n_high_high": 41}), numbers, {})
    assert "the selection holds" not in failing and "rows now fail" in failing
    changed = report.headline("synthetic", card_where({"n_high_high": 41}), numbers, {"cutoff_rule": "above"})
    assert "This run's parameters are not those of params/pipeline.yml:</strong> cutoff_rule=above." in changed
    assert "the selection holds" not in changed and "not this run's" in changed


def test_notebook_pages_are_those_of_nbconvert_lab_exporter_byte_for_byte():
    """The report's exporter skips nbconvert's bleach pass over highlighted code, and only that:
    a page is the stock exporter's (with the report's template: no scripts from the network),
    code that looks like markup included, with markdown and outputs as the stock exporter leaves them."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    from trustlib.publish import report

    nb = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# Title <script>alert(1)</script> & <b>bold</b>"),
                nbformat.v4.new_code_cell('html = "<script>alert(1)</script>" if a < b and c > d else \'&amp;\'\n'
                                          "%timeit x  # magic, <tag> & 'quotes'\n"),
                nbformat.v4.new_code_cell("df", execution_count=2, outputs=[nbformat.v4.new_output(
                    "execute_result", {"text/html": "<table><tr><td onclick=\"x()\">1</td></tr></table><script>y()</script>",
                                       "text/plain": "1"}, execution_count=2)]),
                nbformat.v4.new_code_cell("")]
    ours, _ = report._exporter().from_notebook_node(nb)
    stock, _ = HTMLExporter(template_name="lab", template_file="report.html.j2",
                            extra_loaders=[jinja2.DictLoader({"report.html.j2": report.PAGE_TEMPLATE})]
                            ).from_notebook_node(nb)
    assert ours == stock
    code = ours.split("<body", 1)[1].split('class="highlight hl-ipython3"')[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in code and "&lt;tag&gt; &amp; " in code   # escaped by pygments


def test_a_notebook_page_loads_nothing_from_the_network_and_differs_from_nbconvert_by_that_only():
    """nbconvert's lab page loads require.js, MathJax and mermaid from cdnjs; the report's page
    is the same page without those scripts (and mermaid's style), so it opens offline and a
    confidential report does not call out when opened."""
    import nbformat
    from nbconvert import HTMLExporter

    from trustlib.publish import report

    nb = nbformat.read(paths.notebook("02_describe_sample"), as_version=4)
    ours, _ = report._exporter().from_notebook_node(nb)
    stock, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    network = re.compile(r"""(?:src=|import\(|url\()\s*["']?(?:https?:)?//""")
    assert network.search(stock) and not network.search(ours) and "<script" not in ours
    extra = re.compile(r"<script.*?</script>|<!--.*?-->|<style>[^<]*jp-Mermaid[^<]*</style>", re.S)
    squeeze = lambda page: re.sub(r"\s+", " ", extra.sub("", page))  # noqa: E731
    assert squeeze(ours) == squeeze(stock)

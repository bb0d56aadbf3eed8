"""The reproduction article: every number in its prose is filled from numbers.json by key, a
missing key stops the build, and (after `make all`) every link and image resolves."""

from __future__ import annotations

import re

import pytest

from trustlib import article, paths


def test_placeholders_are_filled_from_numbers_and_marked_with_their_key():
    numbers = {"a.n": 162, "a.share": 0.3395, "a.p": 0.0004, "a.or": 4.7418}
    text = "n=[[a.n|d]], [[a.share|%]], P [[a.p|p]], OR [[a.or|.2f]]"
    assert article.render(text, numbers, markup=False) == "n=162, 34%, P < .001, OR 4.74"
    marked = article.render(text, numbers, markup=True)
    assert marked.count('<span class="n" data-key=') == 4 and 'data-key="a.or">4.74</span>' in marked


def test_a_missing_key_stops_the_build_and_names_it():
    with pytest.raises(article.MissingNumber, match=r"\['b\.missing'\]"):
        article.render("[[a.n|d]] and [[b.missing|.2f]]", {"a.n": 1}, markup=False)


def test_a_typed_number_is_found_and_identifiers_are_not():
    page = article.render("<p>We modelled 162 of [[a.n|d]] clinicians (Table 2, 95% CI).</p>", {"a.n": 165}, True)
    assert article.numbers_in_text(page) == ["162"]


def test_the_raw_article_names_no_synthetic_only_number_and_carries_the_banner():
    """In raw mode the article leaves out the synthetic generator's numbers and says it is
    confidential (every key it names must still be written by the run, or the build stops)."""
    keys = set(article.PLACEHOLDER.findall(article.template("synthetic", {})))
    raw_keys = set(article.PLACEHOLDER.findall(article.template("raw", {})))
    assert raw_keys < keys and not any(k.startswith("unselected.") for k, _ in raw_keys)
    assert "Confidential" in article.template("raw", {}) and "synthetic cohort" in article.template("synthetic", {})


@pytest.fixture(scope="module")
def page():
    path = paths.result("synthetic", "article", "index.html")
    if not path.exists():
        pytest.fail("results/article/index.html is missing: run `make all` before the tests")
    return path


@pytest.mark.acceptance
def test_the_built_article_has_no_hand_typed_number(page):
    assert article.numbers_in_text(page.read_text()) == []
    md = page.with_name("index.md").read_text()
    assert "[[" not in md and "## Robustness and the Monte Carlo check" in md


@pytest.mark.acceptance
def test_every_link_and_image_in_the_article_resolves(page):
    from test_report import assert_links_resolve

    assert_links_resolve(page)
    text = page.read_text()
    assert re.search(r'<img src="\.\./figures/figure2_forest\.png"', text)
    for section in ("The original claims", "Data", "Methods", "Results", "What differs, and why", "Limitations"):
        assert f">{section}</h2>" in text

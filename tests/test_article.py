"""The reproduction article: every number is filled from numbers.json by key (a missing key stops
the build), its prose follows the run's configuration and scorecard, and the PDF says what the
HTML says."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest

from conftest import card_where as _card
from trustlib import paths, store
from trustlib.publish import article, prose, typeset
from trustlib.run import config as run_config, manifest

ALLOWED = [r"Table [1-5]", r"Figure [123]", r"95%", r"0-100", r"1-4", r"P < \.05", r"OR > 1", r"1-point",
           r"Ann Fam Med 2021;19\(6\):521-526\. doi:10\.1370/afm\.2732", r"lme4", r"5% significance"]


def numbers_in_text(html_text: str) -> list[str]:
    """Numbers in an article page's visible text that are not filled from numbers.json: spans of
    filled numbers, link targets, the model formula and identifiers (Table 2, Figure 2, 95% CI,
    the citation) are left out."""
    text = re.sub(r'<span class="n" data-key="[^"]*">[^<]*</span>', " ", html_text)
    text = re.sub(r'<span class="lit">.*?</span>', " ", text, flags=re.S)     # references, versions, the commit
    text = re.sub(r'<p class="equation">.*?</p>', " ", text, flags=re.S)
    text = re.sub(r"<(style|pre|code)[^>]*>.*?</\1>", " ", text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))       # tags and their attributes (links)
    for pattern in ALLOWED:
        text = re.sub(pattern, " ", text)
    return re.findall(r"\d[\d.,]*", text)


def _keys(blocks) -> set[str]:
    return {m.group(1) for m in prose.PLACEHOLDER.finditer(article.to_markdown(blocks))}


def _text(cfg, card) -> str:
    numbers = {k: 1.0 for k in _keys(article.blocks(cfg, {}, {}, card))}
    return article.to_markdown(article.blocks(cfg, {}, numbers, card))


def test_placeholders_are_filled_from_numbers_and_marked_with_their_key():
    numbers = {"a.n": 162, "a.share": 0.3395, "a.p": 0.0004, "a.or": 4.7418}
    text = "n=[[a.n|d]], [[a.share|%]], P [[a.p|p]], OR [[a.or|.2f]]"
    assert prose.render(text, numbers, markup=False) == "n=162, 34%, P < .001, OR 4.74"
    marked = prose.render(text, numbers, markup=True)
    assert marked.count('<span class="n" data-key=') == 4 and 'data-key="a.or">4.74</span>' in marked


@pytest.mark.parametrize("share,spec,text", [(0.998957, "%", "> 99%"), (0.004, "%", "< 1%"), (1.0, "%", "100%"),
                                              (0.0, "%", "0%"), (0.9996, ".1%", "> 99.9%"), (0.885714, ".1%", "88.6%")])
def test_a_share_is_never_rounded_to_all_or_none(share, spec, text):
    assert prose.render(f"[[a.share|{spec}]]", {"a.share": share}, markup=False) == text


def test_a_missing_key_stops_the_build_and_names_it():
    with pytest.raises(prose.MissingNumber, match=r"\['b\.missing'\]"):
        prose.render("[[a.n|d]] and [[b.missing|.2f]]", {"a.n": 1}, markup=False)


def test_a_typed_number_is_found_and_identifiers_are_not():
    page = prose.render("<p>We modelled 162 of [[a.n|d]] clinicians (Table 2, 95% CI).</p>", {"a.n": 165}, True)
    assert numbers_in_text(page) == ["162"]


def test_the_raw_article_names_no_synthetic_only_number_and_carries_the_banner(config):
    card, rates = _card(), {"unselected.all_rows.pass_rate": 0.04, "unselected.quality_or.pass_rate": 0.9}
    keys = _keys(article.blocks(config, {}, rates, card))
    raw_keys = _keys(article.blocks(config.replace(data_source="raw"), {}, rates, card))
    assert {"unselected.all_rows.pass_rate", "unselected.quality_or.pass_rate"} <= keys
    assert not any(k.startswith("unselected.") for k in raw_keys)
    assert "Confidential" in _text(config.replace(data_source="raw"), card)
    none = article.to_markdown(article.blocks(config, {}, {**rates, "unselected.all_rows.pass_rate": 0.0}, card))
    assert "none met every row" in none and "unselected.all_rows.pass_rate" not in none
    assert "synthetic cohort" in _text(config, card) and "Confidential" not in _text(config, card)


def test_the_prose_follows_the_run_configuration(config):
    """Every sentence that names a choice is written from the configuration: the cut-off rule,
    the kind of cut-off, the adjustment set and the formula, the quadrature, the estimators."""
    default = _text(config, _card())
    assert "a score at or above" in default and "(the sample median)" in default
    assert "age (years), sex, specialty" in default and "apc + (1 | clinic_id)" in default
    assert "Laplace" not in default and "GEE, exchangeable" in default
    changed = _text(config.replace(cutoff_rule="above", patient_trust_cutoff="tertile", org_trust_cutoff=3.2,
                                   covariates=["age_40_54", "age_55_plus", "np", "pa"], nagq=1,
                                   estimators=["glmm", "gee_md"]), _card())
    assert "a score above" in changed and "at or above" not in changed
    assert "(the upper-tertile boundary of the modelled clinicians)" in changed and "(a fixed value)" in changed
    assert "the sample median" not in changed
    assert "high_high ~ culture + age_40_54 + age_55_plus + np + pa + (1 | clinic_id)" in changed
    assert "nurse practitioner" in changed and "age (years)" not in changed
    methods = changed.split("## Methods", 1)[1].split("\n## ", 1)[0]
    assert "Laplace" in methods and "bias-reduced" in methods and "logistic, clustered SE" not in methods


def test_what_differs_is_written_from_the_failing_rows(config):
    none_fail = _text(config, _card())
    assert "Every compared number of the scorecard is consistent with the paper" in none_fail
    two_fail = article.to_markdown(article.blocks(config, {}, {}, _card({"n_high_high": 46, "alignment_p": 0.062})))
    section = two_fail.split("## What differs, and why", 1)[1].split("\n## ", 1)[0]
    assert "high-high clinicians: the paper reports [[published.n_high_high|d]], this run " \
           "[[outcome.n_high_high|d]] (rule: exact agreement)" in section
    assert "Values alignment with leaders: P value: the paper reports [[published.alignment_p|p]]" in section
    assert "quality" not in section.lower().split("synthetic")[0]


def test_typst_escapes_text_and_keeps_markup():
    assert typeset.inline("OR 4.95 (2.02-12.15), P < .001 #1 *it* **b** [r](../report/x.html#cell-id=a)") == \
        'OR 4.95 (2.02\\-12.15), P \\< .001 \\#1 _it_ *b* r'       # a relative link breaks once the PDF is shared
    assert typeset.inline("[w](https://example.org/a)") == '#link("https://example.org/a")[w]'


@pytest.fixture(scope="module")
def page():
    path = paths.result("synthetic", "article", "index.html")
    if not path.exists():
        pytest.fail("results/article/index.html is missing: run `make all` before the tests")
    return path


@pytest.mark.acceptance
def test_the_built_article_has_no_hand_typed_number(page):
    assert numbers_in_text(page.read_text()) == []
    md = page.with_name("index.md").read_text()
    assert "[[" not in md and "## Robustness and the Monte Carlo check" in md


@pytest.mark.acceptance
def test_every_link_and_image_in_the_article_resolves(page):
    from test_report import assert_links_resolve

    assert_links_resolve(page)
    text = page.read_text()
    for figure in ("figure1_trust_quadrants", "figure2_forest", "figure3_culture_by_outcome"):
        assert re.search(rf'<img src="\.\./figures/{figure}\.png"', text), figure
    for section in ("Abstract", "Introduction", "Data", "Methods", "Results", "Discussion", "Limitations",
                    "Software and data availability", "References"):
        assert f">{section}</h2>" in text
    assert ">What differs, and why</h3>" in text
    assert "Table 1." in text and "Table 2." in text and 'href="article.pdf"' in text


@pytest.mark.acceptance
def test_the_pdf_carries_the_runs_numbers_and_no_typed_one(page):
    """The PDF's text (pypdf) holds the run's odds ratios and the same filled numbers as the
    HTML: every number in it is one the HTML fills from numbers.json, or an allowed identifier."""
    from pypdf import PdfReader

    pdf = PdfReader(page.with_name("article.pdf"))
    text = " ".join(p.extract_text() for p in pdf.pages)
    numbers = store.read_numbers(paths.results_dir("synthetic"))
    for m in ("quality", "communication", "cohesiveness", "alignment"):
        assert f"{numbers[f'table2.{m}.glmm.adjusted.or']:.2f}" in text, m
    filled = set(re.findall(r'<span class="n" data-key="[^"]*">([^<]*)</span>', page.read_text()))
    filled |= set(re.findall(r'<span class="lit">(.*?)</span>', page.read_text(), flags=re.S))  # a reference's year...
    allowed = {n for f in filled for n in re.findall(r"\d[\d.,]*", html.unescape(re.sub(r"<[^>]+>", " ", f)))}
    allowed |= {str(i) for i in range(1, len(pdf.pages) + 1)}           # page numbers
    text = text.split("Software and data availability")[0]       # then versions and references: literals
    text = re.sub(r"commit [0-9a-f]+", " ", text)                          # the byline's commit, as the PDF breaks it
    for pattern in ALLOWED + [r"\(1 \| clinic_id\)", r"= 1 \|", r"𝑁 ?\(0,"]:   # the equation
        text = re.sub(pattern, " ", text)
    typed = [n.rstrip(".,") for n in re.findall(r"\d[\d.,]*", text) if n.rstrip(".,") not in allowed]
    assert typed == [], typed[:10]


def test_a_run_with_other_parameters_says_so_in_what_differs(config):
    canonical = _text(config, _card())
    assert "not the canonical ones" not in canonical and "a run with other parameters can differ" in canonical
    changed = _text(config.replace(cutoff_rule="above", covariates=["age", "female"]), _card({"n_high_high": 41}))
    section = changed.split("## What differs, and why", 1)[1].split("\n## ", 1)[0]
    assert "This run's parameters are not the canonical ones of params/pipeline.yml: " \
           "`covariates=age,female, cutoff_rule=above`." in section
    assert "this run, with other parameters, can differ" in section


def test_a_clinic_variance_at_the_boundary_is_named_under_table_2(config):
    keys = _keys(article.blocks(config, {}, {}, _card()))
    kept = article.to_markdown(article.blocks(config, {}, {k: 1.0 for k in keys}, _card()))
    assert "estimated at the boundary" not in kept and "| Clinic variance |" in kept
    numbers = {k: 1.0 for k in keys} | {"table2.quality.glmm.adjusted.clinic_var": 0.0,
                                         "table2.alignment.glmm.adjusted.clinic_var": 0.0}
    text = article.to_markdown(article.blocks(config, {}, numbers, _card()))
    results = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    assert f"For {article._short('quality')} and {article._short('alignment')} the clinic variance is estimated " \
           "at the boundary (zero)" in results


def test_table_1_names_the_quadrants_in_figure_1s_words(config):
    """The article's Table 1 heads its columns with the quadrant labels Figure 1's legend and
    tables/table1 use (cohort.QUADRANTS), so the two read alike."""
    from trustlib.data.cohort import QUADRANTS

    header = next(line for line in _text(config, _card()).splitlines() if "All modelled" in line)
    cells = [c.strip().lower() for c in header.strip("|").split("|")]
    assert cells[-4:] == QUADRANTS


@pytest.mark.acceptance
def test_the_pdf_is_a_citable_reproduction_article(page):
    """The PDF's text has the byline (the maintainers CITATION.cff names), the commit and date of
    the run (from its manifest), an abstract, a discussion, the references with their DOIs, and
    each figure's title once at most (the title is drawn in the image: no caption repeats it)."""
    from pypdf import PdfReader

    text = " ".join(p.extract_text() for p in PdfReader(page.with_name("article.pdf")).pages)
    flat = re.sub(r"\s+", "", text)
    facts = manifest.run_facts(paths.results_dir("synthetic"))
    assert article.maintainers().replace('"', "") in text.replace("\u201c", "").replace("\u201d", "")
    assert "reproduction maintainers" in text
    if facts["commit"]:
        assert f"commit{facts['commit'][:12]}" in flat and facts["date"] and facts["date"] in text
    for heading in ("Abstract", "Introduction", "Methods", "Results", "Discussion", "Limitations", "References"):
        assert re.search(rf"(^|\n){heading}\s*\n", text), heading
    for key in ("linzer2021", "linzer2019", "lme4", "geepack", "statsmodels", "speccurve", "mancl"):
        ref, doi = article.REFERENCES[key]
        assert f"doi:{doi}" in flat, key
    for name, version in json.loads(paths.result("synthetic", "manifest.json").read_text())["packages"].items():
        if name in article.SOFTWARE:
            assert f"{name} {version}" in text, name
    for b in article.blocks(run_config.RunConfig.load("synthetic"), {}, store.read_numbers(paths.results_dir()),
                            None):
        if b.kind == "figure":
            assert text.count(b.text) <= 1, b.text


def test_every_reference_is_cited_and_every_citation_has_a_reference(config):
    """Each reference is cited as [n] somewhere in the article, and no [n] points past the list."""
    md = article.to_markdown(article.blocks(config, {}, {k: 1.0 for k in _keys(article.blocks(config, {}, {}, _card()))},
                                            _card()))
    body = md.split("## References")[0]
    cited = {int(n) for group in re.findall(r"\{\{\[([\d, ]+)\]\}\}", body) for n in group.split(",")}
    assert cited == set(range(1, len(article.REFERENCES) + 1))


def test_suppressed_numbers_read_in_words_a_reader_understands(config):
    """On real data disclosure control hides counts: the data paragraph names the withheld
    numbers in words (not "suppressed clinicians"), an n (%) or mean (SD) cell whose two numbers
    are hidden reads ``suppressed`` once (not "suppressed (suppressed)"), and a hidden number of
    high-high clinicians is said in words."""
    raw = config.replace(data_source="raw")
    card = _card()
    numbers = {k: 1.0 for k in _keys(article.blocks(raw, {}, {}, card))}
    hidden = {k for k in numbers if k in ("flow.n_clinicians", "flow.n_patients", "outcome.n_high_high",
                                          "outcome.pct_high_high")
              or (k.startswith("table1.") and not k.endswith(".clinicians.count"))}
    numbers.update({k: "suppressed" for k in hidden} | {"flow.n_clinics": 34})
    text = prose.render(article.to_markdown(article.blocks(raw, {}, numbers, card)), numbers, markup=False)
    assert "(34 clinics; the numbers of clinicians and of patient surveys are withheld by disclosure control)" in text
    assert "suppressed clinicians" not in text and "suppressed patient" not in text
    assert "suppressed (suppressed" not in text and "suppressed%" not in text
    assert "The number of clinicians who trust their organization and are trusted by their patients (high-high) " \
           "is withheld by disclosure control" in text
    table1 = [line for line in text.splitlines() if line.startswith("| Women, n (%)")]
    assert table1 and table1[0].count("| suppressed ") == 5, table1


def test_a_rehearsal_article_says_it_is_not_the_trials_data(config):
    """A shared rehearsal PDF must not read as the trial's results."""
    card = _card()
    rehearsal = _text(config.replace(data_source="rehearsal"), card)
    raw = _text(config.replace(data_source="raw"), card)
    assert rehearsal.count("uses the rehearsal extract") == 2 and "not the trial's data" in rehearsal
    assert "the trial's extracts" not in rehearsal and raw.count("uses the trial's extracts") == 2

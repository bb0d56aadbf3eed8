"""The reproduction article: ``results/article/index.md`` and ``index.html``.

Laid out as a reproduction report in the tradition of ReScience C: the original claims, the
data, the methods with the model formula, reproduced results beside the published ones, the
robustness and Monte Carlo findings, what differs and why, and limitations.

No number is typed into the prose. The text is a template whose numbers are placeholders
``[[key|format]]`` naming a ``numbers.json`` key (``format`` is a Python format spec, with
``%`` meaning a share shown as a percentage); :func:`render` fills them and fails on a key
that is missing. In the HTML every filled number is a ``<span class="n" data-key="...">``, so a
test can check that no other number appears. Each figure and table links to the notebook cell
that made it (in the HTML report next door).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

from . import TrustlibError, codebook, disclosure, models, outputs

PLACEHOLDER = re.compile(r"\[\[([A-Za-z0-9_.]+)(?:\|([^\]]*))?\]\]")
MEASURES = ["quality", "communication", "cohesiveness", "alignment"]


class MissingNumber(TrustlibError):
    """The article names a ``numbers.json`` key that the run did not write."""


def _fmt(value, spec: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):                    # "suppressed" by disclosure control
        return value
    if spec.endswith("d") and float(value).is_integer():
        value = int(value)
    if spec == "%":
        return f"{100 * value:.0f}%"
    if spec.endswith("%"):                        # e.g. ".1%": a share as a percentage
        return f"{100 * value:{spec[:-1]}f}%"
    if spec == "p":                               # P values as journals print them
        return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")
    return format(value, spec) if spec else f"{value:g}"


def render(template: str, numbers: dict, markup: bool) -> str:
    """Fill every ``[[key|format]]``; with ``markup``, wrap each in a span naming its key."""
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) not in numbers})
    if missing:
        raise MissingNumber(f"the article names numbers the run did not write: {missing}")

    def fill(m: re.Match) -> str:
        text = _fmt(numbers[m.group(1)], m.group(2) or "")
        return f'<span class="n" data-key="{m.group(1)}">{html.escape(text)}</span>' if markup else text

    return PLACEHOLDER.sub(fill, template)


def _or_row(m: str, synthetic: bool) -> str:
    t, p = f"table2.{m}.glmm.adjusted", f"published.{m}"
    return (f"| {codebook.load_scales().loc[m, 'short']} | [[{p}_or|.2f]] ([[{p}_ci_low|.2f]]-[[{p}_ci_high|.2f]]) "
            f"| [[{t}.or|.2f]] ([[{t}.ci_low|.2f]]-[[{t}.ci_high|.2f]]) | [[{t}.p|p]] |"
            + (f" [[unselected.{m}_or.pass_rate|%]] |" if synthetic else ""))


def _robust_row(m: str) -> str:
    r, i = f"robustness.{m}", f"influence.{m}"
    return (f"| {codebook.load_scales().loc[m, 'short']} | [[{r}.specifications|d]] | [[{r}.share_or_above_1|%]] "
            f"| [[{r}.share_or_above_1_p_below_05|%]] | [[{r}.or_median|.2f]] | [[{i}.loo_or_min|.2f]]-[[{i}.loo_or_max|.2f]] |")


def _sim_row(m: str, model: str) -> str:
    s = f"simulation.{m}.{model}"
    return (f"| {codebook.load_scales().loc[m, 'short']} | {model} | [[{s}.bias|+.3f]] "
            f"| [[{s}.coverage|.1%]] ([[{s}.coverage_ci_low|.1%]]-[[{s}.coverage_ci_high|.1%]]) |")


def template(source: str, links: dict[str, str]) -> str:
    """The article in Markdown with placeholders; ``links`` maps an output name to its cell."""
    synthetic = source == "synthetic"
    formula = models.formula("quality", adjusted=True).replace("quality", "culture measure")
    data = (
        "The trial's data are not public. This run uses the repository's **synthetic cohort**: "
        "[[flow.n_clinics|d]] clinics, [[flow.n_clinicians|d]] clinicians and [[flow.n_patients|d]] "
        "patient surveys, generated from a model whose parameters were tuned to the published marginals. "
        "Its seed is the first of [[unselected.searched_seeds|,d]] tried whose cohort met every scorecard "
        "row, so agreement with the paper is partly true by selection. Of [[unselected.seeds|d]] fresh, "
        "unselected cohorts of the same generator, [[unselected.all_rows.pass_rate|%]] met every row "
        f"([table]({links.get('unselected_pass_rates', '')}))."
        if synthetic else
        "This run uses the trial's extracts ([[flow.n_clinics|d]] clinics, [[flow.n_clinicians|d]] "
        f"clinicians, [[flow.n_patients|d]] patient surveys). **{disclosure.CONFIDENTIAL}**")
    return "\n".join([
        "# [Re] Where Trust Flourishes: perceived organizational culture and mutual trust",
        "",
        "*A reproduction report. Original article: Linzer M, Neprash H, Brown R, et al. Where Trust Flourishes: "
        "Perceptions of Clinicians Who Trust Their Organizations and Are Trusted by Their Patients. "
        "Ann Fam Med 2021;19(6):521-526. doi:10.1370/afm.2732.*",
        "",
        "## The original claims",
        "",
        "Among primary care clinicians, those who both trust their organization and are trusted by their "
        "patients (\"high-high\") work in clinics they perceive as emphasizing quality, communication and "
        "information, cohesiveness, and values alignment with leaders. The paper reports one adjusted "
        "two-level odds ratio per culture measure (table below, published column).",
        "",
        "## Data",
        "",
        data,
        "",
        "## Methods",
        "",
        "Scales are item means (reverse-worded items reversed; patient trust rescaled to 0-100). Patient trust "
        "is averaged per clinician; clinicians with too few scored surveys are excluded, leaving "
        f"[[flow.n_modelled|d]] in the model ([flow]({links.get('flow', '')})). High clinician trust is a score "
        "at or above [[cutoffs.org_trust_cutoff|.1f]] (1-4 scale); high patient trust a mean at or above "
        "[[cutoffs.patient_trust_cutoff|.1f]] (the sample median, 0-100). [[outcome.n_high_high|d]] clinicians "
        "([[outcome.pct_high_high|.0f]]%) are high-high. Each culture measure enters its own random-intercept "
        "logistic regression, fitted by maximum likelihood with adaptive Gauss-Hermite quadrature "
        "([[model.nagq|d]] nodes per clinic):",
        "",
        f"    {formula}",
        "",
        "None of the cut-offs, the exclusion rule or the quadrature was published; each is a parameter, and "
        "the robustness analysis varies them.",
        "",
        "## Results",
        "",
        f"Adjusted odds ratios per scale point ([Table 2]({links.get('table2_paper', '')}), "
        f"[Figure 2]({links.get('figure2_forest', '')})):",
        "",
        "| measure | published OR (95% CI) | reproduced OR (95% CI) | reproduced P |"
        + (" unselected cohorts whose OR passes |" if synthetic else ""),
        "|---|---|---|---|" + ("---|" if synthetic else ""),
        *[_or_row(m, synthetic) for m in MEASURES],
        "",
        f"![Figure 2: reproduced and published odds ratios]({links.get('figure2_forest.png', '')})",
        "",
        f"The scorecard ([table]({links.get('scorecard', '')})) compares every published number: "
        "[[scorecard.n_passed|d]] of [[scorecard.n_checks|d]] rows are consistent with the paper on this cohort, "
        "and [[scorecard.n_agree_to_print|d]] round to the published value at its printed precision, the stricter "
        "test that a run on the trial's own data should pass.",
        "",
        "## Robustness and the Monte Carlo check",
        "",
        f"Across the specification grid ([support]({links.get('robustness_support', '')})) and with each "
        f"clinic left out in turn ([influence]({links.get('influence', '')})):",
        "",
        "| measure | specifications | OR > 1 | OR > 1 and P < .05 | median OR | OR without one clinic |",
        "|---|---|---|---|---|---|",
        *[_robust_row(m) for m in MEASURES],
        "",
        f"A parametric bootstrap of [[simulation.replicates|d]] replicates per measure, simulated from each fitted "
        f"model ([summary]({links.get('simulation_summary', '')})), gives the bias of each estimator's log odds "
        "ratio and the coverage of its 95% interval (exact binomial interval in brackets):",
        "",
        "| measure | estimator | bias | coverage |",
        "|---|---|---|---|",
        *[_sim_row(m, model) for m in MEASURES for model in ("glmm", "gee", "gee_md")],
        "",
        "## What differs, and why",
        "",
        ("Odds ratios and intervals agree with the paper's because the cohort was selected to meet them; the "
         "quality P value ([[table2.quality.glmm.adjusted.p|p]], where the paper reports P below "
         "[[published.quality_p|.3f]]) does not, and "
         "[[unselected.quality_p.pass_rate|%]] of unselected cohorts meet it: the published intervals are wide, "
         "and a synthetic cohort of this size rarely reproduces a P that small together with its odds ratio."
         if synthetic else
         "Rows of the scorecard that fail are listed in the scorecard table with their tolerance."),
        "",
        "## Limitations",
        "",
        "The paper does not publish its code, its cut-offs or its exclusion rule; the choices here are documented "
        "guesses, and the robustness analysis shows how much they matter. On synthetic data nothing here can "
        "confirm the paper: only the trial's data, run through the same notebooks, could.",
        "",
    ])


def _links(results: Path) -> dict[str, str]:
    """Output name -> link to the report cell that made it (and figure files by name)."""
    from . import report

    producer = report.producer_lookup({p.stem: nbformat.read(p, as_version=4)
                                       for p in sorted((results / "notebooks").glob("*.ipynb"))})
    links = {}
    for kind, pattern in (("table", "tables/*.csv"), ("figure", "figures/*.png")):
        for f in sorted(results.glob(pattern)):
            nb_name, cell = producer(kind, f.stem)
            if nb_name and f.stem not in links:
                links[f.stem] = f"../report/{report._link(nb_name, cell)}"
    for f in (results / "figures").glob("*.png"):
        links[f.name] = f"../figures/{f.name}"
    return links


def build(results: Path, source: str = "synthetic") -> Path:
    """Write ``article/index.md`` and ``article/index.html`` below ``results``; return the HTML."""
    import mistune

    results = Path(results)
    numbers = outputs.read_numbers(results)
    text = template(source, _links(results))
    folder = results / "article"
    outputs.atomic_write_text(folder / "index.md", render(text, numbers, markup=False))
    body = mistune.html(render(text, numbers, markup=True))
    style = ("body{font-family:Georgia,serif;max-width:820px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.9em}td,th{padding:3px 8px;border-bottom:1px solid #ddd}"
             "img{max-width:100%}code,pre{font-size:0.9em}")
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>[Re] Where Trust Flourishes</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")
    return outputs.atomic_write_text(folder / "index.html", page)


def numbers_in_text(html_text: str) -> list[str]:
    """Numbers in the article's visible text that are not filled from ``numbers.json`` (for tests):
    spans of filled numbers, link targets, the model formula and identifiers (Table 2, Figure 2,
    95% CI, the citation) are left out."""
    text = re.sub(r'<span class="n" data-key="[^"]*">[^<]*</span>', " ", html_text)
    text = re.sub(r"<(style|pre|code)[^>]*>.*?</\1>", " ", text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))       # tags and their attributes (links)
    allowed = [r"Table 2", r"Figure 2", r"95%", r"0-100", r"1-4", r"P < \.05", r"OR > 1",
               r"Ann Fam Med 2021;19\(6\):521-526\. doi:10\.1370/afm\.2732", r"lme4"]
    for pattern in allowed:
        text = re.sub(pattern, " ", text)
    return re.findall(r"\d[\d.,]*", text)


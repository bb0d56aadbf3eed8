"""The reproduction article: ``article/index.md``, ``index.html`` and ``article.pdf``.

Laid out as a reproduction report in the tradition of ReScience C: the original claims, the
data, the methods with the model formula and Table 1, reproduced results beside the published
ones with Figures 1 to 3, the robustness and Monte Carlo findings, what differs and why, and
limitations.

**No number is typed into the prose.** The text is built from blocks whose numbers are
placeholders ``[[key|format]]`` naming a ``numbers.json`` key (``format`` is a Python format
spec; ``%`` shows a share as a percentage, ``p`` a P value as journals print it); :func:`render`
fills them and fails on a key that is missing. In the HTML every filled number is a
``<span class="n" data-key="...">``, so a test can check that no other number appears.

**The prose follows the run.** Every sentence that names a choice is generated from the run's
configuration (:class:`trustlib.config.RunConfig`): the cut-off rule and values, the
patient-trust cut-off, the adjustment set and the formula, the quadrature, the estimators;
"What differs" is written from the scorecard's failing rows. The same blocks give the Markdown,
the HTML and the Typst source of the PDF (:mod:`trustlib.typeset`), so the three say the same.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import InputError, codebook, disclosure, estimators, manifest, models, outputs, paths, scorecard

PLACEHOLDER = re.compile(r"\[\[([A-Za-z0-9_.]+)(?:\|([^\]]*))?\]\]")
COVARIATE_WORDS = {"age": "age (years)", "female": "sex", "internal_medicine": "specialty (internal medicine or "
                   "family medicine)", "apc": "clinician type (nurse practitioner or physician assistant, or "
                   "physician)", "age_40_54": "age 40-54", "age_55_plus": "age 55 and over",
                   "np": "nurse practitioner", "pa": "physician assistant"}


class MissingNumber(InputError):
    """The article names a ``numbers.json`` key that the run did not write."""


def _fmt(value, spec: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):                    # "suppressed" by disclosure control
        return value
    if spec.endswith("d") and float(value).is_integer():
        value = int(value)
    if spec.endswith("%"):                        # a share as a percentage ("%": whole, ".1%": one decimal)
        digits = spec[:-1] or ".0"
        text = f"{100 * value:{digits}f}"
        unit = 10.0 ** -int(digits[1:])                    # never round a share up to all or down to none
        if 0 < value < 1 and float(text) == 100:
            return f"> {100 - unit:{digits}f}%"
        if 0 < value < 1 and float(text) == 0:
            return f"< {unit:{digits}f}%"
        return f"{text}%"
    if spec == "p":                               # P values as journals print them
        return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")
    return format(value, spec) if spec else f"{value:g}"


PAIR = re.compile(r"(\[\[([A-Za-z0-9_.]+)(?:\|[^\]]*)?\]\]) \(\[\[([A-Za-z0-9_.]+)(?:\|[^\]]*)?\]\]%?\)")


def hidden(numbers: dict, key: str) -> bool:
    """Whether disclosure control hid the number ``key`` (it reads ``suppressed``)."""
    return isinstance(numbers.get(key), str)


def fill(template: str, numbers: dict, wrap=None) -> str:
    """Fill every ``[[key|format]]`` (``wrap(key, text)`` marks each filled number up). A pair
    ``[[n]] ([[share]])`` (n (%), mean (SD)) of two hidden numbers reads ``suppressed`` once."""
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) not in numbers})
    if missing:
        raise MissingNumber(f"the article names numbers the run did not write: {missing}")
    template = PAIR.sub(lambda m: m.group(1) if hidden(numbers, m.group(2)) and hidden(numbers, m.group(3))
                        else m.group(0), template)

    def one(m: re.Match) -> str:
        text = _fmt(numbers[m.group(1)], m.group(2) or "")
        return wrap(m.group(1), text) if wrap else text

    return PLACEHOLDER.sub(one, template)


def render(template: str, numbers: dict, markup: bool) -> str:
    """Fill every ``[[key|format]]``; with ``markup``, wrap each in a span naming its key."""
    wrap = (lambda key, text: f'<span class="n" data-key="{key}">{html.escape(text)}</span>') if markup else None
    return fill(template, numbers, wrap)


# -- the blocks an article is made of -----------------------------------------------------------------

@dataclass
class Block:
    """One block: ``kind`` is heading, paragraph, code, table, figure or banner. Text uses a small
    inline markup (``**bold**``, ``*italic*``, ``[text](link)``, `` `code` ``) and placeholders."""

    kind: str
    text: str = ""
    level: int = 2
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    src: str = ""


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append(f"{'#' * b.level} {b.text}")
        elif b.kind in ("paragraph", "banner"):
            out.append(f"**{b.text}**" if b.kind == "banner" else b.text)
        elif b.kind == "code":
            out.append("\n".join(f"    {line}" for line in b.text.splitlines()))
        elif b.kind == "table":
            rows = [b.header, ["---"] * len(b.header)] + b.rows
            out.append((f"{b.text}\n\n" if b.text else "") + "\n".join("| " + " | ".join(r) + " |" for r in rows))
        elif b.kind == "figure":
            out.append(f"![{b.text}]({b.src})\n\n*{b.text}*")
    return "\n\n".join(out) + "\n"


# -- words that follow the run's configuration ---------------------------------------------------------

def rule_words(cutoff_rule: str) -> str:
    """How a cut-off is applied, in words."""
    return "at or above" if cutoff_rule == "at_or_above" else "above"


def cutoff_words(cutoff) -> str:
    """What a cut-off is, in words (its value comes from numbers.json)."""
    return {"median": "the sample median", "tertile": "the upper-tertile boundary of the modelled clinicians"}.get(
        cutoff, "a fixed value")


def covariate_words(covariates: list[str]) -> str:
    words = [COVARIATE_WORDS.get(c, c) for c in covariates]
    if not words:
        return "no covariates (unadjusted)"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _measures() -> list[str]:
    return codebook.scales_with_role("exposure")


def _short(m: str) -> str:
    return str(codebook.load_scales().loc[m, "short"])


def _group_slug(group: str) -> str:
    from .describe import group_slug

    return group_slug(group)


def _cohort_words(numbers: dict) -> str:
    """``34 clinics, 165 clinicians and 1132 patient surveys`` as placeholders, the numbers
    disclosure control hid named in words: ``34 clinics; the numbers of clinicians and of
    patient surveys are withheld by disclosure control``."""
    counts = [("flow.n_clinics", "clinics"), ("flow.n_clinicians", "clinicians"), ("flow.n_patients", "patient surveys")]
    shown = [f"[[{key}|d]] {noun}" for key, noun in counts if not hidden(numbers, key)]
    withheld = [noun for key, noun in counts if hidden(numbers, key)]
    words = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + (shown[-1] if shown else "")
    if not withheld:
        return words
    which = (f"number of {withheld[0]} is" if len(withheld) == 1
             else "numbers of " + ", of ".join(withheld[:-1]) + f" and of {withheld[-1]} are")
    return (f"{words}; the " if words else "the ") + f"{which} withheld by disclosure control"


def _methods(cfg, numbers: dict) -> list[Block]:
    rule = rule_words(cfg.cutoff_rule)
    others = [e for e in cfg.estimators if e != "glmm"]
    beside = (" Beside it, for comparison: " + "; ".join(estimators.label(e) for e in others) + "."
              if others else "")
    laplace = " (one node is the Laplace approximation)" if cfg.nagq == 1 else ""
    formula = models.formula("culture", True, list(cfg.covariates))
    return [
        Block("heading", "Methods"),
        Block("paragraph", "Scales are item means (reverse-worded items reversed; patient trust rescaled to 0-100). "
              "Patient trust is averaged per clinician. A clinician is modelled with at least "
              "[[rules.min_patient_surveys|d]] scored patient surveys and complete scores and covariates, in a clinic "
              "with at least [[rules.min_clinicians_per_clinic|d]] such clinicians, which leaves "
              "[[flow.n_modelled|d]] clinicians in the model."),
        Block("paragraph", f"High clinician trust is a score {rule} [[cutoffs.org_trust_cutoff|.2f]] on the 1-4 scale "
              f"({cutoff_words(cfg.org_trust_cutoff)}); high patient trust a clinician mean {rule} "
              f"[[cutoffs.patient_trust_cutoff|.2f]] on the 0-100 scale ({cutoff_words(cfg.patient_trust_cutoff)}). "
              + ("The number of clinicians who trust their organization and are trusted by their patients "
                 "(high-high) is withheld by disclosure control"
                 if hidden(numbers, "outcome.n_high_high") else
                 "[[outcome.n_high_high|d]] clinicians ([[outcome.pct_high_high|.0f]]%) trust their organization and "
                 "are trusted by their patients (high-high)")
              + "; the outcome is high-high against everyone else."),
        Block("paragraph", "Each culture measure enters its own random-intercept logistic regression, adjusted for "
              f"{covariate_words(list(cfg.covariates))}, fitted by maximum likelihood with adaptive Gauss-Hermite "
              f"quadrature ([[model.nagq|d]] nodes per clinic{laplace}):"),
        Block("code", formula),
        Block("paragraph", "The odds ratio is per 1-point increase on the 1-4 scale." + beside + " None of the "
              "cut-offs, the exclusion rule or the quadrature was published; each is a parameter, and the "
              "robustness analysis varies them."),
        _table1(cfg),
    ]


def _table1(cfg) -> Block:
    from .cohort import QUADRANTS

    groups = [disclosure.MODELLED] + QUADRANTS
    key = lambda g, v, s: f"[[table1.{_group_slug(g)}.{v}.{s}|{'d' if s == 'count' else '.1f'}]]"  # noqa: E731
    rows = [["Clinicians, n"] + [key(g, "clinicians", "count") for g in groups],
            ["Age, years, mean (SD)"] + [f"{key(g, 'age', 'mean')} ({key(g, 'age', 'sd')})" for g in groups]]
    for v, label in (("women", "Women"), ("physicians", "Physicians"), ("family_medicine", "Family medicine")):
        rows.append([f"{label}, n (%)"] + [f"{key(g, v, 'count')} ({key(g, v, 'percent')})" for g in groups])
    for m in _measures():
        rows.append([f"{_short(m)}, mean (SD)"] + [f"[[table1.{_group_slug(g)}.{m}.mean|.2f]] "
                                                   f"([[table1.{_group_slug(g)}.{m}.sd|.2f]])" for g in groups])
    header = ["", "All modelled"] + [q[0].upper() + q[1:] for q in QUADRANTS]     # Figure 1's legend's words
    return Block("table", "**Table 1.** Modelled clinicians overall and by trust quadrant (the scorecard's demographic rows, "
                 "like the paper's, count every clinician surveyed).", header=header, rows=rows)


def _or_row(m: str, synthetic: bool, numbers: dict) -> list[str]:
    t, p = f"table2.{m}.glmm.adjusted", f"published.{m}"
    published = (f"[[{p}_or|.2f]] ([[{p}_ci_low|.2f]]-[[{p}_ci_high|.2f]])" if f"{p}_or" in numbers
                 else "not published")
    row = [_short(m), published, f"[[{t}.or|.2f]] ([[{t}.ci_low|.2f]]-[[{t}.ci_high|.2f]])", f"[[{t}.p|p]]",
           f"[[{t}.clinic_var|.2f]]"]
    if synthetic:
        key = f"unselected.{m}_or.pass_rate"
        row.append(f"[[{key}|%]]" if key in numbers else "--")
    return row


def _boundary(measures: list[str], numbers: dict) -> list[Block]:
    """A note naming the measures whose clinic variance was estimated at the boundary (zero), as
    Table 2's notes do; none when every model kept a clinic variance."""
    at_zero = [_short(m) for m in measures if numbers.get(f"table2.{m}.glmm.adjusted.clinic_var") == 0]
    if not at_zero:
        return []
    return [Block("paragraph", f"For {' and '.join(', '.join(at_zero).rsplit(', ', 1))} the clinic variance is "
                  "estimated at the boundary (zero): there the two-level model reduces to ordinary logistic regression, "
                  "with the standard errors of the fixed effects given no clinic variance.")]


def _differs(cfg, card, numbers: dict) -> list[Block]:
    """What differs, written from the scorecard's failing rows (and, on synthetic data, why)."""
    fails = scorecard.failures(card) if card is not None else []
    blocks = [Block("heading", "What differs, and why")]
    changed = manifest.non_default(cfg.parameters())
    if changed:
        blocks.append(Block("paragraph", f"This run's parameters are not the canonical ones of "
                            f"{paths.relative(paths.PIPELINE_PARAMS)}: `{manifest.parameter_words(changed)}`."))
    if card is None:
        return blocks + [Block("paragraph", "This run has no scorecard.")]
    if not len(fails):
        text = ("Every compared number of the scorecard is consistent with the paper"
                + (" ([[scorecard.n_not_compared|d]] were hidden by disclosure control and not compared)"
                   if numbers.get("scorecard.n_not_compared") else "") + ".")
    else:
        items = []
        for r in fails.itertuples():
            spec = FORMAT.get(r.quantity, ".2f")
            lead = "below " if r.comparator == "<" else ""
            items.append(f"{_row_label(r)}: the paper reports {lead}[[published.{r.key}|{spec}]], this run "
                         f"[[{r.reproduced_key}|{spec}]] (rule: {scorecard.rule_words(r.quantity, r.comparator)})")
        text = ("[[scorecard.n_failed|d]] of the [[scorecard.n_compared|d]] compared numbers are not consistent "
                "with the paper: " + "; ".join(items) + ".")
    blocks.append(Block("paragraph", text))
    if cfg.data_source == "synthetic":
        rates = ("" if "unselected.all_rows.pass_rate" not in numbers else
                 " Of [[unselected.seeds|d]] fresh, unselected cohorts of the same generator (analysed with this "
                 "run's rules), [[unselected.all_rows.pass_rate|%]] met every row.")
        which = "this run, with other parameters," if changed else "a run with other parameters"
        blocks.append(Block("paragraph", "The cohort is synthetic and was selected: its seed is the first whose cohort "
                            "met every scorecard row under the canonical parameters, so agreement there is partly "
                            f"true by construction, and {which} can differ from the paper for that reason alone."
                            + rates + " The published intervals are wide, and a synthetic cohort of this size rarely "
                            "reproduces every count, interval and P value at once."))
    return blocks


FORMAT = {"count": "d", "percent": ".1f", "mean": ".1f", "sd": ".1f", "alpha": ".2f", "or": ".2f", "ci_low": ".2f",
          "ci_high": ".2f", "p": "p"}


def _row_label(r) -> str:
    return scorecard.label(r.key, r.measure, r.quantity)


def blocks(cfg, links: dict[str, str], numbers: dict, card=None) -> list[Block]:
    """The article as blocks, for the run configured by ``cfg`` (``links``: output name -> link
    to the report cell that made it; ``card``: the run's scorecard)."""
    synthetic = cfg.data_source == "synthetic"
    measures = _measures()
    out = [Block("heading", "[Re] Where Trust Flourishes: perceived organizational culture and mutual trust", level=1)]
    if not synthetic:
        out.append(Block("banner", disclosure.CONFIDENTIAL))
    out += [
        Block("paragraph", "*A reproduction report. Original article: Linzer M, Neprash H, Brown R, et al. Where Trust "
              "Flourishes: Perceptions of Clinicians Who Trust Their Organizations and Are Trusted by Their Patients. "
              "Ann Fam Med 2021;19(6):521-526. doi:10.1370/afm.2732.* Every number below comes from this run's "
              "numbers.json; each table and figure links to the notebook cell that made it, in the "
              "[report](../report/index.html)."),
        Block("heading", "The original claims"),
        Block("paragraph", "Among primary care clinicians, those who both trust their organization and are trusted by "
              "their patients (\"high-high\") work in clinics they perceive as emphasizing quality, communication "
              "and information, cohesiveness, and values alignment with leaders. The paper reports one adjusted "
              "two-level odds ratio per culture measure (Table 2 below, published column)."),
        Block("heading", "Data"),
        Block("paragraph",
              "The trial's data are not public. This run uses the repository's **synthetic cohort**: "
              "[[flow.n_clinics|d]] clinics, [[flow.n_clinicians|d]] clinicians and [[flow.n_patients|d]] patient "
              "surveys, generated from a model whose parameters were tuned to the published marginals. Every "
              "number below is a number about that cohort, not about the trial."
              if synthetic else
              f"This run uses the trial's extracts ({_cohort_words(numbers)}). **{disclosure.CONFIDENTIAL}** "
              "Counts and statistics of fewer than [[disclosure.min_cell_size|d]] people, and any number that would "
              "give one back, are withheld by disclosure control: they read *suppressed*."),
        *_methods(cfg, numbers),
        Block("heading", "Results"),
        Block("figure", "Figure 1. Clinicians by trust quadrant" + ("" if synthetic else " (aggregate form)"),
              src=links.get("figure1_trust_quadrants.png", "")),
        Block("paragraph", f"Adjusted odds ratios per scale point ([Table 2]({links.get('table2_paper', '')}), "
              f"[Figure 2]({links.get('figure2_forest', '')})):"),
        Block("table", "**Table 2.** Perceived culture and high-high trust: adjusted two-level odds ratios.",
              header=["Measure", "Published OR (95% CI)", "Reproduced OR (95% CI)", "Reproduced P", "Clinic variance"]
              + (["Unselected cohorts whose OR passes"] if synthetic else []),
              rows=[_or_row(m, synthetic, numbers) for m in measures]),
        *_boundary(measures, numbers),
        Block("figure", "Figure 2. Culture and high-high trust: adjusted two-level ORs, reproduced and published "
              "(95% CI)", src=links.get("figure2_forest.png", "")),
        Block("figure", "Figure 3. Perceived culture by outcome group", src=links.get("figure3_culture_by_outcome.png", "")),
        Block("paragraph", f"The scorecard ([table]({links.get('scorecard', '')})) compares every published number: "
              "[[scorecard.n_passed|d]] of the [[scorecard.n_compared|d]] compared are consistent with the paper, and "
              "[[scorecard.n_agree_to_print|d]] round to the published value at its printed precision, the stricter "
              "test that a run on the trial's own data should pass."),
        Block("heading", "Robustness and the Monte Carlo check"),
        Block("paragraph", f"Across the specification grid ([support]({links.get('robustness_support', '')})) and with "
              f"each clinic left out in turn ([influence]({links.get('influence', '')})):"),
        Block("table", header=["Measure", "Specifications estimable", "OR > 1", "OR > 1 and P < .05", "Median OR",
                               "OR without one clinic"],
              rows=[[_short(m), f"[[robustness.{m}.estimable|d]] of [[robustness.{m}.specifications|d]]",
                     f"[[robustness.{m}.share_or_above_1|%]]",
                     f"[[robustness.{m}.share_or_above_1_p_below_05|%]]", f"[[robustness.{m}.or_median|.2f]]",
                     f"[[influence.{m}.loo_or_min|.2f]]-[[influence.{m}.loo_or_max|.2f]]"] for m in measures]),
        Block("paragraph", "A parametric bootstrap of [[simulation.replicates|d]] replicates per measure, simulated "
              f"from each fitted model ([summary]({links.get('simulation_summary', '')})), gives the bias of each "
              "estimator's log odds ratio and the coverage of its 95% interval (exact binomial interval in brackets):"),
        Block("table", header=["Measure", "Estimator", "Replicates fitted", "Bias", "Coverage"],
              rows=[[_short(m), estimators.label(e), f"[[simulation.{m}.{e}.converged|d]] of [[simulation.replicates|d]]",
                     f"[[simulation.{m}.{e}.bias|+.3f]]",
                     f"[[simulation.{m}.{e}.coverage|.1%]] ([[simulation.{m}.{e}.coverage_ci_low|.1%]]-"
                     f"[[simulation.{m}.{e}.coverage_ci_high|.1%]])"] for m in measures for e in cfg.sim_estimators]),
        *_differs(cfg, card, numbers),
        Block("heading", "Limitations"),
        Block("paragraph", "The paper does not publish its code, its cut-offs or its exclusion rule; the choices here are "
              "documented guesses, and the robustness analysis shows how much they matter. On synthetic data nothing "
              "here can confirm the paper: only the trial's data, run through the same notebooks, could."),
    ]
    return out


def _links(results: Path) -> dict[str, str]:
    """Output name -> link to the report cell that made it (and figure files by name)."""
    from .report import Links

    made = Links(results)
    links = {}
    for kind, pattern in (("tables", "*.csv"), ("figures", "*.png")):
        for f in sorted((results / kind).glob(pattern)):
            if f.stem not in links:
                links[f.stem] = f"../report/{made.file(f'{kind}/{f.name}')}"
    for f in (results / "figures").glob("*.png"):
        links[f.name] = f"../figures/{f.name}"
    return links


STYLE = ("body{font-family:Georgia,serif;max-width:860px;margin:2em auto;padding:0 1em;line-height:1.45}"
         "table{border-collapse:collapse;font-size:0.9em}td,th{padding:3px 8px;border-bottom:1px solid #ddd}"
         "img{max-width:100%}code,pre{font-size:0.9em}.banner{border:2px solid #b00;padding:0.6em;background:#fff3f3}")


def build(results: Path, cfg) -> Path:
    """Write ``article/index.md``, ``index.html`` and ``article.pdf`` below ``results``; return the HTML."""
    import mistune

    from . import typeset

    results = Path(results)
    numbers = outputs.read_numbers(results)
    card_path = results / "scorecard.csv"
    card = outputs.read_table(card_path) if card_path.exists() else None
    parts = blocks(cfg, _links(results), numbers, card)
    text = to_markdown(parts)
    folder = results / "article"
    outputs.atomic_write_text(folder / "index.md", render(text, numbers, markup=False))
    body = mistune.html(render(text, numbers, markup=True))
    body = body.replace(f"<p><strong>{disclosure.CONFIDENTIAL}</strong></p>",
                        f"<p class=\"banner\"><strong>{disclosure.CONFIDENTIAL}</strong></p>")
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>[Re] Where Trust Flourishes</title>"
            f"<style>{STYLE}</style></head><body><p><a href=\"article.pdf\">PDF</a> · "
            f"<a href=\"../report/index.html\">report</a></p>{body}</body></html>\n")
    typeset.write_pdf(parts, numbers, folder / "article.pdf", results)
    return outputs.atomic_write_text(folder / "index.html", page)

"""The reproduction article: ``article/index.md``, ``index.html`` and ``article.pdf``.

Laid out as a reproduction report in the tradition of ReScience C: the original claims, the
data, the methods with the model formula and Table 1, reproduced results beside the published
ones with Figures 1 to 3, the robustness and Monte Carlo findings, what differs and why, and
limitations.

**No number is typed into the prose.** The text is built from blocks whose numbers are
placeholders ``[[key|format]]`` naming a ``numbers.json`` key, which :mod:`trustlib.publish.prose`
fills (:func:`trustlib.publish.prose.render`), failing on a key that is missing. In the HTML every
filled number is a ``<span class="n" data-key="...">``, so a test can check that no other
number appears.

**The prose follows the run.** Every sentence that names a choice is generated from the run's
configuration (:class:`trustlib.run.config.RunConfig`): the cut-off rule and values, the
patient-trust cut-off, the adjustment set and the formula, the quadrature, the estimators;
"What differs" is written from the scorecard's failing rows. The same blocks give the Markdown,
the HTML and the Typst source of the PDF (:mod:`trustlib.publish.typeset`), so the three say the same.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import params, paths, store
from ..data import codebook
from ..stats import estimators, models, scorecard
from . import disclosure, prose

COVARIATE_WORDS = {"age": "age (years)", "female": "sex", "internal_medicine": "specialty (internal medicine or "
                   "family medicine)", "apc": "clinician type (nurse practitioner or physician assistant, or "
                   "physician)", "age_40_54": "age 40-54", "age_55_plus": "age 55 and over",
                   "np": "nurse practitioner", "pa": "physician assistant"}


# -- the blocks an article is made of -----------------------------------------------------------------

@dataclass
class Block:
    """One block: ``kind`` is heading, paragraph, code, table, figure, banner or list (``rows``:
    its items; ``level`` 1 numbered, 2 bulleted). Text uses a small inline markup (``**bold**``,
    ``*italic*``, ``[text](link)``, `` `code` ``), placeholders and ``{{literals}}``."""

    kind: str
    text: str = ""
    level: int = 2
    header: list[str] = field(default_factory=list)
    rows: list = field(default_factory=list)
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
        elif b.kind == "figure":                 # the title is inside the image: alt text only
            out.append(f"![{b.text}]({b.src})")
        elif b.kind == "equation":
            out.append(f'<p class="equation">{b.text}</p>')
        elif b.kind == "list":
            out.append("\n".join(f"{i}. {r}" if b.level == 1 else f"- {r}" for i, r in enumerate(b.rows, start=1)))
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
    shown = [f"[[{key}|d]] {noun}" for key, noun in counts if not prose.hidden(numbers, key)]
    withheld = [noun for key, noun in counts if prose.hidden(numbers, key)]
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
                 if prose.hidden(numbers, "outcome.n_high_high") else
                 "[[outcome.n_high_high|d]] clinicians ([[outcome.pct_high_high|.0f]]%) trust their organization and "
                 "are trusted by their patients (high-high)")
              + "; the outcome is high-high against everyone else."),
        Block("paragraph", "Each culture measure enters its own random-intercept logistic regression, adjusted for "
              f"{covariate_words(list(cfg.covariates))}, fitted by maximum likelihood with adaptive Gauss-Hermite "
              f"quadrature ([[model.nagq|d]] nodes per clinic{laplace}):"),
        Block("equation", EQUATION, src=EQUATION_TYPST),
        Block("paragraph", "where *y* is one for a high-high clinician *i* in clinic *j* and zero otherwise, *c* is the "
              "clinician's score on the culture measure (1-4), *x* the covariates, and *u* the clinic's random "
              "intercept, normal with variance *τ* (Table 2's clinic variance); the odds ratio is exp(*β*). In the "
              f"notation of R's lme4 {cite('lme4')}:"),
        Block("code", formula),
        Block("paragraph", "The odds ratio is per 1-point increase on the 1-4 scale." + beside + " The repository "
              f"checks its two-level fits against R's lme4 {cite('lme4')} and its GEE fits against R's geepack "
              f"{cite('geepack')} and statsmodels {cite('statsmodels')}" + (f"; the bias-reduced sandwich is Mancl and DeRouen's {cite('mancl')}"
                                      if "gee_md" in list(cfg.estimators) + list(cfg.sim_estimators) else "")
              + ". None of the "
              "cut-offs, the exclusion rule or the quadrature was published; each is a parameter, and the "
              "robustness analysis varies them."),
        _table1(cfg),
    ]


def _table1(cfg) -> Block:
    from ..data.cohort import QUADRANTS

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
    blocks = [Block("heading", "What differs, and why", level=3)]
    changed = params.non_default(cfg.parameters())
    if changed:
        blocks.append(Block("paragraph", f"This run's parameters are not the canonical ones of "
                            f"{paths.relative(paths.PIPELINE_PARAMS)}: `{params.parameter_words(changed)}`."))
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
        joint = numbers.get("unselected.all_rows.pass_rate")
        rates = ("" if joint is None else
                 " Of [[unselected.seeds|d]] fresh, unselected cohorts of the same generator (analysed with this "
                 "run's rules), " + ("none met every row." if joint == 0 else
                                     "[[unselected.all_rows.pass_rate|%]] met every row."))
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


REFERENCES = {   # key -> (reference, DOI); cited in the text as [n], n its place here
    "linzer2021": ("Linzer M, Neprash H, Brown R, Williams E, Audi C, Poplau S, Prasad K, Khullar D, for the Healthy "
                   "Work Place Investigators. Where Trust Flourishes: Perceptions of Clinicians Who Trust Their "
                   "Organizations and Are Trusted by Their Patients. *Ann Fam Med* 2021;19(6):521-526.",
                   "10.1370/afm.2732"),
    "linzer2019": ("Linzer M, Poplau S, Prasad K, et al. Characteristics of Health Care Organizations Associated With "
                   "Clinician Trust: Results From the Healthy Work Place Study. *JAMA Netw Open* 2019;2(6):e196201.",
                   "10.1001/jamanetworkopen.2019.6201"),
    "lme4": ("Bates D, Mächler M, Bolker B, Walker S. Fitting Linear Mixed-Effects Models Using lme4. *J Stat Softw* "
             "2015;67(1):1-48.", "10.18637/jss.v067.i01"),
    "geepack": ("Halekoh U, Højsgaard S, Yan J. The R Package geepack for Generalized Estimating Equations. "
                "*J Stat Softw* 2006;15(2):1-11.", "10.18637/jss.v015.i02"),
    "mancl": ("Mancl LA, DeRouen TA. A Covariance Estimator for GEE with Improved Small-Sample Properties. "
              "*Biometrics* 2001;57(1):126-134.", "10.1111/j.0006-341X.2001.00126.x"),
    "statsmodels": ("Seabold S, Perktold J. Statsmodels: Econometric and Statistical Modeling with Python. "
                    "*Proceedings of the 9th Python in Science Conference* 2010:92-96.",
                    "10.25080/Majora-92bf1922-011"),
    "speccurve": ("Simonsohn U, Simmons JP, Nelson LD. Specification Curve Analysis. *Nat Hum Behav* "
                  "2020;4(11):1208-1214.", "10.1038/s41562-020-0912-z"),
    "rescience": ("Rougier NP, Hinsen K, Alexandre F, et al. Sustainable Computational Science: the ReScience "
                  "Initiative. *PeerJ Comput Sci* 2017;3:e142.", "10.7717/peerj-cs.142"),
}
SOURCES = {"Linzer 2021": "linzer2021", "JAMA Netw Open 2019": "linzer2019"}   # published.csv's sources
QUANTITY_WORDS = {"or": "odds ratio", "ci_low": "lower bound", "ci_high": "upper bound", "p": "P value"}
SOFTWARE = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "seaborn", "papermill", "pandera", "joblib")


def cite(*keys: str) -> str:
    """``[n]`` (or ``[n, m]``) for references by key, n their place in :data:`REFERENCES`."""
    order = list(REFERENCES)
    return "{{[" + ", ".join(str(order.index(k) + 1) for k in keys) + "]}}"


def source_words(source: str) -> str:
    """A scorecard row's source with each paper named by its reference, e.g. "[1] Methods";
    an inferred number says so first ("inferred: ...")."""
    out = source
    for name, key in SOURCES.items():
        out = out.replace(name, cite(key).replace("{{", "").replace("}}", ""))
    return "{{" + out + "}}"


def maintainers() -> str:
    """The repository's maintainers as CITATION.cff names them."""
    try:
        authors = params.load_yaml(paths.CITATION).get("authors") or []
    except (OSError, params.ParameterError):
        return "the repository's maintainers"
    names = [a.get("name") or " ".join(x for x in (a.get("given-names"), a.get("family-names")) if x)
             for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if n) or "the repository's maintainers"


def _byline(run: dict) -> list[Block]:
    if run.get("commit"):
        when = f"run of commit {{{{{run['commit'][:12]}}}}}" + (" with uncommitted changes" if run["dirty"] else "")
        when += f", dated {{{{{run['date']}}}}}" if run.get("date") else ""
    else:
        when = "run outside a git checkout (no commit recorded)"
    who = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", maintainers())      # typographic quotes
    return [Block("paragraph", f"**{who}** · {when} · [report](../report/index.html) · "
                  f"[manifest](../manifest.json)"),
            Block("paragraph", "*A reproduction of* {{" + REFERENCES["linzer2021"][0].replace("*", "")
                  + f" doi:{REFERENCES['linzer2021'][1]}}}}}.")]


def _extracts(source: str) -> str:
    """What a raw-path run read, in words: the trial's extracts, or the rehearsal extract."""
    if source == "rehearsal":
        return ("the rehearsal extract (the synthetic cohort written as the trial's export would come, to "
                "rehearse the raw path: not the trial's data)")
    return "the trial's extracts"


def _abstract(synthetic: bool, measures: list[str], numbers: dict, source: str = "raw") -> list[Block]:
    ors = "; ".join(f"{_short(m).lower()} [[table2.{m}.glmm.adjusted.or|.2f]] (published [[published.{m}_or|.2f]])"
                    if f"published.{m}_or" in numbers else
                    f"{_short(m).lower()} [[table2.{m}.glmm.adjusted.or|.2f]]" for m in measures)
    data = ("The trial's data are not public, so this run uses a synthetic cohort of [[flow.n_clinics|d]] clinics, "
            "[[flow.n_clinicians|d]] clinicians and [[flow.n_patients|d]] patient surveys generated to match the "
            "published marginals." if synthetic else
            f"This run uses {_extracts(source)} ({_cohort_words(numbers)}).")
    close = ("Because the synthetic cohort was selected to agree with the paper, this shows that the published "
             "analysis can be computed as described and how much its unpublished choices matter, not that its "
             "findings hold: only the trial's data could show that." if synthetic else
             "The robustness analysis shows how much the choices the paper did not publish move these numbers.")
    return [Block("heading", "Abstract"),
            Block("paragraph", f"Linzer et al. {cite('linzer2021')} report that clinicians who trust their "
                  "organization and are trusted by their patients work in clinics they perceive as emphasizing "
                  "quality, communication, cohesiveness and values alignment with leaders. We reproduce their "
                  f"clinic-characteristics analysis step by step, in notebooks anyone can rerun. {data} With the "
                  "paper's model, a two-level logistic regression per culture measure adjusted for age, sex, specialty "
                  f"and clinician type, the adjusted odds ratios per scale point are: {ors}. "
                  "[[scorecard.n_passed|d]] of the [[scorecard.n_compared|d]] published numbers compared are "
                  "consistent with the paper, [[scorecard.n_agree_to_print|d]] of them at the printed precision. "
                  + close)]


def _introduction() -> list[Block]:
    return [Block("heading", "Introduction"),
            Block("paragraph", "Among primary care clinicians, those who both trust their organization and are trusted "
                  "by their patients (\"high-high\") work in clinics they perceive as emphasizing quality, "
                  "communication and information, cohesiveness, and values alignment with leaders "
                  f"{cite('linzer2021')}. The paper reports one adjusted two-level odds ratio per culture measure "
                  "(Table 2 below, published column); its sample and measures are described in a sister paper on the "
                  f"same baseline survey {cite('linzer2019')}, from which seven of the scorecard's published numbers "
                  "come. Neither paper published its data, code, cut-offs or exclusion rule. This reproduction, laid "
                  f"out as a ReScience C article {cite('rescience')}, writes every choice down as a parameter, "
                  "computes every number from a run that anyone can repeat, and compares each published number with "
                  "the reproduced one.")]


EQUATION = ("logit Pr(<i>y</i><sub><i>ij</i></sub> = 1 | <i>u</i><sub><i>j</i></sub>) = <i>α</i> + <i>β</i> "
            "<i>c</i><sub><i>ij</i></sub> + <i>γ</i>′<i>x</i><sub><i>ij</i></sub> + <i>u</i><sub><i>j</i></sub>, "
            "&nbsp; <i>u</i><sub><i>j</i></sub> ~ N(0, <i>τ</i>)")
EQUATION_TYPST = ('$ "logit" Pr(y_(i j) = 1 | u_j) = alpha + beta c_(i j) + gamma\' x_(i j) + u_j, '
                  'quad u_j tilde N(0, tau) $')


def _scorecard_table(card, numbers: dict) -> Block:
    """Every published number, its source, the reproduced number and the verdicts."""
    rows = []
    for r in card.itertuples():
        spec = FORMAT.get(r.quantity, ".2f")
        inferred = scorecard.is_inferred(r.source)
        lead = "below " if r.comparator == "<" else ""
        published = f"{lead}[[published.{r.key}|{spec}]]" + (" (inferred)" if inferred else "")
        reproduced = ("suppressed" if r.verdict == scorecard.NOT_COMPARED else f"[[{r.reproduced_key}|{spec}]]")
        rows.append([_row_label(r), published, reproduced, scorecard.rule_words(r.quantity, r.comparator),
                     r.verdict, r.to_print, source_words(str(r.source))])
    return Block("table", "**Table 3. Scorecard.** Every published number this run compares, where the paper (or its sister "
                 "paper) prints it, and whether the reproduced number is consistent with it (by the row's rule) and "
                 "rounds to it at the printed precision (to print). An *inferred* number is not printed as such: the "
                 "source says what it is inferred from.",
                 header=["Published number", "Published", "Reproduced", "Rule", "Consistent", "To print", "Source"],
                 rows=rows)


def _loose(card, synthetic: bool, numbers: dict) -> list[Block]:
    """The discussion of each difference in turn: for each measure whose rows pass only by the
    loose rule (consistent, not to print), what differs and why."""
    if card is None:
        return []
    out = []
    for m in _measures():
        rows = card[(card["measure"] == m) & (card["verdict"] == scorecard.PASS) & (card["to_print"] != scorecard.PASS)]
        if len(rows) and not out:
            out.append(Block("heading", "Consistent only by the loose rule", level=3))
            out.append(Block("paragraph", "Below, each measure whose published numbers this run meets only by the "
                             "loose rule: consistent with the paper, but not equal to it at the printed precision. The "
                             "rule for an odds ratio is that each lies inside the other's 95% interval, and for a "
                             "bound that it lies within the published interval's half-width on the log scale: the "
                             "published intervals are wide, so these rules admit odds ratios far from the published "
                             "point. That is what they are for, since a second sample of this size would differ by as "
                             "much, and also why passing them is weak evidence."
                             + (" Table 2's last column says how often fresh, unselected cohorts of the same "
                                "generator meet each odds ratio's row: how often sampling alone keeps a cohort of "
                                "this size within the rule." if synthetic else "")))
        if not len(rows):
            continue
        t, p = f"table2.{m}.glmm.adjusted", f"published.{m}"
        mine, theirs = numbers.get(f"{t}.or"), numbers.get(f"{p}_or")
        if mine is None or theirs is None or isinstance(mine, str):
            continue
        direction = "higher" if mine > theirs else "lower"
        width = lambda lo, hi: (math.log(hi) - math.log(lo)) if lo and hi else 0.0  # noqa: E731
        wider = width(numbers.get(f"{t}.ci_low"), numbers.get(f"{t}.ci_high")) > width(
            numbers.get(f"{p}_ci_low"), numbers.get(f"{p}_ci_high"))
        words = [QUANTITY_WORDS.get(q, q) for q in rows["quantity"]]
        which = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        text = (f"**{_short(m)}.** The paper reports [[{p}_or|.2f]] ([[{p}_ci_low|.2f]]-[[{p}_ci_high|.2f]]), "
                f"this run [[{t}.or|.2f]] ([[{t}.ci_low|.2f]]-[[{t}.ci_high|.2f]]): the reproduced odds ratio is "
                f"{direction} and its interval {'wider' if wider else 'narrower'}. Its {which} "
                f"{'pass' if len(rows) > 1 else 'passes'} only by the loose rule.")
        if not synthetic:
            text += (" On the trial's data such a difference points to a choice the paper did not publish (cut-offs, "
                     "exclusion rule, quadrature, software); the robustness analysis shows which choices move it.")
        out.append(Block("paragraph", text))
    return out


def _software(run: dict) -> list[Block]:
    pk = run.get("packages", {})
    items = [f"Python {{{{{run['python']}}}}}"] if run.get("python") else []
    items += [f"{name} {{{{{pk[name]}}}}}" + (f" {cite('statsmodels')}" if name == "statsmodels" else "")
              for name in SOFTWARE if name in pk]
    return [Block("heading", "Software and data availability"),
            Block("paragraph", "The code, the notebooks, the synthetic cohort and the published numbers are in this "
                  "repository; `make all` reruns everything and `make compare` says whether a run is the canonical "
                  "run byte for byte. The trial's data are not public. The run used (from its manifest.json):"),
            Block("list", rows=items or ["(no manifest: versions unknown)"], level=2)]


def _references() -> list[Block]:
    return [Block("heading", "References"),
            Block("list", rows=[f"{{{{{text} doi:{doi}}}}}" for text, doi in REFERENCES.values()],
                  level=1)]


def blocks(cfg, links: dict[str, str], numbers: dict, card=None, run: dict | None = None) -> list[Block]:
    """The article as blocks, for the run configured by ``cfg`` (``links``: output name -> link
    to the report cell that made it; ``card``: the run's scorecard; ``run``: :func:`trustlib.run.manifest.run_facts`)."""
    synthetic = cfg.data_source == "synthetic"
    measures = _measures()
    out = [Block("heading", "[Re] Where Trust Flourishes: perceived organizational culture and mutual trust", level=1)]
    out += _byline(run or {})
    if not synthetic:
        out.append(Block("banner", disclosure.CONFIDENTIAL))
    out += [
        *_abstract(synthetic, measures, numbers, cfg.data_source),
        *_introduction(),
        Block("paragraph", "Every number below comes from this run's numbers.json; each table and figure links to the "
              "notebook cell that made it, in the [report](../report/index.html)."),
        Block("heading", "Data"),
        Block("paragraph",
              "The trial's data are not public. This run uses the repository's **synthetic cohort**: "
              "[[flow.n_clinics|d]] clinics, [[flow.n_clinicians|d]] clinicians and [[flow.n_patients|d]] patient "
              "surveys, generated from a model whose parameters were tuned to the published marginals. Every "
              "number below is a number about that cohort, not about the trial."
              if synthetic else
              f"This run uses {_extracts(cfg.data_source)} ({_cohort_words(numbers)}). **{disclosure.CONFIDENTIAL}** "
              "Counts and statistics of fewer than [[disclosure.min_cell_size|d]] people, and any number that would "
              "give one back, are withheld by disclosure control: they read *suppressed*."),
        *_methods(cfg, numbers),
        Block("heading", "Results"),
        Block("paragraph", "Figure 1 places each modelled clinician by trust in the organization and by patients' "
              "trust, with the cut-offs that form the four quadrants that Table 1 describes."),
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
        Block("paragraph", "Figure 3 sets the culture scores of the high-high clinicians beside everyone else's."),
        Block("figure", "Figure 3. Perceived culture by outcome group", src=links.get("figure3_culture_by_outcome.png", "")),
        Block("paragraph", f"The scorecard ([table]({links.get('scorecard', '')})) compares every published number: "
              "[[scorecard.n_passed|d]] of the [[scorecard.n_compared|d]] compared are consistent with the paper, and "
              "[[scorecard.n_agree_to_print|d]] round to the published value at its printed precision, the stricter "
              "test that a run on the trial's own data should pass."),
        *([_scorecard_table(card, numbers)] if card is not None else []),
        Block("heading", "Robustness and the Monte Carlo check"),
        Block("paragraph", f"Across the specification grid ([support]({links.get('robustness_support', '')})), a "
              f"specification curve {cite('speccurve')} over every choice the paper did not publish, and with "
              f"each clinic left out in turn ([influence]({links.get('influence', '')})):"),
        Block("table", "**Table 4.** Robustness: the adjusted odds ratio across the specification grid and without "
              "each clinic in turn.", header=["Measure", "Specifications estimable", "OR > 1", "OR > 1 and P < .05", "Median OR",
                               "OR without one clinic"],
              rows=[[_short(m), f"[[robustness.{m}.estimable|d]] of [[robustness.{m}.specifications|d]]",
                     f"[[robustness.{m}.share_or_above_1|%]]",
                     f"[[robustness.{m}.share_or_above_1_p_below_05|%]]", f"[[robustness.{m}.or_median|.2f]]",
                     f"[[influence.{m}.loo_or_min|.2f]]-[[influence.{m}.loo_or_max|.2f]]"] for m in measures]),
        Block("paragraph", "A parametric bootstrap of [[simulation.replicates|d]] replicates per measure, simulated "
              f"from each fitted model ([summary]({links.get('simulation_summary', '')})), gives the bias of each "
              "estimator's log odds ratio and the coverage of its 95% interval (exact binomial interval in brackets):"),
        Block("table", "**Table 5.** Monte Carlo check: bias of each estimator's log odds ratio and coverage of its "
              "95% interval.", header=["Measure", "Estimator", "Replicates fitted", "Bias", "Coverage"],
              rows=[[_short(m), estimators.label(e), f"[[simulation.{m}.{e}.converged|d]] of [[simulation.replicates|d]]",
                     f"[[simulation.{m}.{e}.bias|+.3f]]",
                     f"[[simulation.{m}.{e}.coverage|.1%]] ([[simulation.{m}.{e}.coverage_ci_low|.1%]]-"
                     f"[[simulation.{m}.{e}.coverage_ci_high|.1%]])"] for m in measures for e in cfg.sim_estimators]),
        Block("heading", "Discussion"),
        *_differs(cfg, card, numbers),
        *_loose(card, synthetic, numbers),
        Block("heading", "Limitations"),
        Block("paragraph", "The paper does not publish its code, its cut-offs or its exclusion rule; the choices here are "
              "documented guesses, and the robustness analysis shows how much they matter. The published count of "
              "high-high clinicians is inferred from a printed percentage, not printed itself. On synthetic data "
              "nothing here can confirm the paper: only the trial's data, run through the same notebooks, could."),
        *_software(run or {}),
        *_references(),
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


def build(results: Path, cfg, run: dict | None = None) -> Path:
    """Write ``article/index.md``, ``index.html`` and ``article.pdf`` below ``results``; return the HTML.
    ``run``: the byline's facts about the run, as its runner knows them
    (:func:`trustlib.run.manifest.run_facts`)."""
    import mistune

    from . import typeset

    results = Path(results)
    numbers = store.read_numbers(results)
    card_path = results / "scorecard.csv"
    card = store.read_table(card_path) if card_path.exists() else None
    parts = blocks(cfg, _links(results), numbers, card, run)
    text = to_markdown(parts)
    folder = results / "article"
    store.atomic_write_text(folder / "index.md", prose.render(text, numbers, markup=False))
    body = mistune.html(prose.render(text, numbers, markup=True))
    body = body.replace(f"<p><strong>{disclosure.CONFIDENTIAL}</strong></p>",
                        f"<p class=\"banner\"><strong>{disclosure.CONFIDENTIAL}</strong></p>")
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>[Re] Where Trust Flourishes</title>"
            f"<style>{STYLE}</style></head><body><p><a href=\"article.pdf\">PDF</a> · "
            f"<a href=\"../report/index.html\">report</a></p>{body}</body></html>\n")
    typeset.write_pdf(parts, numbers, folder / "article.pdf", results, author=maintainers())
    return store.atomic_write_text(folder / "index.html", page)

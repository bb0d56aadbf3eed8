"""Published versus reproduced: one row per published number with a stated tolerance.

Rules by quantity (published values in ``data/published.csv``):

============  =====================================================================
count         exact agreement
percent       within 0.5 percentage points (the paper rounds to whole percent)
mean, sd      within 0.3 (years)
alpha         within 0.05
or            the published OR lies in the reproduced 95% CI *and* the reproduced OR
              lies in the published 95% CI
ci_low/high   within the published half-width on the log scale, ln(upper/lower) / 2
p             published "< x": the reproduced P is below x; published "= x": the same
              conclusion at alpha = .05 (both below or both at/above .05)
============  =====================================================================

These rules say whether a cohort is *consistent* with the paper (``verdict``; what the synthetic
cohort was calibrated to). A second, strict column, ``to_print``, says whether the reproduced
number rounds to the published one at the precision the paper prints it (counts exactly; 4.95
within 0.005; a P published as "< .001" below .001). That is what a run on the trial's own data
should show; on synthetic data it mostly cannot.

Both columns read ``pass``, ``fail`` or ``not compared``: a number that disclosure control hid
(raw data) is not compared, neither passing nor failing; ``make verify`` passes when every
compared row passes.
"""

from __future__ import annotations

import math

import pandas as pd

from .. import paths

ABS_TOL = {"count": 0.0, "percent": 0.5, "mean": 0.3, "sd": 0.3, "alpha": 0.05}
PASS, FAIL, NOT_COMPARED = "pass", "fail", "not compared"


def load_published() -> pd.DataFrame:
    """``data/published.csv``, with ``value`` kept as printed (its decimals set the precision)."""
    return pd.read_csv(paths.PUBLISHED, keep_default_na=False, dtype={"value": str})


def agrees_to_print(printed: str, comparator: str, reproduced: float) -> bool:
    """True when ``reproduced`` rounds to the published ``printed`` value at its precision
    (half a unit of its last printed digit), or lies below it for a published "< x"."""
    value = float(printed)
    if math.isnan(reproduced):
        return False
    if comparator == "<":
        return reproduced < value
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(reproduced - value) <= 0.5 * 10 ** -decimals + 1e-12


def build(published: pd.DataFrame, numbers: dict) -> pd.DataFrame:
    """Scorecard rows: key, measure, quantity, published, comparator, reproduced, reproduced_key,
    tolerance (text), verdict (the consistency rules above) and to_print (the strict rule), each
    ``pass``, ``fail`` or ``not compared``."""
    pub = published.set_index("key")
    rows = []
    for key, r in pub.iterrows():
        q, value = r["quantity"], float(r["value"])
        rep = numbers.get(r["reproduced_key"])
        hidden = isinstance(rep, str)             # "suppressed" by disclosure control (raw data)
        rep = float("nan") if rep is None or hidden else float(rep)
        m = r["measure"]
        if q in ABS_TOL:
            tol = ABS_TOL[q]
            ok = abs(rep - value) <= tol + 1e-9
            text = "exact" if tol == 0 else f"within {tol:g}"
        elif q == "or":
            lo, hi = float(pub.loc[f"{m}_ci_low", "value"]), float(pub.loc[f"{m}_ci_high", "value"])
            rlo = numbers.get(f"table2.{m}.glmm.adjusted.ci_low")
            rhi = numbers.get(f"table2.{m}.glmm.adjusted.ci_high")
            ok = rlo is not None and rhi is not None and rlo <= value <= rhi and lo <= rep <= hi
            text = "each inside the other's 95% CI"
        elif q in ("ci_low", "ci_high"):
            lo, hi = float(pub.loc[f"{m}_ci_low", "value"]), float(pub.loc[f"{m}_ci_high", "value"])
            half = math.log(hi / lo) / 2
            ok = rep > 0 and abs(math.log(rep / value)) <= half
            text = f"within x{math.exp(half):.2f} (published CI half-width, log scale)"
        elif q == "p" and r["comparator"] == "<":
            ok = rep < value
            text = f"below {value:g}, as published"
        elif q == "p":
            ok = (rep < 0.05) == (value < 0.05)
            text = "same side of .05"
        else:
            raise ValueError(f"unknown quantity {q!r} in {paths.relative(paths.PUBLISHED)}")
        ok = bool(ok) and not math.isnan(rep)
        printed = agrees_to_print(str(r["value"]), r["comparator"], rep)
        if hidden:
            text = "suppressed by disclosure control: not compared"
        rows.append({"key": key, "measure": m, "quantity": q, "published": value,
                     "comparator": r["comparator"], "reproduced": rep, "reproduced_key": r["reproduced_key"],
                     "tolerance": text, "verdict": NOT_COMPARED if hidden else (PASS if ok else FAIL),
                     "to_print": NOT_COMPARED if hidden else (PASS if printed else FAIL), "source": r["source"]})
    return pd.DataFrame(rows)


def rule_words(quantity: str, comparator: str = "=") -> str:
    """The consistency rule of a quantity, in words (for prose: no number typed)."""
    return {"count": "exact agreement", "percent": "within half a percentage point",
            "mean": "within three tenths of a unit", "sd": "within three tenths of a unit",
            "alpha": "within five hundredths", "or": "each inside the other's 95% confidence interval",
            "ci_low": "within the published interval's half-width on the log scale",
            "ci_high": "within the published interval's half-width on the log scale",
            "p": "below the published bound" if comparator == "<" else "the same side of the 5% significance level"
            }[quantity]


def counts(card: pd.DataFrame) -> dict:
    """The scorecard's tallies (for ``numbers.json``): rows, compared, passed, failed, not
    compared, and those that agree to print."""
    v = card["verdict"]
    return {"n_checks": len(card), "n_compared": int((v != NOT_COMPARED).sum()), "n_passed": int((v == PASS).sum()),
            "n_failed": int((v == FAIL).sum()), "n_not_compared": int((v == NOT_COMPARED).sum()),
            "n_agree_to_print": int((card["to_print"] == PASS).sum())}


def summary(card: pd.DataFrame) -> str:
    """The scorecard in one line: how many compared published numbers are consistent with the
    paper, and how many also round to the published value at its printed precision."""
    c = counts(card)
    hidden = f"; {c['n_not_compared']} suppressed, not compared" if c["n_not_compared"] else ""
    return (f"{c['n_passed']} of {c['n_compared']} compared published numbers consistent with the paper, "
            f"{c['n_agree_to_print']} of them to the printed precision{hidden}")


def failures(card: pd.DataFrame) -> pd.DataFrame:
    """The rows that were compared and failed."""
    return card[card["verdict"] == FAIL]


def published_ors() -> pd.DataFrame:
    """Published adjusted ORs and 95% CIs: one row per measure (measure, or, ci_low, ci_high)."""
    pub = load_published()
    pub = pub[pub["quantity"].isin(["or", "ci_low", "ci_high"])]
    wide = pub.pivot(index="measure", columns="quantity", values="value").astype(float)
    order = list(dict.fromkeys(pub["measure"]))
    return wide.loc[order, ["or", "ci_low", "ci_high"]].reset_index()


def with_unselected_rates(card: pd.DataFrame, rates: pd.DataFrame | None) -> pd.DataFrame:
    """The scorecard with ``unselected_pass_rate`` (0-1): the share of unselected synthetic
    cohorts meeting each row (:func:`trustlib.stats.calibration.unselected_pass_rates`). Unchanged
    when ``rates`` is None (raw data: the rates are about the synthetic generator)."""
    if rates is None:
        return card
    rate = rates.set_index("key")["pass_rate"].rename("unselected_pass_rate")
    return card.join(rate, on="key")


def selection_summary(card: pd.DataFrame, rates: pd.DataFrame | None) -> pd.Series:
    """Rows met by this cohort, and (synthetic data) how many unselected cohorts met every row."""
    c = counts(card)
    out = {"this cohort": f"{c['n_passed']} of {c['n_compared']} compared rows"}
    if rates is not None:
        joint = rates.set_index("key").loc["all rows"]
        out["this cohort"] += " (selected to meet them)"
        out["unselected cohorts meeting every row"] = f"{int(joint['passes'])} of {int(joint['seeds'])}"
    return pd.Series(out)


LABELS = {"n_clinics": "clinics", "n_clinicians": "clinicians surveyed", "n_patients": "patient surveys",
          "n_modelled": "clinicians modelled", "n_high_high": "high-high clinicians", "pct_high_high": "high-high, %",
          "age_mean": "age, mean (years), clinicians surveyed", "age_sd": "age, SD (years), clinicians surveyed",
          "n_women": "women among the clinicians surveyed", "n_physicians": "physicians among the clinicians surveyed",
          "n_family": "family medicine among the clinicians surveyed", "alpha_org_trust":
          "Cronbach's alpha, trust in the organization"}
QUANTITY_WORDS = {"or": "odds ratio", "ci_low": "95% CI, lower bound", "ci_high": "95% CI, upper bound",
                  "p": "P value"}


def label(key: str, measure, quantity: str) -> str:
    """A scorecard row in words: the measure's name and the quantity, or the count's name."""
    from ..data import codebook

    if isinstance(measure, str) and measure:
        try:
            name = codebook.scale_label(measure)
        except KeyError:
            name = measure
        return f"{name}: {QUANTITY_WORDS.get(quantity, quantity)}"
    return LABELS.get(key, key.replace("_", " "))


def format_value(value, quantity: str, comparator: str = "=") -> str:
    """A number as the paper prints it: P as '< .001' or '.017', counts whole, shares in %."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "--"
    if quantity == "p":
        if comparator == "<":
            return "< " + f"{value:.3f}".lstrip("0")
        return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")
    if quantity == "count":
        return f"{value:,.0f}"
    if quantity == "percent":
        return f"{value:.1f}%"
    return f"{value:.2f}"


def is_inferred(source) -> bool:
    """A published number that the paper does not print but that is inferred from what it prints
    (its source in data/published.csv reads "inferred: ...")."""
    return str(source).startswith("inferred")


def display(card: pd.DataFrame, rates: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scorecard for readers: each row in words, numbers as the paper prints them (a number
    the paper does not print, but that is inferred from what it prints, marked "inferred"), the
    rule, the verdicts, where the paper prints it (source), and (synthetic data) the share of
    unselected cohorts that meet the row."""
    out = pd.DataFrame({
        "what": [label(r.key, r.measure, r.quantity) for r in card.itertuples()],
        "published": [format_value(r.published, r.quantity, r.comparator)
                      + (" (inferred)" if is_inferred(r.source) else "") for r in card.itertuples()],
        "reproduced": ["suppressed" if r.verdict == NOT_COMPARED else format_value(r.reproduced, r.quantity)
                       for r in card.itertuples()],
        "rule": card["tolerance"].to_numpy(), "consistent": card["verdict"].to_numpy(),
        "to print": card["to_print"].to_numpy(), "source": card["source"].to_numpy()})
    if rates is not None:
        rate = rates.set_index("key")["pass_rate"]
        out["unselected cohorts meeting it"] = [f"{100 * rate[k]:.0f}%" if k in rate else "" for k in card["key"]]
    return out

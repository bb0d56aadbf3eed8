"""The figures. Each function takes tidy tables and returns a matplotlib Figure.

**The same figure on any machine.** Every function draws from its data at the precision tables
are written (:func:`trustlib.store.written`) and sorts with explicit tie-breaks, so the last
bits a CPU or BLAS kernel adds cannot reorder the specifications or move a point. The values a
figure draws are attached to it as ``figure.plotted`` (a tidy DataFrame), which
:meth:`trustlib.publish.outputs.Writer.figure` writes beside the image (``figures/<name>.csv``): the
figure's data can be compared across machines at written precision, its pixels need not be.
Jitter comes from a local random generator with a fixed seed, never numpy's global one.

**For clinical readers.** Odds ratios sit on a log axis ticked in plain numbers (0.5, 1, 2, 5);
every text is at least :data:`MIN_FONT` points at the saved size; specification choices are
written in words; the quadrant colours are ColorBrewer's Dark2 (colour-blind safe).

Importing this module changes no global state: the matplotlib backend is whatever the
environment chose (inline in a notebook kernel; ``MPLBACKEND`` or matplotlib's headless
fallback elsewhere), and the style applies only inside each figure function (:func:`styled`).
"""

from __future__ import annotations

import functools
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from .. import store
from ..data import codebook
from ..stats import estimators
from . import disclosure
from ..data.cohort import QUADRANTS

PALETTE = dict(zip(QUADRANTS, ["#1b9e77", "#7570b3", "#d95f02", "#9e9e9e"]))
OUTCOME_COLOURS = {"high-high": "#1b9e77", "all others": "#7f7f7f"}
MIN_FONT = 9.0          # points, at the saved size: no text in any figure is smaller
RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9.5,
      "ytick.labelsize": 9.5, "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 11}
OR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
JITTER_SEED = 0


def styled(func):
    """Draw ``func``'s figure inside the project's style, leaving global rcParams alone."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with sns.axes_style("whitegrid"), plt.rc_context(RC):
            return func(*args, **kwargs)
    return wrapper


def _plotted(fig: plt.Figure, data: pd.DataFrame) -> plt.Figure:
    fig.plotted = data.reset_index(drop=True)
    return fig


def legend_outside(ax: plt.Axes) -> None:
    """The legend to the right of the plot, where it can cover no data point or interval."""
    ax.legend(title=None, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def or_axis(ax, axis: str, values) -> None:
    """Make ``axis`` ("x" or "y") a log odds-ratio axis spanning ``values`` and 1, ticked in plain
    numbers from :data:`OR_TICKS` (the outermost ticks frame the data)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    low, high = min([1.0, *v]), max([1.0, *v])
    below = [t for t in OR_TICKS if t <= low]
    above = [t for t in OR_TICKS if t >= high]
    lo, hi = (below[-1] if below else low), (above[0] if above else high)
    ticks = [t for t in OR_TICKS if lo <= t <= hi]
    scale, limits, target = ((ax.set_xscale, ax.set_xlim, ax.xaxis) if axis == "x"
                             else (ax.set_yscale, ax.set_ylim, ax.yaxis))
    scale("log")
    limits(lo / 1.15, hi * 1.15)
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(lambda t, _: f"{t:g}"))
    target.set_minor_locator(NullLocator())


def _jitter(n: int, width: float) -> np.ndarray:
    """Horizontal offsets for ``n`` points: a fixed local generator (the same on every run)."""
    return np.random.default_rng(JITTER_SEED).uniform(-width, width, n)


def _wrap(text: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(text, width))


@styled
def trust_scatter(analysis: pd.DataFrame, cutoffs: dict) -> plt.Figure:
    """Figure 1: clinician trust in the organization (1-4) vs mean patient trust (0-100)."""
    d = store.written(analysis[["org_trust", "patient_trust", "quadrant"]]).sort_values(
        ["quadrant", "org_trust", "patient_trust"], kind="mergesort")
    fig, ax = plt.subplots(figsize=(7, 5.2))
    sns.scatterplot(data=d, x="org_trust", y="patient_trust", hue="quadrant", hue_order=QUADRANTS,
                    palette=PALETTE, s=30, edgecolor="white", linewidth=0.4, ax=ax)
    ax.axvline(cutoffs["org_trust_cutoff"], color="black", lw=0.8, ls="--")
    ax.axhline(cutoffs["patient_trust_cutoff"], color="black", lw=0.8, ls="--")
    ax.set(xlabel="Clinician trust in the organization (1-4)", ylabel="Patients' trust in the clinician (mean, 0-100)",
           title=f"Figure 1. Clinicians by trust quadrant (n = {len(d)})")
    legend_outside(ax)
    return _plotted(fig, d)


@styled
def trust_quadrant_counts(analysis: pd.DataFrame, cutoffs: dict, counts: pd.DataFrame, k: int) -> plt.Figure:
    """Figure 1 in aggregate form, for real data: the four quadrants' clinician counts (from
    :func:`trustlib.publish.disclosure.cohort_counts`) and a histogram of each trust score with bins of
    fewer than ``k`` clinicians (and their complements) hidden. No clinician is plotted."""
    fig, (grid, org, pat) = plt.subplots(1, 3, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
    layout = {QUADRANTS[0]: (1, 1), QUADRANTS[1]: (1, 0), QUADRANTS[2]: (0, 1), QUADRANTS[3]: (0, 0)}
    plotted = []
    for q, (x, y) in layout.items():
        n = disclosure.shown(counts, q)
        plotted.append({"panel": "quadrants", "bin": q, "shown": n})
        grid.add_patch(plt.Rectangle((x, y), 1, 1, color=PALETTE[q], alpha=0.35))
        grid.text(x + 0.5, y + 0.5, f"{q.replace(' / ', chr(10))}\n{'n ' + str(n) if n != disclosure.HIDDEN else n}",
                  ha="center", va="center", fontsize=MIN_FONT)
    grid.set(xlim=(0, 2), ylim=(0, 2), xticks=[0.5, 1.5], yticks=[0.5, 1.5], xlabel="Trust in the organization",
             ylabel="Patients' trust")
    grid.grid(False)
    grid.set_xticklabels(["low", "high"])
    grid.set_yticklabels(["low", "high"])
    for ax, col, bins, cut, label in ((org, "org_trust", np.linspace(1, 4, 7), "org_trust_cutoff",
                                       "Clinician trust in the organization (1-4)"),
                                      (pat, "patient_trust", np.linspace(0, 100, 11), "patient_trust_cutoff",
                                       "Patients' trust in the clinician (mean, 0-100)")):
        h = disclosure.histogram(analysis[col], bins, k, split=cutoffs[cut])
        plotted += [{"panel": col, "bin": f"{r.left:g}-{r.right:g}", "shown": r.shown} for r in h.itertuples()]
        width = h["right"] - h["left"]
        ax.bar(h["left"], h["shown"].fillna(0), width=width, align="edge", color="#7570b3", edgecolor="white")
        hid = h["shown"].isna()
        ax.bar(h.loc[hid, "left"], np.full(hid.sum(), k), width=width[hid], align="edge", fill=False,
               hatch="//", edgecolor="#999999", label=f"suppressed (< {k} or complement)")
        ax.axvline(cutoffs[cut], color="black", lw=0.8, ls="--")
        ax.set(xlabel=label, ylabel="clinicians")
        if hid.any():
            ax.legend(loc="upper left")
    fig.suptitle(f"Figure 1 (aggregate, real data). Clinicians by trust quadrant; cells under {k} suppressed")
    fig.tight_layout()
    return _plotted(fig, pd.DataFrame(plotted).astype({"shown": object}))


@styled
def forest(reproduced: pd.DataFrame, published: pd.DataFrame) -> plt.Figure:
    """Figure 2: adjusted ORs (95% CI) per culture measure, reproduced beside published.

    ``reproduced`` has measure, or, ci_low, ci_high; ``published`` the same for the measures the
    paper reports (a measure it does not report is drawn without a published interval).
    """
    measures = list(reproduced["measure"])
    cols = ["measure", "or", "ci_low", "ci_high"]
    d = pd.concat([reproduced[cols].assign(source="reproduced"),
                   published[published["measure"].isin(measures)][cols].assign(source="published")])
    d = store.written(d)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.75 * len(measures)))
    for offset, (label, colour) in zip((-0.15, 0.15), (("reproduced", "#1b9e77"), ("published", "#444444"))):
        part = d[d["source"] == label].set_index("measure").reindex(measures)
        y = np.arange(len(measures)) + offset
        ax.errorbar(part["or"], y, xerr=[part["or"] - part["ci_low"], part["ci_high"] - part["or"]], fmt="o",
                    color=colour, capsize=3, label=label)
    ax.axvline(1, color="black", lw=0.8)
    or_axis(ax, "x", pd.concat([d["ci_low"], d["ci_high"]]))
    ax.set_yticks(range(len(measures)), [codebook.scale_label(m) for m in measures])
    ax.invert_yaxis()
    ax.set(xlabel="Odds ratio per 1-point increase (log scale)",
           title="Figure 2. Culture and high-high trust: adjusted two-level ORs")
    legend_outside(ax)
    return _plotted(fig, d[["source"] + cols])


def group_summary(analysis: pd.DataFrame, measures: list[str]) -> pd.DataFrame:
    """Per measure and outcome group (high-high, all others): n, mean score (1-4) and its 95%
    t-interval. The statistics Figure 3 draws beside the clinicians' scores."""
    from scipy import stats

    rows = []
    group = np.where(analysis["high_high"] == 1, "high-high", "all others")
    for m in measures:
        for g in OUTCOME_COLOURS:
            x = analysis.loc[group == g, m].dropna().to_numpy(float)
            half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
            mean = x.mean() if len(x) else np.nan
            rows.append({"measure": m, "group": g, "n": len(x), "mean": mean,
                         "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(rows)


@styled
def culture_by_outcome(analysis: pd.DataFrame, measures: list[str]) -> plt.Figure:
    """Figure 3: each culture scale (1-4) by outcome group: every clinician's score as a point
    (jittered), and the group mean with its 95% CI. Shows every group, including one whose
    scores all sit on the same value (where a box plot would collapse to a line)."""
    summary = store.written(group_summary(analysis, measures))
    fig, ax = plt.subplots(figsize=(9, 4.8))
    group = np.where(analysis["high_high"] == 1, "high-high", "all others")
    for i, m in enumerate(measures):
        for offset, (g, colour) in zip((-0.2, 0.2), OUTCOME_COLOURS.items()):
            x = np.sort(analysis.loc[group == g, m].dropna().to_numpy(float))
            ax.scatter(i + offset + _jitter(len(x), 0.09), x + _jitter(len(x), 0.04)[::-1], s=7, color=colour,
                       alpha=0.35, linewidths=0)
            s = summary[(summary["measure"] == m) & (summary["group"] == g)].iloc[0]
            ax.errorbar(i + offset, s["mean"], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]],
                        fmt="D", color="black", markerfacecolor=colour, markersize=7, capsize=4, zorder=4,
                        label=f"{g}: mean (95% CI)" if i == 0 else None)
    ax.set_xticks(range(len(measures)), [_wrap(codebook.scale_label(m), 18) for m in measures])
    ax.set(xlabel=None, ylabel="Scale score (1-4; points: clinicians, jittered)", ylim=(0.85, 4.15),
           title="Figure 3. Perceived culture by outcome group")
    ax.grid(axis="x", visible=False)        # a vertical line at each measure would split its two groups
    legend_outside(ax)
    return _plotted(fig, summary)


@styled
def culture_means(means: pd.DataFrame, measures: list[str], k: int) -> plt.Figure:
    """Figure 3 in aggregate form, for real data: the mean of each culture scale (1-4) in
    high-high clinicians and all others (:func:`trustlib.publish.disclosure.outcome_group_means`; groups
    hidden there are left out). No clinician is plotted."""
    fig, ax = plt.subplots(figsize=(9, 4.6))
    x = np.arange(len(measures))
    plotted = []
    for offset, (group, colour) in zip((-0.15, 0.15), OUTCOME_COLOURS.items()):
        row = store.written(means.loc[group, measures].astype(float))
        n = means.loc[group, "n"]
        plotted += [{"measure": m, "group": group, "mean": row[m], "n": n} for m in measures]
        label = f"{group} (suppressed)" if row.isna().any() else (
            f"{group} (n {n})" if isinstance(n, (int, np.integer)) else group)
        ax.scatter(x + offset, row, color=colour, s=40, label=label)
    ax.set_xticks(x, [_wrap(codebook.scale_label(m), 18) for m in measures])
    ax.set(ylabel="Mean scale score (1-4)", ylim=(0.9, 4.1),
           title=f"Figure 3 (aggregate, real data). Mean culture scores by outcome group; groups under {k} suppressed")
    ax.grid(axis="x", visible=False)
    legend_outside(ax)
    return _plotted(fig, pd.DataFrame(plotted).astype({"n": object}))


# The specification curve's choices, in the order of its rows, each with its words
SPEC_ROWS = [("model", "Estimator"), ("adjusted", "Adjustment"), ("min_patient_surveys", "Patient surveys"),
             ("cutoff_rule", "A score at the cut-off"), ("patient_trust_cutoff", "Patient-trust cut-off"),
             ("org_trust_cutoff", "Clinician-trust cut-off")]


def choice_words(column: str, value) -> str:
    """One specification choice in words, as the specification curve labels its rows."""
    v = str(value)
    if column == "model":
        return estimators.label(v)             # the registry's words, as the article's
    if column == "adjusted":
        return "adjusted for covariates" if v == "True" else "unadjusted"
    if column == "min_patient_surveys":
        return f"at least {v}"
    if column == "cutoff_rule":
        return "counts as high (>=)" if v == "at_or_above" else "counts as low (>)"
    if v in ("median", "tertile"):
        return "sample median" if v == "median" else "upper tertile"
    return f"{float(v):g} of 100" if column == "patient_trust_cutoff" else f"{float(v):g} of 4"


SUPPORTS, OTHER = "#1b9e77", "#9e9e9e"    # specification-curve colours: OR > 1 and P < .05, the rest


@styled
def specification_curve(spec: pd.DataFrame, measure: str) -> plt.Figure:
    """Specification curve of one measure: ORs (95% CI) sorted, with the choices beneath.

    Specifications are ordered by their OR as written (6 significant digits), ties broken by
    the choices, so near-equal ORs keep one order on every machine. The main analysis is drawn
    in black and marked with a triangle. The dense marks (an interval, a point and a tick per
    specification and choice, thousands in all) are rasterized in the SVG, whose axes, labels
    and main-analysis marker stay vector: about 140 kB instead of 1.1 MB, saved in a third to a
    half of the time; the PNG is the same either way.
    """
    cols = [c for c, _ in SPEC_ROWS if c in spec]
    d = spec.loc[(spec["measure"] == measure) & np.isfinite(spec["or"]),
                 cols + ["or", "ci_low", "ci_high", "main", "supports"]]
    d = store.written(d.astype({c: str for c in cols} | {"main": bool, "supports": bool}))
    d = d.sort_values(["or"] + cols, kind="mergesort").reset_index(drop=True)
    levels = [(col, label, sorted(d[col].unique(), key=_choice_order)) for col, label in SPEC_ROWS if col in cols]
    n_rows = sum(len(v) for _, _, v in levels)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 3.6 + 0.2 * n_rows), sharex=True,
                                      gridspec_kw={"height_ratios": [3.2, 0.2 * n_rows + 0.3]})
    x = np.arange(len(d))
    colour = np.where(d["supports"], SUPPORTS, OTHER)
    top.vlines(x, d["ci_low"], d["ci_high"], color=colour, lw=0.6, alpha=0.7, rasterized=True)
    top.scatter(x, d["or"], c=colour, s=6, zorder=3, rasterized=True)
    for c, label in ((SUPPORTS, "OR > 1 and P < .05"), (OTHER, "other specifications")):
        top.scatter([], [], c=c, s=12, label=label)          # the colours' key (no data)
    main = d.index[d["main"]]
    if len(main):
        top.scatter(main, d.loc[main, "or"], marker="v", c="black", s=45, zorder=4, label="main analysis")
    legend_outside(top)
    top.axhline(1, color="black", lw=0.8)
    or_axis(top, "y", pd.concat([d["ci_low"], d["ci_high"]]))
    top.set(ylabel="OR (95% CI, log scale)",
            title=f"Specification curve: {codebook.scale_label(measure)} "
                  f"({int(d['supports'].sum())} of {len(d)} with OR > 1, P < .05)")
    ticks, labels, row = [], [], 0
    for col, label, values in levels:
        for v in values:
            hit = (d[col] == v).to_numpy()
            bottom.scatter(x[hit], np.full(hit.sum(), row), marker="|", s=30, c="#333333", lw=0.8,
                           rasterized=True)
            ticks.append(row)
            labels.append(f"{label}: {choice_words(col, v)}")
            row += 1
    bottom.set_yticks(ticks, labels, fontsize=MIN_FONT)
    bottom.set_ylim(-0.5, row - 0.5)
    bottom.invert_yaxis()
    bottom.set_xlabel("specifications, sorted by OR")
    bottom.grid(False)
    return _plotted(fig, d)


def _choice_order(value: str):
    """Rows in a natural order: numbers ascending, then words."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


@styled
def influence(loo: pd.DataFrame) -> plt.Figure:
    """Leave-one-clinic-out adjusted ORs per measure (one point per clinic left out, jittered
    vertically; no clinic named), with the full-sample OR."""
    measures = list(dict.fromkeys(loo["measure"]))
    d = store.written(loo[["measure", "or", "full_or"]]).sort_values(["measure", "or"], kind="mergesort")
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.8 * len(measures)))
    for i, m in enumerate(measures):
        x = d.loc[d["measure"] == m, "or"].to_numpy()
        ax.scatter(x, i + _jitter(len(x), 0.15), s=14, color="#7570b3", alpha=0.8, linewidths=0,
                   label="one clinic left out" if i == 0 else None)
    full = d.groupby("measure", sort=False)["full_or"].first()
    ax.scatter(full.loc[measures], range(len(measures)), marker="D", color="black", s=30, zorder=3,
               label="all clinics")
    ax.axvline(1, color="black", lw=0.8)
    or_axis(ax, "x", pd.concat([d["or"], d["full_or"]]))
    ax.set_yticks(range(len(measures)), [codebook.scale_label(m) for m in measures])
    ax.invert_yaxis()
    ax.set(xlabel="Adjusted OR with one clinic left out (log scale)", ylabel=None,
           title="Leave-one-clinic-out influence")
    legend_outside(ax)
    return _plotted(fig, d)


@styled
def coverage(summary: pd.DataFrame) -> plt.Figure:
    """Monte Carlo 95% CI coverage (%) per estimator and measure, with its exact binomial 95%
    interval and the nominal 95% line."""
    d = store.written(summary[["measure", "model", "coverage", "coverage_ci_low", "coverage_ci_high"]])
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    models_ = list(dict.fromkeys(d["model"]))
    measures = list(dict.fromkeys(d["measure"]))
    for i, model in enumerate(models_):
        s = d[d["model"] == model].set_index("measure").reindex(measures)
        y = np.arange(len(measures)) + (i - (len(models_) - 1) / 2) * 0.18
        pct = 100 * s["coverage"]
        ax.errorbar(pct, y, xerr=[pct - 100 * s["coverage_ci_low"], 100 * s["coverage_ci_high"] - pct], fmt="o",
                    capsize=2, label=estimators.label(model))
    ax.axvline(95, color="black", lw=0.8)
    ax.set_yticks(range(len(measures)), [codebook.scale_label(m) for m in measures])
    ax.invert_yaxis()
    ax.set(xlabel="95% CI coverage of the true OR (%)", title="Monte Carlo check of the estimators")
    legend_outside(ax)
    return _plotted(fig, d)

"""The figures. Each function takes tidy tables and returns a matplotlib Figure.

Colours follow the four quadrants throughout; odds ratios are drawn on a log axis.

Importing this module changes no global state: the matplotlib backend is whatever the
environment chose (inline in a notebook kernel; ``MPLBACKEND`` or matplotlib's headless
fallback elsewhere), and the seaborn style applies only inside each figure function
(:func:`styled`).
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import codebook, disclosure
from .cohort import QUADRANTS

PALETTE = dict(zip(QUADRANTS, ["#1b9e77", "#7570b3", "#d95f02", "#9e9e9e"]))
STYLE = {"style": "whitegrid", "context": "notebook"}


def styled(func):
    """Draw ``func``'s figure inside the project's seaborn style, leaving global rcParams alone."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
            return func(*args, **kwargs)
    return wrapper


@styled
def trust_scatter(analysis: pd.DataFrame, cutoffs: dict) -> plt.Figure:
    """Figure 1: clinician trust in the organization (1-4) vs mean patient trust (0-100)."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    sns.scatterplot(data=analysis, x="org_trust", y="patient_trust", hue="quadrant", hue_order=QUADRANTS,
                    palette=PALETTE, s=28, edgecolor="white", linewidth=0.4, ax=ax)
    ax.axvline(cutoffs["org_trust_cutoff"], color="black", lw=0.8, ls="--")
    ax.axhline(cutoffs["patient_trust_cutoff"], color="black", lw=0.8, ls="--")
    ax.set(xlabel="Clinician trust in the organization (1-4)", ylabel="Patients' trust in the clinician (mean, 0-100)",
           title=f"Figure 1. Clinicians by trust quadrant (n = {len(analysis)})")
    ax.legend(title=None, fontsize=8, loc="lower left")
    return fig


@styled
def trust_quadrant_counts(analysis: pd.DataFrame, cutoffs: dict, counts: pd.DataFrame, k: int) -> plt.Figure:
    """Figure 1 in aggregate form, for real data: the four quadrants' clinician counts (from
    :func:`trustlib.disclosure.cohort_counts`) and a histogram of each trust score with bins of
    fewer than ``k`` clinicians (and their complements) hidden. No clinician is plotted."""
    fig, (grid, org, pat) = plt.subplots(1, 3, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
    layout = {QUADRANTS[0]: (1, 1), QUADRANTS[1]: (1, 0), QUADRANTS[2]: (0, 1), QUADRANTS[3]: (0, 0)}
    for q, (x, y) in layout.items():
        n = disclosure.shown(counts, q)
        grid.add_patch(plt.Rectangle((x, y), 1, 1, color=PALETTE[q], alpha=0.35))
        grid.text(x + 0.5, y + 0.5, f"{q.replace(' / ', chr(10))}\n{'n ' + str(n) if n != disclosure.HIDDEN else n}",
                  ha="center", va="center", fontsize=8)
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
        width = h["right"] - h["left"]
        ax.bar(h["left"], h["shown"].fillna(0), width=width, align="edge", color="#7570b3", edgecolor="white")
        hid = h["shown"].isna()
        ax.bar(h.loc[hid, "left"], np.full(hid.sum(), k), width=width[hid], align="edge", fill=False,
               hatch="//", edgecolor="#999999", label=f"suppressed (< {k} or complement)")
        ax.axvline(cutoffs[cut], color="black", lw=0.8, ls="--")
        ax.set(xlabel=label, ylabel="clinicians")
        if hid.any():
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Figure 1 (aggregate, real data). Clinicians by trust quadrant; cells under {k} suppressed")
    fig.tight_layout()
    return fig


@styled
def forest(reproduced: pd.DataFrame, published: pd.DataFrame) -> plt.Figure:
    """Figure 2: adjusted ORs (95% CI) per culture measure, reproduced beside published.

    ``reproduced`` has measure, or, ci_low, ci_high; ``published`` has measure, or, ci_low, ci_high.
    """
    measures = list(reproduced["measure"])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for offset, (label, df, colour) in zip((-0.15, 0.15), (("reproduced", reproduced, "#1b9e77"),
                                                            ("published", published, "#444444"))):
        d = df.set_index("measure").loc[measures]
        y = np.arange(len(measures)) + offset
        ax.errorbar(d["or"], y, xerr=[d["or"] - d["ci_low"], d["ci_high"] - d["or"]], fmt="o",
                    color=colour, capsize=3, label=label)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(measures)), [codebook.scale_label(m) for m in measures])
    ax.invert_yaxis()
    ax.set(xlabel="Odds ratio per 1-point increase (log scale)",
           title="Figure 2. Culture and high-high trust: adjusted two-level ORs")
    ax.legend(fontsize=8, loc="lower right")
    return fig


@styled
def culture_by_outcome(analysis: pd.DataFrame, measures: list[str]) -> plt.Figure:
    """Figure 3: the four culture scales (1-4) by outcome group (box plot with points)."""
    long = analysis.melt(id_vars=["clinician_id", "high_high"], value_vars=measures,
                         var_name="measure", value_name="score")
    long["group"] = np.where(long["high_high"] == 1, "high-high", "all others")
    long["measure"] = long["measure"].map(codebook.scale_label)
    fig, ax = plt.subplots(figsize=(8, 4))
    np.random.seed(0)  # seaborn jitters points with numpy's global generator: fixed for identical files
    order = [codebook.scale_label(m) for m in measures]
    sns.boxplot(data=long, x="measure", y="score", hue="group", order=order, hue_order=["high-high", "all others"],
                palette=["#1b9e77", "#9e9e9e"], showfliers=False, width=0.6, ax=ax)
    sns.stripplot(data=long, x="measure", y="score", hue="group", order=order, hue_order=["high-high", "all others"],
                  palette=["#0d4f3c", "#555555"], dodge=True, size=2.5, jitter=0.2, alpha=0.6, legend=False,
                  ax=ax)
    ax.set(xlabel=None, ylabel="Scale score (1-4)", ylim=(0.9, 4.1),
           title="Figure 3. Perceived culture by outcome group")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(title=None, fontsize=8)
    return fig


@styled
def culture_means(means: pd.DataFrame, measures: list[str], k: int) -> plt.Figure:
    """Figure 3 in aggregate form, for real data: the mean of each culture scale (1-4) in
    high-high clinicians and all others (:func:`trustlib.disclosure.outcome_group_means`; groups
    hidden there are left out). No clinician is plotted."""
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(measures))
    for offset, (group, colour) in zip((-0.15, 0.15), (("high-high", "#1b9e77"), ("all others", "#9e9e9e"))):
        row = means.loc[group, measures].astype(float)
        n = means.loc[group, "n"]
        label = f"{group} (suppressed)" if row.isna().any() else (
            f"{group} (n {n})" if isinstance(n, (int, np.integer)) else group)
        ax.scatter(x + offset, row, color=colour, s=40, label=label)
    ax.set_xticks(x, [codebook.scale_label(m) for m in measures], fontsize=8)
    ax.set(ylabel="Mean scale score (1-4)", ylim=(0.9, 4.1),
           title=f"Figure 3 (aggregate, real data). Mean culture scores by outcome group; groups under {k} suppressed")
    ax.legend(fontsize=8)
    return fig


@styled
def specification_curve(spec: pd.DataFrame, measure: str) -> plt.Figure:
    """Specification curve of one measure: ORs (95% CI) sorted, with the choices beneath.

    The main analysis's specification is drawn in black and marked with a triangle.
    """
    d = spec[(spec["measure"] == measure) & np.isfinite(spec["or"])].sort_values("or", kind="mergesort")
    d = d.reset_index(drop=True)
    choices = [("model", "estimator"), ("adjusted", "adjusted"), ("min_patient_surveys", "min. patient surveys"),
               ("cutoff_rule", "cut-off rule"), ("patient_trust_cutoff", "patient-trust cut-off"),
               ("org_trust_cutoff", "clinician-trust cut-off")]
    levels = [(col, label, sorted(d[col].astype(str).unique())) for col, label in choices if col in d]
    n_rows = sum(len(v) for _, _, v in levels)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 3.2 + 0.16 * n_rows), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 0.16 * n_rows / 1.2 + 0.5]})
    x = np.arange(len(d))
    colour = np.where(d["supports"], "#1b9e77", "#9e9e9e")
    top.vlines(x, d["ci_low"], d["ci_high"], color=colour, lw=0.6, alpha=0.7)
    top.scatter(x, d["or"], c=colour, s=6, zorder=3)
    main = d.index[d["main"]]
    if len(main):
        top.scatter(main, d.loc[main, "or"], marker="v", c="black", s=40, zorder=4, label="main analysis")
        top.legend(fontsize=8, loc="upper left")
    top.axhline(1, color="black", lw=0.8)
    top.set_yscale("log")
    top.set(ylabel="OR (95% CI)", title=f"Specification curve: {codebook.scale_label(measure)} "
                                        f"({int(d['supports'].sum())} of {len(d)} with OR > 1, P < .05)")
    ticks, labels, row = [], [], 0
    for col, label, values in levels:
        for v in values:
            hit = d[col].astype(str) == v
            bottom.scatter(x[hit], np.full(hit.sum(), row), marker="|", s=25, c="#333333", lw=0.8)
            ticks.append(row)
            labels.append(f"{label}: {v}")
            row += 1
    bottom.set_yticks(ticks, labels, fontsize=6)
    bottom.set_ylim(-0.5, row - 0.5)
    bottom.invert_yaxis()
    bottom.set_xlabel("specifications, sorted by OR")
    bottom.grid(False)
    return fig


@styled
def influence(loo: pd.DataFrame) -> plt.Figure:
    """Leave-one-clinic-out adjusted ORs per measure, with the full-sample OR."""
    measures = list(dict.fromkeys(loo["measure"]))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    np.random.seed(0)  # seaborn jitters points with numpy's global generator: fixed for identical files
    sns.stripplot(data=loo.assign(label=loo["measure"].map(codebook.scale_label)), x="or", y="label",
                  order=[codebook.scale_label(m) for m in measures], color="#7570b3", size=3.5, jitter=0.15, ax=ax)
    full = loo.groupby("measure", sort=False)["full_or"].first()
    ax.scatter(full.loc[measures], range(len(measures)), marker="D", color="black", s=30, zorder=3,
               label="all clinics")
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set(xlabel="Adjusted OR with one clinic left out (log scale)", ylabel=None,
           title="Leave-one-clinic-out influence")
    ax.legend(fontsize=8, loc="lower right")
    return fig


@styled
def coverage(summary: pd.DataFrame) -> plt.Figure:
    """Monte Carlo 95% CI coverage (%) per estimator and measure, with its exact binomial 95%
    interval and the nominal 95% line."""
    d = summary.assign(label=summary["measure"].map(codebook.scale_label), pct=100 * summary["coverage"])
    fig, ax = plt.subplots(figsize=(7, 3.8))
    models_ = list(dict.fromkeys(d["model"]))
    labels = list(dict.fromkeys(d["label"]))
    for i, model in enumerate(models_):
        s = d[d["model"] == model].set_index("label").loc[labels]
        y = np.arange(len(labels)) + (i - (len(models_) - 1) / 2) * 0.18
        err = [s["pct"] - 100 * s["coverage_ci_low"], 100 * s["coverage_ci_high"] - s["pct"]]
        ax.errorbar(s["pct"], y, xerr=err, fmt="o", capsize=2, label=model)
    ax.axvline(95, color="black", lw=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set(xlabel="95% CI coverage of the true OR (%)", title="Monte Carlo check of the estimators")
    ax.legend(fontsize=8, loc="lower left")
    return fig

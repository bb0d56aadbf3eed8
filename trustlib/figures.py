"""The figures. Each function takes tidy tables and returns a matplotlib Figure.

Colours follow the four quadrants throughout; odds ratios are drawn on a log axis.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import codebook  # noqa: E402
from .cohort import QUADRANTS  # noqa: E402

PALETTE = dict(zip(QUADRANTS, ["#1b9e77", "#7570b3", "#d95f02", "#9e9e9e"]))
sns.set_theme(style="whitegrid", context="notebook")


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

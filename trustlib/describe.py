"""Descriptive results: participant flow, Table 1 (clinicians by quadrant) and counts.

Small-cell suppression: with ``min_cell_size`` set (raw data), any count between 1 and
``min_cell_size - 1`` is shown as ``<k``, and means/SDs of groups smaller than
``min_cell_size`` are not shown. The long (numeric) tables keep suppressed values as NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import codebook
from .cohort import QUADRANTS


def flow(counts: dict[str, int], clinicians: pd.DataFrame, analysis: pd.DataFrame) -> pd.DataFrame:
    """Participant flow: surveyed clinics, clinicians and patients, exclusions by reason, modelled.

    ``counts`` are the raw table sizes (``clinics``, ``clinicians``, ``patients``).
    """
    rows = [{"step": "surveyed", "clinics": counts["clinics"], "clinicians": counts["clinicians"],
             "patient_surveys": counts["patients"]}]
    ex = clinicians[~clinicians["included"]]
    for reason, grp in ex.groupby("exclusion_reason", sort=True):
        rows.append({"step": f"excluded: {reason}", "clinics": np.nan, "clinicians": -len(grp),
                     "patient_surveys": -int(grp["n_patient_surveys"].sum())})
    inc = clinicians[clinicians["included"]]
    rows.append({"step": "modelled", "clinics": analysis["clinic_id"].nunique(), "clinicians": len(analysis),
                 "patient_surveys": int(inc["n_patient_surveys"].sum())})
    return pd.DataFrame(rows)


def _groups(analysis: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [("all modelled", analysis)] + [(q, analysis[analysis["quadrant"] == q]) for q in QUADRANTS]


def table1_long(analysis: pd.DataFrame, clinician_scales: pd.DataFrame | None = None) -> pd.DataFrame:
    """Numeric Table 1 in long form: ``variable, group, n, count, percent, mean, sd``.

    Rows: clinicians (n), age (years), women, physicians, family medicine, patient surveys
    per clinician, and the mean (SD) of every clinician scale (scale units) and patient trust (0-100).
    """
    df = analysis if clinician_scales is None else analysis.merge(clinician_scales, on="clinician_id", how="left")
    binary = [("women", df["sex"] == "female"), ("physicians", df["clinician_type"] == "physician"),
              ("family medicine", df["specialty"] == "family")]
    scales = [s for s in codebook.load_scales()["scale"] if s in df.columns and s != "patient_trust"]
    continuous = ["age", "n_patient_surveys"] + scales + ["patient_trust"]
    rows = []
    for name, g in _groups(df):
        idx = g.index
        rows.append({"variable": "clinicians", "group": name, "n": len(g), "count": len(g)})
        for label, flag in binary:
            k = int(flag.loc[idx].sum())
            rows.append({"variable": label, "group": name, "n": len(g), "count": k,
                         "percent": 100.0 * k / len(g) if len(g) else np.nan})
        for var in continuous:
            x = g[var].dropna()
            rows.append({"variable": var, "group": name, "n": len(x), "mean": x.mean(), "sd": x.std(ddof=1)})
    return pd.DataFrame(rows, columns=["variable", "group", "n", "count", "percent", "mean", "sd"])


def suppress(long: pd.DataFrame, min_cell_size: int | None) -> pd.DataFrame:
    """Blank counts in 1..min_cell_size-1 and statistics of groups under min_cell_size."""
    if not min_cell_size:
        return long
    out = long.copy()
    small_count = out["count"].between(1, min_cell_size - 1)
    out.loc[small_count, ["count", "percent"]] = np.nan
    out.loc[out["n"] < min_cell_size, ["mean", "sd"]] = np.nan
    out["suppressed"] = small_count | (out["n"] < min_cell_size)
    return out


def table1(long: pd.DataFrame, min_cell_size: int | None = None) -> pd.DataFrame:
    """Formatted Table 1: one row per characteristic, one column per group (n (%) or mean (SD))."""
    labels = {"age": "Age, years, mean (SD)", "n_patient_surveys": "Patient surveys per clinician, mean (SD)",
              "patient_trust": "Patient trust (0-100), mean (SD)", "clinicians": "Clinicians, n",
              "women": "Women, n (%)", "physicians": "Physicians, n (%)", "family medicine": "Family medicine, n (%)"}
    sup = f"<{min_cell_size}" if min_cell_size else ""

    def cell(r):
        if r["variable"] == "clinicians":
            return sup if pd.isna(r["count"]) else f"{int(r['count'])}"
        if pd.notna(r.get("percent")) or (r["variable"] in labels and "(%)" in labels[r["variable"]]):
            return sup if pd.isna(r["count"]) else f"{int(r['count'])} ({r['percent']:.1f})"
        return "--" if pd.isna(r["mean"]) else f"{r['mean']:.2f} ({r['sd']:.2f})"

    long = long.assign(cell=long.apply(cell, axis=1))
    wide = long.pivot(index="variable", columns="group", values="cell")
    order = list(dict.fromkeys(long["variable"]))
    wide = wide.loc[order, [g for g in ["all modelled"] + QUADRANTS if g in wide.columns]]
    names = [labels.get(v) or f"{codebook.scale_label(v)}, mean (SD)" for v in order]
    return wide.reset_index(drop=True).rename_axis(None, axis=1).assign(characteristic=names)[
        ["characteristic"] + list(wide.columns)]


def long_numbers(long: pd.DataFrame, prefix: str) -> dict:
    """Flatten a long table into ``prefix.group.variable.stat`` numbers (for numbers.json)."""
    out = {}
    for r in long.itertuples(index=False):
        for stat in ("count", "percent", "mean", "sd"):
            v = getattr(r, stat)
            if pd.notna(v):
                out[f"{prefix}.{r.group}.{r.variable}.{stat}".replace(" ", "_")] = v
    return out


def icc1(values: pd.Series, groups: pd.Series) -> float:
    """ICC(1) from a one-way ANOVA: share of variance between groups (unbalanced groups).

    ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW), n0 the adjusted mean group size.
    """
    d = pd.DataFrame({"x": values.to_numpy(), "g": groups.to_numpy()}).dropna()
    k, n = d["g"].nunique(), len(d)
    sizes = d.groupby("g").size()
    grand = d["x"].mean()
    means = d.groupby("g")["x"].transform("mean")
    msb = (sizes * (d.groupby("g")["x"].mean() - grand) ** 2).sum() / (k - 1)
    msw = ((d["x"] - means) ** 2).sum() / (n - k)
    n0 = (n - (sizes ** 2).sum() / n) / (k - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))

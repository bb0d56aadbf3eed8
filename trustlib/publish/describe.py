"""Descriptive results: participant flow, Table 1 (clinicians by quadrant) and counts.

On raw data every count and group statistic passes :mod:`trustlib.publish.disclosure` first
(:func:`flow` and :func:`table1` take its protected counts); hidden cells read ``suppressed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import codebook
from . import disclosure
from ..data.cohort import QUADRANTS, binary_flags


def flow(counts: pd.DataFrame) -> pd.DataFrame:
    """Participant flow: surveyed clinics, clinicians and patient surveys, exclusions by reason
    (negative), modelled. Counts are whole numbers; clinics are not counted by exclusion reason
    (missing in those rows).

    ``counts``: :func:`trustlib.publish.disclosure.cohort_counts`, with the clinics (hidden cells read
    ``suppressed``: a column holding one is of object dtype, any other of pandas' ``Int64``).
    """
    clinics = {"surveyed": disclosure.shown(counts, disclosure.SURVEYED, "clinics"),
               "modelled": disclosure.shown(counts, disclosure.MODELLED, "clinics")}
    def row(step, group, clinic_count, sign=1):
        vals = {v: disclosure.shown(counts, group, v) for v in ("clinicians", "patient_surveys")}
        return {"step": step, "clinics": clinic_count,
                **{v: x if x == disclosure.HIDDEN else sign * x for v, x in vals.items()}}

    reasons = sorted(g for g in counts["group"].unique() if g.startswith(f"{disclosure.EXCLUDED}: "))
    rows = [row("surveyed", disclosure.SURVEYED, clinics["surveyed"])]
    rows += [row(r, r, None, -1) for r in reasons]
    rows.append(row("modelled", disclosure.MODELLED, clinics["modelled"]))
    table = pd.DataFrame(rows, columns=["step", "clinics", "clinicians", "patient_surveys"])
    for col in ("clinics", "clinicians", "patient_surveys"):
        if not table[col].eq(disclosure.HIDDEN).any():
            table[col] = table[col].astype("Int64")      # 34, not 34.0 beside a missing value
    return table


def _groups(analysis: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [("all modelled", analysis)] + [(q, analysis[analysis["quadrant"] == q]) for q in QUADRANTS]


def table1_long(analysis: pd.DataFrame, clinician_scales: pd.DataFrame | None = None) -> pd.DataFrame:
    """Numeric Table 1 in long form: ``variable, group, n, count, percent, mean, sd``.

    Rows: clinicians (n), age (years), women, physicians, family medicine, patient surveys
    per clinician, and the mean (SD) of every clinician scale (scale units) and patient trust (0-100).
    """
    df = analysis if clinician_scales is None else analysis.merge(clinician_scales, on="clinician_id", how="left")
    binary = binary_flags(df).items()
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


def protect(long: pd.DataFrame, counts: pd.DataFrame, hidden_groups: set[str]) -> pd.DataFrame:
    """Table 1's long form as it may be shown: counts from the protected ``counts``
    (:func:`trustlib.publish.disclosure.cohort_counts`), and percentages, means and SDs blanked for
    ``hidden_groups`` (:func:`trustlib.publish.disclosure.statistics_groups`). Adds ``suppressed``."""
    shown = counts.set_index(["group", "variable"])["shown"]
    out = long.copy()
    cells = pd.MultiIndex.from_arrays([out["group"], out["variable"]])
    hidden = out["count"].notna() & shown.reindex(cells).isna().to_numpy()
    stats = out["group"].isin(hidden_groups)
    out.loc[hidden, "count"] = np.nan
    out.loc[hidden | stats, "percent"] = np.nan
    out.loc[stats, ["mean", "sd"]] = np.nan
    out["suppressed"] = hidden | (stats & out["count"].isna())
    return out


def table1(long: pd.DataFrame) -> pd.DataFrame:
    """Formatted Table 1: one row per characteristic, one column per group (n (%) or mean (SD));
    cells :func:`protect` hid read ``suppressed``."""
    labels = {"age": "Age, years, mean (SD)", "n_patient_surveys": "Patient surveys per clinician, mean (SD)",
              "patient_trust": "Patient trust (0-100), mean (SD)", "clinicians": "Clinicians, n",
              "women": "Women, n (%)", "physicians": "Physicians, n (%)", "family medicine": "Family medicine, n (%)"}
    hidden = disclosure.HIDDEN
    suppressed = long["suppressed"] if "suppressed" in long else pd.Series(False, index=long.index)

    def cell(r):
        if r["variable"] == "clinicians":
            return hidden if pd.isna(r["count"]) else f"{int(r['count'])}"
        if r["variable"] in labels and "(%)" in labels[r["variable"]]:
            if pd.isna(r["count"]):
                return hidden
            return f"{int(r['count'])}" if pd.isna(r["percent"]) else f"{int(r['count'])} ({r['percent']:.1f})"
        if pd.isna(r["mean"]):
            return hidden if suppressed[r.name] else "--"
        return f"{r['mean']:.2f} ({r['sd']:.2f})"

    long = long.assign(cell=long.apply(cell, axis=1))
    wide = long.pivot(index="variable", columns="group", values="cell")
    order = list(dict.fromkeys(long["variable"]))
    wide = wide.loc[order, [g for g in ["all modelled"] + QUADRANTS if g in wide.columns]]
    names = [labels.get(v) or f"{codebook.scale_label(v)}, mean (SD)" for v in order]
    return wide.reset_index(drop=True).rename_axis(None, axis=1).assign(characteristic=names)[
        ["characteristic"] + list(wide.columns)]


def group_slug(group: str) -> str:
    """A group's name as a ``numbers.json`` key part: ``high org / high patient`` -> ``high_org_high_patient``."""
    return group.replace(" / ", "_").replace(" ", "_")


def long_numbers(long: pd.DataFrame, prefix: str) -> dict:
    """Flatten a long table into ``prefix.group.variable.stat`` numbers (for numbers.json); a
    cell hidden by disclosure control (:func:`protect`) is written as ``suppressed``."""
    out = {}
    binary = {"women", "physicians", "family medicine"}
    for r in long.itertuples(index=False):
        stats = (("count",) if r.variable == "clinicians" else ("count", "percent") if r.variable in binary
                 else ("mean", "sd"))
        for stat in stats:
            v = getattr(r, stat)
            key = f"{prefix}.{group_slug(r.group)}.{r.variable}.{stat}".replace(" ", "_")
            if pd.notna(v):
                out[key] = v
            elif getattr(r, "suppressed", False) or (stat == "percent" and pd.isna(r.count)):
                out[key] = disclosure.HIDDEN
            elif stat in ("percent", "mean", "sd"):
                out[key] = disclosure.HIDDEN if getattr(r, "suppressed", False) else None
    return out


def sample(clinicians: pd.DataFrame, counts: pd.DataFrame, hidden_groups: set[str]) -> dict:
    """Every surveyed clinician, as the sister paper reports the sample: age mean and SD (years)
    and the numbers of women, physicians and family physicians, each as
    :mod:`trustlib.publish.disclosure` allows (``suppressed`` otherwise)."""
    hide = disclosure.SURVEYED in hidden_groups
    age = clinicians["age"].dropna()
    out = {"age_mean": disclosure.HIDDEN if hide else age.mean(),
           "age_sd": disclosure.HIDDEN if hide else age.std(ddof=1)}
    for key, variable in (("n_women", "women"), ("n_physicians", "physicians"), ("n_family", "family medicine")):
        out[key] = disclosure.shown(counts, disclosure.SURVEYED, variable)
    return out

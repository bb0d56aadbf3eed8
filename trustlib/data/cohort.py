"""From scored tables to the modelling cohort: aggregation, exclusions and quadrants.

Steps (all parameters have documented defaults in ``params/pipeline.yml``):

1. Score every clinician scale and every patient's trust (0-100) with :mod:`trustlib.data.scales`.
2. Aggregate patient trust to the clinician: mean 0-100 score and the number of patient
   surveys with a score (``n_patient_surveys``).
3. Apply the "sufficient data" rule: at least ``min_patient_surveys`` scored patient surveys,
   a clinician-trust score, every culture score and every covariate. Each excluded clinician
   keeps the first reason that applies.
4. Dichotomize clinician trust (``high_org_trust`` if score >= ``org_trust_cutoff``) and
   clinician-level patient trust (``high_patient_trust`` if mean >= ``patient_trust_cutoff``;
   ``"median"`` or ``"tertile"`` mean the median or the upper-tertile boundary of the included
   clinicians). The four quadrants follow, and the outcome ``high_high`` (1 = both high).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np
import pandas as pd

from .. import InputError
from . import codebook, scales

COVARIATES = ["age", "female", "internal_medicine", "apc"]   # the default adjustment set
# every coded covariate in the analysis table: age in years or in bands (reference under 40),
# NP and PA pooled (apc) or apart (np, pa; reference physician)
COVARIATE_CODINGS = COVARIATES + ["age_40_54", "age_55_plus", "np", "pa"]
QUADRANTS = ["high org / high patient", "high org / low patient",
             "low org / high patient", "low org / low patient"]


def binary_flags(df: pd.DataFrame) -> dict[str, pd.Series]:
    """The yes/no characteristics Table 1 counts, as boolean Series over ``df``'s rows."""
    return {"women": df["sex"] == "female", "physicians": df["clinician_type"] == "physician",
            "family medicine": df["specialty"] == "family"}


class CohortError(InputError):
    """Raised when scored data cannot form the modelling cohort (message names clinicians)."""


NAMED_CUTOFFS = ("median", "tertile")
CUTOFF_RULES = ("at_or_above", "above")


@dataclass(frozen=True)
class Rules:
    """The cohort rules of one analysis, none of them published (values and meanings in
    ``params/pipeline.yml``; :class:`trustlib.run.config.RunConfig` checks them).

    ``min_patient_surveys`` and ``min_clinicians_per_clinic``: the sufficient-data rule;
    ``org_trust_cutoff`` (1-4) and ``patient_trust_cutoff`` (0-100): numbers, or ``"median"`` /
    ``"tertile"`` of the included clinicians; ``cutoff_rule``: whether a score equal to a cut-off
    is high (``"at_or_above"``) or not (``"above"``); ``on_all_missing_scale``: ``"error"`` or
    ``"exclude"``; ``min_answered_items``: per-scale overrides of data/scales.csv.
    """

    min_patient_surveys: int
    org_trust_cutoff: float | str
    patient_trust_cutoff: float | str
    cutoff_rule: str
    min_clinicians_per_clinic: int
    on_all_missing_scale: str
    min_answered_items: Mapping[str, int]

    @classmethod
    def of(cls, values: Mapping) -> "Rules":
        """The rules among ``values`` (a run's parameters, or a notebook's)."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def score_clinicians(clinicians: pd.DataFrame, min_answered: dict[str, int] | None = None) -> pd.DataFrame:
    """Clinician table with one score column per clinician scale and model-ready covariates.

    Covariates: ``female`` (1/0), ``internal_medicine`` (1/0; reference family medicine),
    ``apc`` (1 = nurse practitioner or physician assistant; reference physician), ``age`` (years).
    """
    clin_scales = [s for s in codebook.scales_in_table("clinicians") if s != "patient_trust"]
    out = clinicians[["clinician_id", "clinic_id", "age", "sex", "clinician_type", "specialty"]].copy()
    out = pd.concat([out, scales.score_all(clinicians, clin_scales, min_answered)], axis=1)
    out["female"] = (out["sex"] == "female").astype(float).where(out["sex"].notna())
    out["internal_medicine"] = (out["specialty"] == "internal").astype(float).where(out["specialty"].notna())
    out["apc"] = (out["clinician_type"] != "physician").astype(float).where(out["clinician_type"].notna())
    for kind in ("np", "pa"):
        out[kind] = (out["clinician_type"] == kind).astype(float).where(out["clinician_type"].notna())
    out["age_40_54"] = out["age"].between(40, 54).astype(float).where(out["age"].notna())
    out["age_55_plus"] = (out["age"] >= 55).astype(float).where(out["age"].notna())
    return out


def check_all_missing(clinicians: pd.DataFrame, scale_names: list[str]) -> None:
    """Raise :class:`CohortError` naming clinicians whose items of a scale are all missing."""
    from .contract import where

    problems = []
    for s in scale_names:
        items = list(codebook.scale_items(s)["variable"])
        empty = clinicians[items].isna().to_numpy().all(axis=1)
        if empty.any():
            ids = clinicians.loc[empty, "clinician_id"].tolist()
            problems.append(f"{where(clinicians, items)}: every item of scale '{s}' is "
                            f"missing for clinicians {ids}")
    if problems:
        raise CohortError("Scales with no answered item (set on_all_missing_scale: exclude to drop "
                          "these clinicians instead):\n  - " + "\n  - ".join(problems))


def aggregate_patients(patients: pd.DataFrame, min_answered: int | None = None) -> pd.DataFrame:
    """Per clinician: mean patient trust (0-100), its SD and the number of scored surveys (a
    survey is scored with at least ``min_answered`` items; default data/scales.csv)."""
    p = patients[["clinician_id"]].assign(patient_trust=scales.score(patients, "patient_trust", min_answered))
    g = p.dropna(subset=["patient_trust"]).groupby("clinician_id")["patient_trust"]
    agg = pd.DataFrame({"patient_trust": g.mean(), "patient_trust_sd": g.std(ddof=1),
                        "n_patient_surveys": g.size()})
    return agg.reset_index()


def apply_sufficient_data(clin: pd.DataFrame, min_patient_surveys: int,
                          exposures: list[str], min_clinicians_per_clinic: int = 2) -> pd.DataFrame:
    """Add ``included`` (bool) and ``exclusion_reason`` (first failed rule, '' if included).

    Clinician rules first (no patient survey; fewer than ``min_patient_surveys``; a missing
    score or covariate); then clinicians left alone, or nearly, in their clinic: a clinic needs
    at least ``min_clinicians_per_clinic`` clinicians meeting the clinician rules for a
    two-level model, so the others of a smaller clinic are excluded with that reason.
    """
    surveys = clin["n_patient_surveys"].fillna(0)
    rules = [("no patient survey", surveys == 0),
             (f"fewer than {min_patient_surveys} patient surveys", surveys < min_patient_surveys),
             ("no clinician trust score", clin["org_trust"].isna())]
    rules += [(f"no {s} score", clin[s].isna()) for s in exposures]
    rules += [(f"missing covariate {c}", clin[c].isna()) for c in COVARIATES]
    # the first rule each clinician fails ('' for none)
    reason = pd.Series(np.select([failed.to_numpy(bool) for _, failed in rules], [text for text, _ in rules], ""),
                       index=clin.index, dtype=object)
    per_clinic = clin.loc[reason == "", "clinic_id"].value_counts()
    small = clin["clinic_id"].map(per_clinic).fillna(0) < min_clinicians_per_clinic
    reason = reason.mask((reason == "") & small,
                         f"clinic has fewer than {min_clinicians_per_clinic} clinicians with sufficient data")
    return clin.assign(included=reason == "", exclusion_reason=reason)


def resolve_cutoff(values: pd.Series, cutoff) -> float:
    """A cut-off given as a number, ``"median"`` or ``"tertile"`` (upper-tertile boundary)."""
    if isinstance(cutoff, str):
        q = dict(zip(NAMED_CUTOFFS, (0.5, 2 / 3))).get(cutoff)
        if q is None:
            raise ValueError(f"cut-off must be a number, 'median' or 'tertile', not {cutoff!r}")
        return float(np.quantile(values.dropna().to_numpy(), q))
    return float(cutoff)


def assign_quadrants(cohort: pd.DataFrame, org_trust_cutoff, patient_trust_cutoff,
                     cutoff_rule: str) -> tuple[pd.DataFrame, dict]:
    """Dichotomize both trusts, assign quadrants and the outcome. ``cutoff_rule`` says whether a
    score equal to the cut-off is high (``"at_or_above"``, >=) or not (``"above"``, >): the paper does
    not say, and on the 1-4 clinician-trust scale many clinicians score exactly 3.0.

    Returns the cohort with ``high_org_trust``, ``high_patient_trust``, ``quadrant`` and
    ``high_high`` (1/0) and a dict of the numeric cut-offs used (scale units).
    """
    hi_org, hi_pat, cutoffs = high_trust(cohort, org_trust_cutoff, patient_trust_cutoff, cutoff_rule)
    quadrant = np.select([hi_org & hi_pat, hi_org & ~hi_pat, ~hi_org & hi_pat], QUADRANTS[:3], QUADRANTS[3])
    out = cohort.assign(high_org_trust=hi_org.astype(int), high_patient_trust=hi_pat.astype(int),
                        quadrant=quadrant, high_high=(hi_org & hi_pat).astype(int))
    return out, cutoffs


def high_trust(cohort: pd.DataFrame, org_trust_cutoff, patient_trust_cutoff,
               cutoff_rule: str) -> tuple[pd.Series, pd.Series, dict]:
    """Whether each clinician's trust in the organization, and from patients, counts as high
    (two boolean Series), and the numeric cut-offs used (scale units): the dichotomy
    :func:`assign_quadrants` codes."""
    org_cut = resolve_cutoff(cohort["org_trust"], org_trust_cutoff)
    pat_cut = resolve_cutoff(cohort["patient_trust"], patient_trust_cutoff)
    if cutoff_rule not in CUTOFF_RULES:
        raise ValueError(f"cutoff_rule must be one of {CUTOFF_RULES}, not {cutoff_rule!r}")
    above = (lambda v, c: v >= c) if cutoff_rule == "at_or_above" else (lambda v, c: v > c)
    return (above(cohort["org_trust"], org_cut), above(cohort["patient_trust"], pat_cut),
            {"org_trust_cutoff": org_cut, "patient_trust_cutoff": pat_cut})


def analysis_columns() -> list[str]:
    """Columns of the analysis table: IDs, outcome, quadrant, every culture measure of the
    codebook (``data/scales.csv``, role ``exposure``), coded covariates, the characteristics
    they code, both trust scores and the number of scored patient surveys."""
    return (["clinician_id", "clinic_id", "high_high", "quadrant"] + codebook.scales_with_role("exposure")
            + COVARIATE_CODINGS + ["sex", "clinician_type", "specialty", "org_trust", "patient_trust",
                                   "n_patient_surveys"])


def score_cohort(tables: dict[str, pd.DataFrame], on_all_missing_scale: str,
                 min_answered_items: Mapping[str, int]) -> pd.DataFrame:
    """Every clinician with scale scores, covariates and aggregated patient trust (steps 1-2).
    ``min_answered_items`` overrides data/scales.csv's minimum answered items per scale."""
    min_answered = scales.check_min_answered(min_answered_items)
    exposures = codebook.scales_with_role("exposure")
    if on_all_missing_scale == "error":
        check_all_missing(tables["clinicians"], ["org_trust"] + exposures)
    elif on_all_missing_scale != "exclude":
        raise ValueError("on_all_missing_scale must be 'error' or 'exclude'")
    clin = score_clinicians(tables["clinicians"], min_answered)
    clin = clin.merge(aggregate_patients(tables["patients"], min_answered.get("patient_trust")),
                      on="clinician_id", how="left")
    clin["n_patient_surveys"] = clin["n_patient_surveys"].fillna(0).astype(int)
    return clin.sort_values("clinician_id").reset_index(drop=True)


def select_cohort(scored: pd.DataFrame, rules: Rules) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Apply the sufficient-data rule and the cut-offs to scored clinicians (steps 3-4)."""
    clin = apply_sufficient_data(scored, rules.min_patient_surveys, codebook.scales_with_role("exposure"),
                                 rules.min_clinicians_per_clinic)
    analysis, cutoffs = dichotomize(clin, rules.org_trust_cutoff, rules.patient_trust_cutoff, rules.cutoff_rule,
                                    rules.min_patient_surveys, rules.min_clinicians_per_clinic)
    return clin, analysis, cutoffs


def dichotomize(clin: pd.DataFrame, org_trust_cutoff, patient_trust_cutoff, cutoff_rule: str,
                min_patient_surveys: int, min_clinicians_per_clinic: int) -> tuple[pd.DataFrame, dict]:
    """Step 4 for the clinicians :func:`apply_sufficient_data` included: the analysis table
    (:func:`analysis_columns`, sorted by clinician ID) and the numeric cut-offs used. The two
    sufficient-data parameters, the rules applied, only name them in the error when none is
    included (both: the error says nothing of the data, as it may reach a shared table, the
    specification curve's notes, where a count by exclusion reason could be a small cell)."""
    included = clin[clin["included"]]
    if included.empty:
        raise CohortError(f"no clinician meets the sufficient-data rules (min_patient_surveys={min_patient_surveys}, "
                          f"min_clinicians_per_clinic={min_clinicians_per_clinic}); nothing to model")
    analysis, cutoffs = assign_quadrants(included, org_trust_cutoff, patient_trust_cutoff, cutoff_rule)
    return analysis[analysis_columns()].sort_values("clinician_id").reset_index(drop=True), cutoffs


def build_cohort(tables: dict[str, pd.DataFrame], rules: Rules) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Score, aggregate, exclude and dichotomize under ``rules``.

    Returns ``(clinicians, analysis, cutoffs)``: every clinician with scores, ``included`` and
    ``exclusion_reason``; the analysis table (included clinicians, :func:`analysis_columns`,
    sorted by clinician ID); and the numeric cut-offs used.
    """
    return select_cohort(score_cohort(tables, rules.on_all_missing_scale, rules.min_answered_items), rules)


def exclusions(clinicians: pd.DataFrame) -> pd.DataFrame:
    """Excluded clinicians with their reason (IDs and reasons only)."""
    ex = clinicians.loc[~clinicians["included"], ["clinician_id", "clinic_id", "exclusion_reason", "n_patient_surveys"]]
    return ex.reset_index(drop=True)

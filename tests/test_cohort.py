"""Aggregation, the sufficient-data rule, cut-offs and quadrants."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustlib.data import codebook, cohort


@pytest.fixture(scope="module")
def built(tables, rules):
    return cohort.build_cohort(tables, rules)


def test_default_rule_keeps_162_and_says_why_3_are_excluded(built):
    clin, analysis, _ = built
    assert len(clin) == 165 and len(analysis) == 162
    excluded = cohort.exclusions(clin)
    assert len(excluded) == 3
    assert (excluded["exclusion_reason"] == "fewer than 3 patient surveys").all()
    assert (excluded["n_patient_surveys"] < 3).all()


def test_analysis_table_columns_and_order(built):
    _, analysis, _ = built
    assert list(analysis.columns) == cohort.analysis_columns()
    assert analysis["clinician_id"].is_monotonic_increasing
    assert analysis[["quality", "communication", "cohesiveness", "alignment"]].notna().all().all()


def test_outcome_is_high_and_high(built):
    _, a, cut = built
    expected = (a["org_trust"] >= cut["org_trust_cutoff"]) & (a["patient_trust"] >= cut["patient_trust_cutoff"])
    assert (a["high_high"] == expected.astype(int)).all()
    assert (a.loc[a["high_high"] == 1, "quadrant"] == cohort.QUADRANTS[0]).all()


def test_patient_aggregation_is_the_mean_of_scored_surveys(tables):
    agg = cohort.aggregate_patients(tables["patients"]).set_index("clinician_id")
    from trustlib.data import scales

    pt = scales.score(tables["patients"], "patient_trust")
    one = tables["patients"]["clinician_id"].iloc[0]
    mine = pt[tables["patients"]["clinician_id"] == one]
    assert agg.loc[one, "patient_trust"] == pytest.approx(mine.mean())
    assert agg.loc[one, "n_patient_surveys"] == mine.notna().sum()
    assert agg["n_patient_surveys"].sum() == pt.notna().sum()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_minimum_surveys_rule_is_monotone(tables, rules, k):
    clin, analysis, _ = cohort.build_cohort(tables, replace(rules, min_patient_surveys=k))
    assert (analysis["n_patient_surveys"] >= k).all()
    enough = clin["n_patient_surveys"] >= k
    others = clin.loc[enough & ~clin["included"], "exclusion_reason"]   # left alone in their clinic
    assert len(analysis) == enough.sum() - len(others)
    assert others.str.startswith("clinic has fewer than 2 clinicians").all()


def test_median_and_tertile_cutoffs():
    x = pd.Series(np.arange(1, 10, dtype=float))
    assert cohort.resolve_cutoff(x, "median") == 5.0
    assert cohort.resolve_cutoff(x, "tertile") == pytest.approx(np.quantile(x, 2 / 3))
    assert cohort.resolve_cutoff(x, 3) == 3.0
    with pytest.raises(ValueError, match="cut-off"):
        cohort.resolve_cutoff(x, "top")


@settings(max_examples=50, deadline=None)
@given(st.floats(1.0, 4.0), st.floats(0.0, 100.0))
def test_quadrants_partition_the_cohort(built, org_cut, pat_cut):
    _, a, _ = built
    q, cut = cohort.assign_quadrants(a, org_cut, pat_cut, "at_or_above")
    assert q["quadrant"].isin(cohort.QUADRANTS).all()
    assert q["high_high"].sum() == ((q["org_trust"] >= org_cut) & (q["patient_trust"] >= pat_cut)).sum()
    assert cut == {"org_trust_cutoff": org_cut, "patient_trust_cutoff": pat_cut}


def test_missing_covariate_excludes_with_reason(tables, rules):
    t = {k: v.copy() for k, v in tables.items()}
    t["clinicians"].loc[0, "age"] = np.nan
    clin, analysis, _ = cohort.build_cohort(t, rules)
    row = clin.set_index("clinician_id").loc[t["clinicians"].loc[0, "clinician_id"]]
    assert not row["included"]
    assert row["exclusion_reason"] in ("missing covariate age", "fewer than 3 patient surveys")


def test_all_missing_scale_is_an_error_naming_clinician_and_columns(tables, rules):
    t = {k: v.copy() for k, v in tables.items()}
    cols = [c for c in t["clinicians"] if c.startswith("cohesiveness_")]
    t["clinicians"].loc[4, cols] = np.nan
    who = t["clinicians"].loc[4, "clinician_id"]
    with pytest.raises(cohort.CohortError) as info:
        cohort.build_cohort(t, rules)
    assert who in str(info.value) and "cohesiveness" in str(info.value) and cols[0] in str(info.value)
    clin, analysis, _ = cohort.build_cohort(t, replace(rules, on_all_missing_scale="exclude"))
    assert who not in set(analysis["clinician_id"])
    assert clin.set_index("clinician_id").loc[who, "exclusion_reason"] == "no cohesiveness score"


def test_no_clinician_left_is_a_clear_error_that_names_both_sufficient_data_rules(tables, rules):
    """Both parameters, whichever excluded everyone, and nothing of the data: the message may reach
    the specification curve's notes, a shared table on real data."""
    for change in ({"min_patient_surveys": 500}, {"min_clinicians_per_clinic": 40}):
        changed = replace(rules, **change)
        with pytest.raises(cohort.CohortError) as info:
            cohort.build_cohort(tables, changed)
        assert str(info.value) == ("no clinician meets the sufficient-data rules (min_patient_surveys="
                                   f"{changed.min_patient_surveys}, min_clinicians_per_clinic="
                                   f"{changed.min_clinicians_per_clinic}); nothing to model")


def test_zero_survey_clinicians_and_lone_clinicians_are_excluded_with_their_reason(tables, rules):
    clin = tables["clinicians"].copy()
    patients = tables["patients"][tables["patients"]["clinician_id"] != clin.loc[5, "clinician_id"]]
    clinics = pd.concat([tables["clinics"], tables["clinics"].iloc[[0]].assign(clinic_id="K99")], ignore_index=True)
    clin.loc[0, "clinic_id"] = "K99"                       # a clinic with one clinician
    broken = {"clinics": clinics, "clinicians": clin, "patients": patients}
    scored, analysis, _ = cohort.build_cohort(broken, replace(rules, min_clinicians_per_clinic=2))
    reasons = scored.set_index("clinician_id")["exclusion_reason"]
    assert reasons[clin.loc[5, "clinician_id"]] == "no patient survey"
    assert reasons[clin.loc[0, "clinician_id"]] == "clinic has fewer than 2 clinicians with sufficient data"
    assert "K99" not in set(analysis["clinic_id"]) and clin.loc[5, "clinician_id"] not in set(analysis["clinician_id"])
    _, alone_allowed, _ = cohort.build_cohort(broken, replace(rules, min_clinicians_per_clinic=1))
    assert "K99" in set(alone_allowed["clinic_id"])


def test_min_answered_items_override_the_scales_file_and_are_checked(tables):
    from trustlib.data import codebook

    n_items = len(codebook.scale_items("quality"))
    default = cohort.score_cohort(tables, "error", {})
    strict = cohort.score_cohort(tables, "error", {"quality": n_items})
    assert strict["quality"].isna().sum() > default["quality"].isna().sum()       # the data have skipped items
    assert (strict["quality"].dropna() == default["quality"][strict["quality"].notna()]).all()
    assert strict["communication"].equals(default["communication"])                # other scales untouched
    patients = cohort.score_cohort(tables, "error", {"patient_trust": 11})
    assert (patients["n_patient_surveys"] <= default["n_patient_surveys"]).all()
    for bad, match in [({"qualty": 2}, "unknown scale"), ({"quality": 0}, "whole number from 1"),
                       ({"quality": n_items + 1}, "whole number from 1"), ({"quality": 2.5}, "whole number")]:
        with pytest.raises(ValueError, match=match):
            cohort.score_cohort(tables, "error", bad)


def test_each_excluded_clinician_gets_the_first_rule_they_fail(tables, rules):
    """Rules in order (surveys, trust score, culture scores, covariates), then the clinic-size
    rule; a reference that checks each clinician's rules one by one agrees on random gaps."""
    rng = np.random.default_rng(3)
    exposures = codebook.scales_with_role("exposure")
    scored = cohort.score_cohort(tables, rules.on_all_missing_scale, rules.min_answered_items)
    for _ in range(5):
        s = scored.copy()
        for col in ["org_trust", *exposures, *cohort.COVARIATES]:
            s.loc[rng.random(len(s)) < 0.05, col] = np.nan
        s["n_patient_surveys"] = rng.integers(0, 6, len(s))
        out = cohort.apply_sufficient_data(s, 3, exposures, 3)
        checks = ([("no patient survey", lambda r: r["n_patient_surveys"] == 0),
                   ("fewer than 3 patient surveys", lambda r: r["n_patient_surveys"] < 3),
                   ("no clinician trust score", lambda r: pd.isna(r["org_trust"]))]
                  + [(f"no {m} score", lambda r, m=m: pd.isna(r[m])) for m in exposures]
                  + [(f"missing covariate {c}", lambda r, c=c: pd.isna(r[c])) for c in cohort.COVARIATES])
        first = [next((text for text, failed in checks if failed(r)), "") for _, r in s.iterrows()]
        per_clinic = pd.Series(first)[pd.Series(first) == ""].groupby(s["clinic_id"]).size()
        expected = [f or ("" if per_clinic.get(c, 0) >= 3 else "clinic has fewer than 3 clinicians with sufficient data")
                    for f, c in zip(first, s["clinic_id"])]
        assert out["exclusion_reason"].tolist() == expected
        assert out["included"].tolist() == [e == "" for e in expected]
        assert len(set(expected)) >= 5


def test_scales_in_a_table_follow_the_codebook():
    cb = codebook.load_codebook()
    for table in ("clinicians", "patients"):
        found = codebook.scales_in_table(table)
        assert found == [s for s in codebook.load_scales()["scale"] if (cb.loc[cb["scale"] == s, "table"] == table).any()]
    assert "patient_trust" in codebook.scales_in_table("patients")
    assert set(codebook.scales_with_role("exposure")) <= set(codebook.scales_in_table("clinicians"))

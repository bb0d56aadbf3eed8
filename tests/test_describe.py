"""Participant flow, Table 1 and small-cell suppression."""

from __future__ import annotations

import numpy as np
import pytest

from trustlib.data import cohort
from trustlib.publish import describe, disclosure
from trustlib.data.cohort import QUADRANTS


@pytest.fixture(scope="module")
def built(tables, rules):
    return cohort.build_cohort(tables, rules)


def test_flow_adds_up(tables, built):
    clin, analysis, _ = built
    counts = disclosure.cohort_counts(clin, analysis, len(tables["patients"]), None, len(tables["clinics"]))
    flow = describe.flow(counts)
    assert flow["clinics"].tolist()[::len(flow) - 1] == [34, analysis["clinic_id"].nunique()]
    assert flow["clinicians"].iloc[:-1].sum() == flow["clinicians"].iloc[-1] == len(analysis)
    assert flow["clinicians"].iloc[0] == len(tables["clinicians"])
    unscored = flow["patient_surveys"].iloc[:-1].sum() - flow["patient_surveys"].iloc[-1]
    assert unscored == len(tables["patients"]) - clin["n_patient_surveys"].sum() >= 0
    # whole numbers throughout (34, not 34.0), clinics missing in the exclusion rows only
    assert all(str(flow[c].dtype) == "Int64" for c in ("clinics", "clinicians", "patient_surveys"))
    assert flow["clinics"].isna().tolist() == [False] + [True] * (len(flow) - 2) + [False]


def test_table1_groups_partition_the_cohort(built):
    _, analysis, _ = built
    long = describe.table1_long(analysis)
    n = long[long["variable"] == "clinicians"].set_index("group")["count"]
    assert n["all modelled"] == len(analysis) == n.drop("all modelled").sum()
    women = long[long["variable"] == "women"].set_index("group")
    assert women.loc["all modelled", "count"] == women.drop("all modelled")["count"].sum()


def test_protected_table1_blanks_hidden_counts_and_statistics(tables, built):
    clin, analysis, _ = built
    counts = disclosure.cohort_counts(clin, analysis, len(tables["patients"]), 11)
    hidden_groups = disclosure.statistics_groups(counts, 11) | {QUADRANTS[1]}
    long = describe.protect(describe.table1_long(analysis), counts, hidden_groups)
    shown = counts.set_index(["group", "variable"])["shown"]
    for r in long[long["count"].notna()].itertuples():
        assert r.count == shown[(r.group, r.variable)]
    hidden = [(g, v) for (g, v), x in shown.items() if np.isnan(x) and g in long["group"].values]
    assert hidden, "the shipped cohort has small cells (NPs and PAs per quadrant)"
    for g, v in hidden:
        row = long[(long["group"] == g) & (long["variable"] == v)]
        assert row["count"].isna().all() and row["percent"].isna().all() and row["suppressed"].all()
    q = long[long["group"] == QUADRANTS[1]]
    assert q["mean"].isna().all() and q["percent"].isna().all()
    wide = describe.table1(long)
    assert wide.shape[0] == long["variable"].nunique()
    assert (wide[QUADRANTS[1]].iloc[4:] == "suppressed").all()


def test_table1_formats_counts_and_means(built):
    _, analysis, _ = built
    wide = describe.table1(describe.table1_long(analysis))
    row = wide.set_index("characteristic").loc["Women, n (%)", "all modelled"]
    k = int((analysis["sex"] == "female").sum())
    assert row == f"{k} ({100 * k / len(analysis):.1f})"
    age = wide.set_index("characteristic").loc["Age, years, mean (SD)", "all modelled"]
    assert age == f"{analysis['age'].mean():.2f} ({analysis['age'].std(ddof=1):.2f})"
    assert np.isfinite(analysis["age"]).all()

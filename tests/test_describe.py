"""Participant flow, Table 1 and small-cell suppression."""

from __future__ import annotations

import numpy as np
import pytest

from trustlib import cohort, describe


@pytest.fixture(scope="module")
def built(tables):
    return cohort.build_cohort(tables)


def test_flow_adds_up(tables, built):
    clin, analysis, _ = built
    counts = {t: len(df) for t, df in tables.items()}
    flow = describe.flow(counts, clin, analysis)
    assert flow["clinicians"].iloc[:-1].sum() == flow["clinicians"].iloc[-1] == len(analysis)
    assert flow["patient_surveys"].iloc[:-1].sum() == flow["patient_surveys"].iloc[-1]


def test_table1_groups_partition_the_cohort(built):
    _, analysis, _ = built
    long = describe.table1_long(analysis)
    n = long[long["variable"] == "clinicians"].set_index("group")["count"]
    assert n["all modelled"] == len(analysis) == n.drop("all modelled").sum()
    women = long[long["variable"] == "women"].set_index("group")
    assert women.loc["all modelled", "count"] == women.drop("all modelled")["count"].sum()


def test_suppression_blanks_small_cells_only(built):
    _, analysis, _ = built
    long = describe.table1_long(analysis)
    sup = describe.suppress(long, 11)
    small = long["count"].between(1, 10)
    assert sup.loc[small, "count"].isna().all() and sup.loc[small, "percent"].isna().all()
    big = long["count"] >= 11
    assert (sup.loc[big, "count"] == long.loc[big, "count"]).all()
    assert sup.loc[long["n"] < 11, "mean"].isna().all()
    wide = describe.table1(sup, 11)
    assert wide.shape[0] == long["variable"].nunique()
    if small.any():
        assert (wide == "<11").any().any()


def test_table1_formats_counts_and_means(built):
    _, analysis, _ = built
    wide = describe.table1(describe.table1_long(analysis))
    row = wide.set_index("characteristic").loc["Women, n (%)", "all modelled"]
    k = int((analysis["sex"] == "female").sum())
    assert row == f"{k} ({100 * k / len(analysis):.1f})"
    age = wide.set_index("characteristic").loc["Age, years, mean (SD)", "all modelled"]
    assert age == f"{analysis['age'].mean():.2f} ({analysis['age'].std(ddof=1):.2f})"
    assert np.isfinite(analysis["age"]).all()

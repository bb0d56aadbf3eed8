"""Specification curve and leave-one-clinic-out influence."""

from __future__ import annotations

import numpy as np
import pytest

from trustlib.data import cohort
from trustlib.stats import models, robustness


GRID = {"org_trust_cutoff": [3.0, "median"], "patient_trust_cutoff": ["median", 85],
        "cutoff_rule": ["at_or_above"], "min_patient_surveys": [2, 3]}


@pytest.fixture(scope="module")
def spec(tables, rules, config):
    return robustness.specification_curve(tables, rules, GRID, ["alignment"],
                                          models.ModelSpec(nagq=7, covariates=config.covariates,
                                                           estimators=config.estimators))


def test_grid_is_complete_and_the_main_specification_is_marked_once(spec, config):
    assert len(spec) == 2 * 2 * 2 * 2 * len(config.estimators)      # the grid x adjusted x estimators
    main = spec[spec["main"]]
    assert len(main) == 1 and main.iloc[0]["model"] == "glmm" and bool(main.iloc[0]["adjusted"])


def test_main_specification_equals_the_main_analysis(spec, tables, rules, config):
    from trustlib.stats import models

    analysis = cohort.build_cohort(tables, rules)[1]
    row = models.fit_one(analysis, "alignment", "glmm", True, models.ModelSpec(nagq=7, covariates=config.covariates))
    assert spec[spec["main"]].iloc[0]["or"] == pytest.approx(row["or"], rel=1e-6)


def test_support_summary(spec):
    s = robustness.support_summary(spec)
    assert s.loc[0, "specifications"] == len(spec)
    assert 0 <= s.loc[0, "share_or_above_1_p_below_05"] <= s.loc[0, "share_or_above_1"] <= 1
    assert s.loc[0, "or_min"] <= s.loc[0, "or_median"] <= s.loc[0, "or_max"]


def test_leave_one_clinic_out(tables, rules, config):
    analysis = cohort.build_cohort(tables, rules)[1]
    loo = robustness.leave_one_clinic_out(analysis, ["alignment"], models.ModelSpec(nagq=7, covariates=config.covariates))
    assert len(loo) == analysis["clinic_id"].nunique()
    sizes = analysis["clinic_id"].value_counts()
    assert loo.set_index("dropped_clinic")["n"].to_dict() == (len(analysis) - sizes).to_dict()
    inf = robustness.influence_summary(loo)
    assert inf.loc[0, "loo_or_min"] <= inf.loc[0, "full_or"] <= inf.loc[0, "loo_or_max"]
    top = inf.loc[0, "most_influential"].split(", ")[0]
    delta = loo.set_index("dropped_clinic")["delta_log_or"].abs()
    assert np.isclose(delta[top], delta.max())


def test_fewer_columns_never_separate_data_that_more_columns_do_not():
    """The specification curve skips the unadjusted model's separation LP when the adjusted
    design (a superset of its columns) is not separated; the LP itself agrees on random small
    data sets, including separated ones."""
    from trustlib.stats.glmm import separation

    rng = np.random.default_rng(7)
    seen = {True: 0, False: 0}
    for _ in range(300):
        n = int(rng.integers(6, 20))
        X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
        y = (X[:, 1] + rng.normal(scale=rng.choice([0.05, 1.0]), size=n) > 0).astype(float)
        full = separation(X, y)
        seen[full] += 1
        if not full:
            assert not separation(X[:, :2], y)
    assert min(seen.values()) > 20        # both kinds of data were tried


def test_cells_share_a_key_exactly_when_their_analysis_tables_are_equal(tables, rules):
    """The multiverse fits each distinct analysis table once: its keys (built from the clinicians
    included and their two dichotomies) group the grid's cells as the tables themselves do, and
    each key's table is the one cohort.dichotomize builds for its cells."""
    import itertools

    grid = list(itertools.product([2.8, 3.0, "median"], ["median", 85, "tertile"], ["at_or_above", "above"],
                                  [1, 2, 3, 4, 99]))
    measures = ["alignment", "quality"]
    scored = cohort.score_cohort(tables, rules.on_all_missing_scale, rules.min_answered_items)
    keys, unique = robustness._cohorts(scored, grid, measures, rules.min_clinicians_per_clinic)
    built = []
    for org_cut, pat_cut, rule, n in grid:
        eligible = cohort.apply_sufficient_data(scored, n, measures, rules.min_clinicians_per_clinic)
        try:
            built.append(cohort.dichotomize(eligible, org_cut, pat_cut, rule, n, rules.min_clinicians_per_clinic)[0])
        except cohort.CohortError as err:
            built.append(str(err))
    assert sum(isinstance(k, tuple) for k in keys) >= 18            # min 99 surveys: no clinician left
    for (key_a, a), (key_b, b) in itertools.combinations(zip(keys, built), 2):
        if isinstance(a, str) or isinstance(b, str):
            assert isinstance(key_a, tuple) == isinstance(a, str) and isinstance(key_b, tuple) == isinstance(b, str)
            continue
        assert (key_a == key_b) == a.equals(b)
    for key, table in zip(keys, built):
        if not isinstance(table, str):
            assert unique[key].equals(table)
    assert 1 < len(unique) < len(grid) - 18                          # some cells do share their table

"""Scorecard rules: each kind of published number passes and fails where it should."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from trustlib import scorecard


def _numbers(**over):
    """Reproduced numbers equal to the published ones (a published "< x" P value as x / 2)."""
    pub = scorecard.load_published()
    n = {r.reproduced_key: float(r.value) / (2 if r.comparator == "<" else 1) for r in pub.itertuples()}
    return {**n, **over}


def _row(card, key):
    return card.set_index("key").loc[key]


def test_published_values_reproduce_themselves():
    card = scorecard.build(scorecard.load_published(), _numbers())
    assert card["passed"].all()


@pytest.mark.parametrize("key,value,passed", [
    ("flow.n_modelled", 161, False), ("flow.n_modelled", 162, True),
    ("outcome.pct_high_high", 34.4, True), ("outcome.pct_high_high", 34.6, False),
    ("sample.age_mean", 47.55, True), ("sample.age_mean", 47.7, False),
    ("reliability.org_trust.alpha", 0.81, True), ("reliability.org_trust.alpha", 0.83, False),
    ("table2.quality.glmm.adjusted.p", 0.0009, True), ("table2.quality.glmm.adjusted.p", 0.04, False),
    ("table2.communication.glmm.adjusted.p", 0.04, True), ("table2.communication.glmm.adjusted.p", 0.06, False),
])
def test_tolerances(key, value, passed):
    card = scorecard.build(scorecard.load_published(), _numbers(**{key: value}))
    row = card[card["passed"] == False]  # noqa: E712
    assert (len(row) == 0) == passed


def test_or_needs_containment_both_ways():
    # reproduced OR 3.0 inside published 2.02-12.15, published 4.95 inside reproduced 1.5-6.0: pass
    n = _numbers(**{"table2.quality.glmm.adjusted.or": 3.0, "table2.quality.glmm.adjusted.ci_low": 1.5,
                    "table2.quality.glmm.adjusted.ci_high": 6.0})
    assert _row(scorecard.build(scorecard.load_published(), n), "quality_or")["passed"]
    # published 4.95 outside reproduced 1.5-4.5: fail
    n["table2.quality.glmm.adjusted.ci_high"] = 4.5
    assert not _row(scorecard.build(scorecard.load_published(), n), "quality_or")["passed"]


def test_ci_bound_tolerance_is_the_published_half_width():
    half = math.log(12.15 / 2.02) / 2
    inside = 2.02 * math.exp(half * 0.99)
    outside = 2.02 * math.exp(half * 1.01)
    for value, ok in ((inside, True), (outside, False)):
        card = scorecard.build(scorecard.load_published(), _numbers(**{"table2.quality.glmm.adjusted.ci_low": value}))
        assert _row(card, "quality_ci_low")["passed"] == ok


def test_missing_reproduced_number_fails():
    n = _numbers()
    del n["flow.n_clinics"]
    assert not _row(scorecard.build(scorecard.load_published(), n), "n_clinics")["passed"]


def test_published_ors_table():
    ors = scorecard.published_ors()
    assert ors["measure"].tolist() == ["quality", "communication", "cohesiveness", "alignment"]
    assert ors.loc[0, "or"] == 4.95 and isinstance(ors, pd.DataFrame)


def test_p_rule_honours_a_published_upper_bound():
    published = pd.DataFrame([{"key": "q_p", "measure": "quality", "quantity": "p", "value": 0.001,
                               "comparator": "<", "reproduced_key": "p", "source": "t"}])
    assert not scorecard.build(published, {"p": 0.017}).loc[0, "passed"]
    assert scorecard.build(published, {"p": 0.0004}).loc[0, "passed"]


def test_unselected_rates_join_by_key_and_are_left_out_for_raw_data():
    card = scorecard.build(scorecard.load_published(), _numbers())
    rates = pd.DataFrame({"key": list(card["key"]) + ["all rows"], "passes": [3] * len(card) + [0],
                          "seeds": 10, "pass_rate": [i / 100 for i in range(len(card))] + [0.0]})
    shown = scorecard.with_unselected_rates(card, rates)
    assert shown["unselected_pass_rate"].tolist() == [i / 100 for i in range(len(card))]
    assert scorecard.with_unselected_rates(card, None) is card
    summary = scorecard.selection_summary(card, rates)
    assert summary["unselected cohorts meeting every row"] == "0 of 10"
    assert "selected" in summary["this cohort"]
    assert list(scorecard.selection_summary(card, None).index) == ["this cohort"]


def test_agreement_to_print_is_half_a_unit_of_the_last_printed_digit():
    assert scorecard.build(scorecard.load_published(), _numbers())["agrees_to_print"].all()
    for key, value, expected in [("flow.n_clinics", 35, False), ("table2.quality.glmm.adjusted.or", 4.954, True),
                                 ("table2.quality.glmm.adjusted.or", 4.956, False),
                                 ("reliability.org_trust.alpha", 0.774, True),
                                 ("reliability.org_trust.alpha", 0.776, False),
                                 ("table2.quality.glmm.adjusted.p", 0.0009, True),
                                 ("table2.quality.glmm.adjusted.p", 0.0011, False)]:
        card = scorecard.build(scorecard.load_published(), _numbers(**{key: value}))
        row = card[card["key"].map(lambda k: k in ("n_clinics", "quality_or", "alpha_org_trust", "quality_p"))]
        changed = row[row["reproduced"] == value]
        assert len(changed) == 1 and bool(changed["agrees_to_print"].iloc[0]) is expected, (key, value)

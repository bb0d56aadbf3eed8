"""Scorecard rules: each kind of published number passes and fails where it should."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from trustlib.stats import scorecard


def _numbers(**over):
    """Reproduced numbers equal to the published ones (a published "< x" P value as x / 2)."""
    pub = scorecard.load_published()
    n = {r.reproduced_key: float(r.value) / (2 if r.comparator == "<" else 1) for r in pub.itertuples()}
    return {**n, **over}


def _row(card, key):
    return card.set_index("key").loc[key]


def test_published_values_reproduce_themselves():
    card = scorecard.build(scorecard.load_published(), _numbers())
    assert (card["verdict"] == "pass").all()


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
    row = card[card["verdict"] == "fail"]
    assert (len(row) == 0) == passed


def test_or_needs_containment_both_ways():
    # reproduced OR 3.0 inside published 2.02-12.15, published 4.95 inside reproduced 1.5-6.0: pass
    n = _numbers(**{"table2.quality.glmm.adjusted.or": 3.0, "table2.quality.glmm.adjusted.ci_low": 1.5,
                    "table2.quality.glmm.adjusted.ci_high": 6.0})
    assert _row(scorecard.build(scorecard.load_published(), n), "quality_or")["verdict"] == "pass"
    # published 4.95 outside reproduced 1.5-4.5: fail
    n["table2.quality.glmm.adjusted.ci_high"] = 4.5
    assert _row(scorecard.build(scorecard.load_published(), n), "quality_or")["verdict"] == "fail"


def test_ci_bound_tolerance_is_the_published_half_width():
    half = math.log(12.15 / 2.02) / 2
    inside = 2.02 * math.exp(half * 0.99)
    outside = 2.02 * math.exp(half * 1.01)
    for value, ok in ((inside, True), (outside, False)):
        card = scorecard.build(scorecard.load_published(), _numbers(**{"table2.quality.glmm.adjusted.ci_low": value}))
        assert _row(card, "quality_ci_low")["verdict"] == ("pass" if ok else "fail")


def test_missing_reproduced_number_fails():
    n = _numbers()
    del n["flow.n_clinics"]
    assert _row(scorecard.build(scorecard.load_published(), n), "n_clinics")["verdict"] == "fail"


def test_a_suppressed_number_is_not_compared_and_verify_counts_only_compared_rows():
    """Disclosure control hides a number as "suppressed": neither pass nor fail."""
    card = scorecard.build(scorecard.load_published(), _numbers(**{"sample.n_women": "suppressed",
                                                                   "flow.n_modelled": 161}))
    assert _row(card, "n_women")[["verdict", "to_print"]].tolist() == ["not compared", "not compared"]
    c = scorecard.counts(card)
    assert c["n_not_compared"] == 1 and c["n_compared"] == len(card) - 1 and c["n_failed"] == 1
    assert scorecard.failures(card)["key"].tolist() == ["n_modelled"]


def test_published_ors_table():
    ors = scorecard.published_ors()
    assert ors["measure"].tolist() == ["quality", "communication", "cohesiveness", "alignment"]
    assert ors.loc[0, "or"] == 4.95 and isinstance(ors, pd.DataFrame)


def test_p_rule_honours_a_published_upper_bound():
    published = pd.DataFrame([{"key": "q_p", "measure": "quality", "quantity": "p", "value": 0.001,
                               "comparator": "<", "reproduced_key": "p", "source": "t"}])
    assert scorecard.build(published, {"p": 0.017}).loc[0, "verdict"] == "fail"
    assert scorecard.build(published, {"p": 0.0004}).loc[0, "verdict"] == "pass"


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
    assert (scorecard.build(scorecard.load_published(), _numbers())["to_print"] == "pass").all()
    for key, value, expected in [("flow.n_clinics", 35, False), ("table2.quality.glmm.adjusted.or", 4.954, True),
                                 ("table2.quality.glmm.adjusted.or", 4.956, False),
                                 ("reliability.org_trust.alpha", 0.774, True),
                                 ("reliability.org_trust.alpha", 0.776, False),
                                 ("table2.quality.glmm.adjusted.p", 0.0009, True),
                                 ("table2.quality.glmm.adjusted.p", 0.0011, False)]:
        card = scorecard.build(scorecard.load_published(), _numbers(**{key: value}))
        row = card[card["key"].map(lambda k: k in ("n_clinics", "quality_or", "alpha_org_trust", "quality_p"))]
        changed = row[row["reproduced"] == value]
        assert len(changed) == 1 and (changed["to_print"].iloc[0] == "pass") is expected, (key, value)

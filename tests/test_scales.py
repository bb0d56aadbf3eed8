"""Scoring rules from the codebook, and Cronbach's alpha against an independent formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustlib.data import codebook, scales


N_TRUST = len(codebook.scale_items("patient_trust"))   # items of the patient-trust scale


def _clinicians(rows):
    items = codebook.scale_items("quality")["variable"]
    return pd.DataFrame(rows, columns=list(items), dtype=float)


def test_reverse_worded_items_are_reversed():
    # quality_3 is reverse-worded on 1-4: raw 1 means high quality
    df = _clinicians([[4, 4, 1], [1, 1, 4]])
    assert scales.score(df, "quality").tolist() == [4.0, 1.0]


def test_minimum_answered_items_rule():
    df = _clinicians([[4, np.nan, 1], [4, np.nan, np.nan]])
    s = scales.score(df, "quality")   # quality needs 2 of 3 answered
    assert s.iloc[0] == 4.0 and np.isnan(s.iloc[1])


def test_patient_trust_is_on_0_to_100():
    items = codebook.scale_items("patient_trust")
    best = [1 if r else 5 for r in items["reverse"]]
    worst = [5 if r else 1 for r in items["reverse"]]
    df = pd.DataFrame([best, worst], columns=list(items["variable"]), dtype=float)
    assert scales.score(df, "patient_trust").tolist() == [100.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(1, 4), min_size=3, max_size=3), min_size=1, max_size=30))
def test_scores_stay_in_range(rows):
    s = scales.score(_clinicians(rows), "quality")
    assert s.between(1, 4).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=N_TRUST, max_size=N_TRUST),
                min_size=1, max_size=40), st.integers(1, N_TRUST))
def test_scores_equal_row_means_of_answered_items_bit_for_bit(rows, need):
    """The score against a plain pandas reading of the rule: the row mean of the answered
    (reversed) items where at least ``need`` are answered, on 0-100 for patient trust; missing
    answers as pandas' nullable integers, as a real export may give them."""
    items = codebook.scale_items("patient_trust")
    df = pd.DataFrame(rows, columns=list(items["variable"]), dtype="Int64")
    x = df.astype(float)
    flip = list(items.loc[items["reverse"], "variable"])
    x[flip] = 6 - x[flip]
    expected = ((x.mean(axis=1) - 1) / 4 * 100).where(x.notna().sum(axis=1) >= need)
    pd.testing.assert_series_equal(scales.score(df, "patient_trust", need), expected.rename("patient_trust"),
                                   check_exact=True)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_scoring_several_scales_at_once_equals_scoring_each_alone(data):
    """score_all reads every scale's items in one block: each column must be the scale scored
    alone, whatever the order of the scales, the gaps and the per-scale minimum answered."""
    names = data.draw(st.permutations([s for s in codebook.scales_in_table("clinicians") if s != "patient_trust"]))
    names = names[:data.draw(st.integers(1, len(names)))]
    items = {s: codebook.scale_items(s) for s in names}
    n = data.draw(st.integers(1, 12))
    df = pd.DataFrame({v: data.draw(st.lists(st.one_of(st.none(), st.integers(int(lo), int(hi))), min_size=n, max_size=n))
                       for s in names for v, lo, hi in items[s][["variable", "min", "max"]].itertuples(index=False)},
                      dtype=float, index=pd.RangeIndex(100, 100 + n))
    need = {s: data.draw(st.integers(1, len(items[s]))) for s in names if data.draw(st.booleans())}
    together = scales.score_all(df, names, need)
    assert list(together.columns) == names and together.index.equals(df.index)
    for s in names:
        pd.testing.assert_series_equal(together[s], scales.score(df, s, need.get(s)), check_exact=True)


def _alpha_from_covariances(x: np.ndarray) -> float:
    """Independent formula: alpha = k * mean covariance / (mean variance + (k - 1) * mean covariance)."""
    c = np.cov(x, rowvar=False)
    k = c.shape[0]
    mean_var = np.trace(c) / k
    mean_cov = (c.sum() - np.trace(c)) / (k * (k - 1))
    return k * mean_cov / (mean_var + (k - 1) * mean_cov)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_alpha_matches_the_covariance_formula(seed):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(50, 1))
    x = np.clip(np.rint(2.5 + latent + rng.normal(size=(50, 5))), 1, 4)
    if np.any(x.std(axis=0) == 0):
        return
    assert scales.cronbach_alpha(pd.DataFrame(x)) == pytest.approx(_alpha_from_covariances(x), abs=1e-10)


def test_alpha_known_values():
    perfect = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4], "c": [1, 2, 3, 4]}, dtype=float)
    assert scales.cronbach_alpha(perfect) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    assert abs(scales.cronbach_alpha(pd.DataFrame(rng.normal(size=(4000, 5))))) < 0.05


def test_reliability_table_lists_multi_item_scales(tables):
    rel = scales.reliability_table(tables["clinicians"], ["org_trust", "quality", "stress"])
    assert rel["scale"].tolist() == ["org_trust", "quality"]      # single-item stress has no alpha
    assert rel["alpha"].between(0, 1).all()

"""Disclosure control: primary and complementary suppression, differencing, the cohort's counts.

Tiny cohorts make each rule fire; an independent audit (linear programming with scipy: the
smallest and largest value a hidden cell can take given every shown cell, the sums and that
counts are never negative) checks that no sensitive count can be shown to be small (its largest
possible value is at least k), so a suppression that hides too little fails here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from trustlib.data import cohort
from trustlib.publish import describe, disclosure

K = 11


def lp_bounds(table: pd.DataFrame, equations, cell: str) -> tuple[float, float]:
    """Range of ``cell`` over non-negative values of the hidden cells that satisfy every sum,
    the shown cells fixed at their values (scipy's HiGHS, independent of :func:`protect`)."""
    cells = list(table.index)
    pos = {c: i for i, c in enumerate(cells)}
    a_eq, b_eq = [], []
    for total, parts in equations:
        row = np.zeros(len(cells))
        row[pos[total]] += 1
        for p in parts:
            row[pos[p]] -= 1
        a_eq.append(row)
        b_eq.append(0.0)
    bounds = [(v, v) if not h else (0, None) for v, h in zip(table["count"], table["hidden"])]
    c = np.zeros(len(cells))
    c[pos[cell]] = 1
    lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert lo.status == 0 and hi.status in (0, 3)      # 3: unbounded above (a hidden total)
    return lo.fun, (np.inf if hi.status == 3 else -hi.fun)


def assert_protected(table: pd.DataFrame, equations, k: int = K) -> None:
    """No sensitive count can be shown to be small: given the shown cells, the sums and
    non-negative counts, the largest value a count of 1 to k - 1 can take is at least k; a zero
    of a small group is not known to be zero; the excluded clinics are not computable."""
    for cell in table.index[table["sensitive"]]:
        assert table.loc[cell, "hidden"], f"{cell} is shown"
        lo, hi = lp_bounds(table, equations, cell)
        value = table.loc[cell, "count"]
        need = value + 1 if cell.endswith("|clinics") else (1 if value == 0 else k)
        assert hi >= need, f"{cell} ({value:g}) can be shown to be small: it lies in [{lo}, {hi}]"


def grid(rows: list[list[int]]) -> tuple[pd.Series, list]:
    """A two-way table with its row, column and grand totals, as cells and sums."""
    r, c = len(rows), len(rows[0])
    counts = {f"r{i}c{j}": rows[i][j] for i in range(r) for j in range(c)}
    counts.update({f"r{i}": sum(rows[i]) for i in range(r)})
    counts.update({f"c{j}": sum(rows[i][j] for i in range(r)) for j in range(c)})
    counts["all"] = sum(map(sum, rows))
    eqs = [(f"r{i}", [f"r{i}c{j}" for j in range(c)]) for i in range(r)]
    eqs += [(f"c{j}", [f"r{i}c{j}" for i in range(r)]) for j in range(c)]
    eqs += [("all", [f"r{i}" for i in range(r)])]
    return pd.Series(counts), eqs


def test_primary_suppression_hides_1_to_k_minus_1_and_shows_zeros():
    counts = pd.Series({"total": 40, "a": 0, "b": 1, "c": 10, "d": 29})
    t = disclosure.protect(counts, [("total", ["a", "b", "c", "d"])], K)
    assert t["sensitive"].tolist() == [False, False, True, True, False]
    assert t.loc[["b", "c"], "hidden"].all() and not t.loc["a", "hidden"]
    assert_protected(t, [("total", ["a", "b", "c", "d"])])


def test_one_small_cell_in_a_line_takes_a_complement():
    counts = pd.Series({"total": 60, "a": 3, "b": 20, "c": 37})
    eqs = [("total", ["a", "b", "c"])]
    t = disclosure.protect(counts, eqs, K)
    assert t.loc["b", "hidden"] and not t.loc["c", "hidden"]      # the smallest other cell
    assert_protected(t, eqs)


def test_keep_cells_are_hidden_last():
    counts = pd.Series({"surveyed": 165, "excluded": 3, "modelled": 162})
    eqs = [("surveyed", ["excluded", "modelled"])]
    t = disclosure.protect(counts, eqs, K, keep={"modelled"})
    assert t["hidden"].tolist() == [True, True, False]
    assert_protected(t, eqs)


def test_unpublished_complement_cannot_be_recovered():
    """15 of 16 physicians means 1 NP or PA: the physician count must go."""
    counts = pd.Series({"n": 16, "physicians": 15, "not physicians": 1})
    eqs = [("n", ["physicians", "not physicians"])]
    t = disclosure.protect(counts, eqs, K, published={"n", "physicians"})
    assert t.loc["physicians", "hidden"] and t.loc["not physicians", "sensitive"]
    assert_protected(t, eqs)
    t_none = disclosure.protect(counts, eqs, None, published={"n", "physicians"})
    assert not t_none.loc["physicians", "hidden"]           # no control on synthetic data


def test_two_way_table_needs_complements_across_lines():
    counts, eqs = grid([[2, 30, 25], [40, 18, 22], [33, 27, 19]])
    t = disclosure.protect(counts, eqs, K)
    assert t["hidden"].sum() >= 4                            # a rectangle at least
    assert_protected(t, eqs)


@pytest.mark.parametrize("seed", range(25))
def test_random_tables_are_protected(seed):
    rng = np.random.default_rng(seed)
    r, c = rng.integers(2, 5, size=2)
    rows = rng.choice([0, 1, 2, 5, 9, 12, 20, 35], size=(r, c)).tolist()
    counts, eqs = grid(rows)
    t = disclosure.protect(counts, eqs, K)
    assert_protected(t, eqs)
    assert (t.loc[~t["hidden"], "shown"] == t.loc[~t["hidden"], "count"]).all()


def test_differencing_hides_the_larger_groups_statistics():
    sizes = {"surveyed": 165, "modelled": 162, "q1": 55, "q2": 107}
    hidden = disclosure.hidden_statistics(sizes, [("surveyed", "modelled"), ("modelled", "q1")], K)
    assert hidden == {"surveyed"}
    assert disclosure.hidden_statistics({"q": 5, "all": 5}, [("all", "q")], K) == {"q", "all"}
    assert disclosure.hidden_statistics(sizes, [("surveyed", "modelled")], None) == set()


# -- the cohort's counts, on tiny cohorts -------------------------------------------------------------

def tiny_cohort(n_per_quadrant=(40, 34, 30, 28), excluded=2, not_physicians=(1, 0, 0, 0), seed=0):
    """Clinicians and analysis tables shaped as cohort.build_cohort returns them."""
    rng = np.random.default_rng(seed)
    rows = []
    for q, n, npa in zip(cohort.QUADRANTS, n_per_quadrant, not_physicians):
        for i in range(n):
            rows.append({"quadrant": q, "clinician_type": "np" if i < npa else "physician",
                         "sex": "female" if i % 2 else "male", "specialty": "family" if i % 3 else "internal"})
    for i in range(excluded):
        rows.append({"quadrant": None, "clinician_type": "physician", "sex": "female", "specialty": "family"})
    clin = pd.DataFrame(rows)
    clin["clinician_id"] = [f"C{i:03d}" for i in range(len(clin))]
    clin["clinic_id"] = [f"K{i % 5:02d}" for i in range(len(clin))]
    clin["included"] = clin["quadrant"].notna()
    clin["exclusion_reason"] = np.where(clin["included"], "", "fewer than 3 patient surveys")
    clin["n_patient_surveys"] = np.where(clin["included"], rng.integers(3, 9, len(clin)), 1)
    clin["age"] = rng.normal(47, 9, len(clin))
    clin["patient_trust"] = rng.normal(85, 5, len(clin))
    analysis = clin[clin["included"]].reset_index(drop=True)
    return clin, analysis


def cohort_equations(counts: pd.DataFrame):
    """The sums as cohort_counts builds them, rebuilt from the names (for the LP audit)."""
    table = counts.set_index("cell")
    groups = list(dict.fromkeys(counts["group"]))
    reasons = [g for g in groups if g.startswith("excluded: ")]
    variables = [v for v in dict.fromkeys(counts["variable"]) if v not in ("patient_surveys", "clinics")]
    eqs = [("surveyed|patient_surveys", ["unscored|patient_surveys", "excluded|patient_surveys",
                                         "all modelled|patient_surveys"])]
    for v in variables:
        eqs.append((f"surveyed|{v}", [f"excluded|{v}", f"all modelled|{v}"]))
        eqs.append((f"all modelled|{v}", [f"{q}|{v}" for q in cohort.QUADRANTS]))
    for v in variables + ["patient_surveys"]:
        if reasons:
            eqs.append((f"excluded|{v}", [f"{r}|{v}" for r in reasons]))
    for g in groups:
        for v in ("women", "physicians", "family medicine"):
            if f"{g}|{v}" in table.index:
                eqs.append((f"{g}|clinicians", [f"{g}|{v}", f"{g}|not {v}"]))
    if "surveyed|clinics" in table.index:
        eqs.append(("surveyed|clinics", ["excluded|clinics", "all modelled|clinics"]))
    return table, eqs


def test_cohort_counts_hide_small_exclusions_and_their_complement():
    clin, analysis = tiny_cohort()
    counts = disclosure.cohort_counts(clin, analysis, patient_surveys=int(clin["n_patient_surveys"].sum()), k=K)
    assert disclosure.shown(counts, "excluded: fewer than 3 patient surveys") == disclosure.HIDDEN
    assert disclosure.shown(counts, disclosure.SURVEYED) == disclosure.HIDDEN     # 53 - 51 would give 2 back
    assert disclosure.shown(counts, disclosure.MODELLED) == len(analysis)          # kept: the model's N
    table, eqs = cohort_equations(counts)
    assert_protected(table, eqs)


def test_table1_complement_of_a_binary_characteristic_is_hidden():
    clin, analysis = tiny_cohort(not_physicians=(1, 0, 0, 0))
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K)
    assert disclosure.shown(counts, cohort.QUADRANTS[0], "physicians") == disclosure.HIDDEN   # 39 of 40
    long = describe.protect(describe.table1_long(analysis), counts, disclosure.statistics_groups(counts, K))
    wide = describe.table1(long).set_index("characteristic")
    assert wide.loc["Physicians, n (%)", cohort.QUADRANTS[0]] == disclosure.HIDDEN
    assert wide.loc["Clinicians, n", cohort.QUADRANTS[0]] == "40"
    assert not any(c.startswith("39") for c in wide.loc["Physicians, n (%)"])


def test_small_quadrant_hides_its_count_statistics_and_a_complement():
    clin, analysis = tiny_cohort(n_per_quadrant=(40, 30, 4, 30), excluded=0, not_physicians=(0, 0, 0, 0))
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K)
    q = disclosure.quadrant_counts(counts)
    assert q[cohort.QUADRANTS[2]] == disclosure.HIDDEN
    assert (q == disclosure.HIDDEN).sum() >= 2                                  # the total would give it back
    hidden_groups = disclosure.statistics_groups(counts, K)
    assert cohort.QUADRANTS[2] in hidden_groups
    long = describe.protect(describe.table1_long(analysis), counts, hidden_groups)
    age = long[(long["variable"] == "age") & (long["group"] == cohort.QUADRANTS[2])]
    assert age["mean"].isna().all() and age["suppressed"].all()
    numbers = disclosure.cohort_numbers(counts)
    assert numbers["quadrant.loworg/highpatient"] == disclosure.HIDDEN
    table, eqs = cohort_equations(counts)
    assert_protected(table, eqs)


def test_flow_shows_suppressed_not_the_count():
    clin, analysis = tiny_cohort()
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K)
    flow = describe.flow(disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K, 5))
    assert flow.loc[1, "clinicians"] == disclosure.HIDDEN and flow.loc[1, "patient_surveys"] == disclosure.HIDDEN
    assert flow.loc[0, "clinicians"] == disclosure.HIDDEN
    assert flow.loc[2, "clinicians"] == len(analysis)


def test_no_control_on_synthetic_data_changes_nothing():
    clin, analysis = tiny_cohort()
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), None)
    assert not counts["hidden"][counts["published"]].any()
    assert disclosure.cohort_numbers(counts)["cohort.excluded"] == 2


def test_histogram_protects_bins_against_the_total_and_the_cut_off():
    values = pd.Series([1.2] * 3 + [2.2] * 20 + [2.7] * 15 + [3.1] * 30 + [3.6] * 25)
    h = disclosure.histogram(values, np.linspace(1, 4, 7), K, split=3.0)
    assert h["count"].tolist() == [3, 0, 20, 15, 30, 25]
    assert np.isnan(h.loc[0, "shown"])
    # below the cut-off 38 clinicians (from the quadrant counts): bins 0-3 must not give bin 0 back
    assert h.loc[1:3, "shown"].isna().sum() >= 1 and h.loc[1, "shown"] == 0
    h_none = disclosure.histogram(values, np.linspace(1, 4, 7), None, split=3.0)
    assert h_none["shown"].tolist() == h_none["count"].tolist()


def test_outcome_group_means_hide_both_groups_when_one_is_small():
    analysis = pd.DataFrame({"high_high": [1] * 5 + [0] * 40, "quality": np.linspace(1, 4, 45)})
    m = disclosure.outcome_group_means(analysis, ["quality"], K)
    assert m["quality"].isna().all() and m["n"].tolist() == [5, 40]
    assert disclosure.outcome_group_means(analysis, ["quality"], None)["quality"].notna().all()


def test_group_sizes_beside_the_means_follow_the_protected_counts():
    clin, analysis = tiny_cohort(n_per_quadrant=(20, 30, 4, 30), excluded=0, not_physicians=(0, 0, 0, 0))
    analysis = analysis.assign(high_high=(analysis["quadrant"] == cohort.QUADRANTS[0]).astype(int),
                               quality=np.linspace(1, 4, len(analysis)))
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K)
    assert disclosure.shown(counts, cohort.QUADRANTS[0]) == disclosure.HIDDEN     # the complement of 4
    m = disclosure.outcome_group_means(analysis, ["quality"], K, counts)
    assert m["quality"].notna().all()                                             # 20 and 64: means shown
    assert m["n"].tolist() == [disclosure.HIDDEN, disclosure.HIDDEN]              # 20 would give 4 back


def test_small_event_counts_leave_model_tables():
    clin, analysis = tiny_cohort()
    counts = disclosure.cohort_counts(clin, analysis, patient_surveys=int(clin["n_patient_surveys"].sum()), k=K)
    fits = pd.DataFrame({"n": [132, 132, 40], "n_events": [40, 5, 35]})
    out = disclosure.hide_small_events(fits, counts, K)
    assert out["n_events"].isna().tolist() == [False, True, True]


@pytest.mark.parametrize("rows", list(itertools.islice(itertools.product([1, 4, 12], repeat=3), 0, 27, 4)))
def test_one_line_of_three(rows):
    counts = pd.Series({"t": sum(rows), "a": rows[0], "b": rows[1], "c": rows[2]})
    eqs = [("t", ["a", "b", "c"])]
    t = disclosure.protect(counts, eqs, K)
    if t["sensitive"].any():
        assert t["hidden"].sum() >= 2
    assert_protected(t, eqs)


def test_small_parts_and_their_statistics_are_hidden():
    rel = pd.DataFrame({"scale": ["a", "b", "c"], "n_complete": [150, 160, 8], "n_rows": [165, 165, 165],
                        "alpha": [0.8, 0.7, 0.9]})
    out = disclosure.hide_small_parts(rel, "n_complete", "n_rows", K, ["alpha"])
    assert out["n_complete"].isna().tolist() == [False, True, True]     # 165 - 160 = 5 incomplete
    assert out["alpha"].isna().tolist() == [False, False, True]
    assert disclosure.marked(out["alpha"]).tolist() == [0.8, 0.7, disclosure.HIDDEN]
    assert disclosure.hide_small_parts(rel, "n_complete", "n_rows", None).equals(rel)


# -- the differences a reader could take, each closed -----------------------------------------------

def test_surveyed_minus_modelled_surveys_does_not_bound_the_excluded_ones():
    """Surveyed minus modelled patient surveys bounds the excluded clinicians' surveys from above
    (the unscored ones are never negative): that bound must not fall below k."""
    clin, analysis = tiny_cohort()
    surveys = int(clin["n_patient_surveys"].sum())                 # every survey scored: unscored = 0
    counts = disclosure.cohort_counts(clin, analysis, surveys, K, 5)
    table, eqs = cohort_equations(counts)
    assert table.loc["excluded|patient_surveys", "sensitive"]
    lo, hi = lp_bounds(table, eqs, "excluded|patient_surveys")
    assert hi >= K, (lo, hi)


def test_a_small_groups_zero_is_protected_too():
    """All excluded clinicians are women in the tiny cohort: if the surveyed and the modelled women
    were both shown, "none of the excluded is a man" would follow. Every count of a small group is
    sensitive, zeros included."""
    clin, analysis = tiny_cohort(excluded=2)
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K, 5)
    table, eqs = cohort_equations(counts)
    assert table.loc["excluded|not women", "count"] == 0 and table.loc["excluded|not women", "sensitive"]
    lo, hi = lp_bounds(table, eqs, "excluded|not women")
    assert hi >= 1                                                            # not known to be zero
    shown = {v: disclosure.shown(counts, g, "women") for g, v in ((disclosure.SURVEYED, "s"), (disclosure.MODELLED, "m"))}
    assert disclosure.HIDDEN in shown.values()
    assert_protected(table, eqs)


def test_a_clinic_left_out_is_not_given_away_by_the_clinic_counts():
    clin, analysis = tiny_cohort()
    counts = disclosure.cohort_counts(clin, analysis, int(clin["n_patient_surveys"].sum()), K, clinics=6)
    assert disclosure.shown(counts, disclosure.SURVEYED, "clinics") == 6
    assert disclosure.shown(counts, disclosure.MODELLED, "clinics") == disclosure.HIDDEN   # 6 - 5 = 1 left out
    assert disclosure.cohort_numbers(counts)["cohort.modelled_clinics"] == disclosure.HIDDEN
    fits = pd.DataFrame({"n": [len(analysis)], "n_events": [40], "n_clinics": [5]})
    assert disclosure.hide_small_events(fits, counts, K)["n_clinics"].isna().all()
    table, eqs = cohort_equations(counts)
    assert_protected(table, eqs)

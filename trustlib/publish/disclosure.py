"""Disclosure control: what of a real extract may leave ``results_raw/private/``.

On raw data (``min_cell_size`` = k, 11 by default) every count of people, and every statistic of
a group of people, that a shareable output shows passes this module:

1. **Primary suppression.** A count of people from 1 to k - 1 is hidden (a zero is shown: it
   describes nobody). Means, SDs and percentages of a group under k are hidden.
   A zero describing a group of 1 to k - 1 people is sensitive too: that none of three excluded
   clinicians is a man says something about each of them (it must not be known to be zero).
2. **Complementary suppression.** Counts are tied by sums (a total is the sum of its parts),
   including parts that are never shown (the men, when the women and the total are shown). More
   cells are hidden until no sensitive cell can be shown to be small from the shown ones: for
   each, the largest value it can take, given every shown cell, the sums and that counts are
   never negative, is at least k (:func:`protect`; linear programming). The clinics enter the
   same system (surveyed = excluded + modelled clinics): a number of excluded clinics of 1 to
   k - 1 must not be computable.
3. **Differencing of statistics.** The mean of a group and of a subgroup, with both sizes known,
   give the mean of the difference; the larger group's statistics are hidden when the difference
   holds 1 to k - 1 people (:func:`hidden_statistics`).
4. **No identifiers, no row-level data.** Clinic and clinician IDs and per-clinic sizes never
   reach a shareable output; row-level tables are written to ``private/``
   (:meth:`trustlib.publish.outputs.Writer.private`), which the report, the article and the manifest's
   shareable list never include.

A hidden count is shown as :data:`HIDDEN` in tables and stored as that string in
``numbers.json``; the same mark is used for primary and complementary cells, so a reader cannot
tell which cells were small. On synthetic data (k = None) nothing is hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import TrustlibError, paths
from ..data.cohort import QUADRANTS, binary_flags

HIDDEN = "suppressed"
CONFIDENTIAL = "Confidential: contains aggregate trial results."  # the banner of raw-data documents
MODELLED = "all modelled"
SURVEYED = "surveyed"
EXCLUDED = "excluded"


class DisclosureError(TrustlibError):
    """The sums leave no cell to hide that would protect a small count."""


def threshold(data_source: str, min_cell_size: int | None) -> int | None:
    """The cell-size threshold k in force: ``min_cell_size`` on raw data, None (no control) on
    the synthetic cohort."""
    return int(min_cell_size) if paths.is_real(data_source) and min_cell_size else None


def _matrix(cells: list[str], equations: list[tuple[str, list[str]]]) -> np.ndarray:
    pos = {c: i for i, c in enumerate(cells)}
    a = np.zeros((len(equations), len(cells)))
    for row, (total, parts) in enumerate(equations):
        a[row, pos[total]] += 1.0
        for p in parts:
            a[row, pos[p]] -= 1.0
    return a


def largest(a: np.ndarray, values: np.ndarray, hidden: np.ndarray, col: int) -> float:
    """The largest value cell ``col`` can take given the shown cells (``~hidden``, fixed at
    ``values``), the sums ``a x = 0`` and non-negative hidden cells (``inf`` if unbounded)."""
    from scipy.optimize import linprog

    c = np.zeros(len(values))
    c[col] = -1.0
    bounds = [(0, None) if h else (v, v) for v, h in zip(values, hidden)]
    res = linprog(c, A_eq=a, b_eq=np.zeros(len(a)), bounds=bounds, method="highs")
    if res.status == 3:
        return float("inf")
    if res.status != 0:
        raise DisclosureError(f"the protected counts are inconsistent with their sums (linprog: {res.message})")
    return -res.fun


def protect(counts: pd.Series, equations: list[tuple[str, list[str]]], k: int | None,
            published: set[str] | None = None, keep: set[str] = frozenset(),
            needs: dict[str, float] | None = None, not_people: set[str] = frozenset()) -> pd.DataFrame:
    """Primary and complementary suppression of counts of people tied by sums.

    ``counts``: cell name -> count. ``equations``: (total, [parts]) meaning total = sum(parts).
    ``published``: the cells an output shows (default all); the others are hidden anyway, but a
    small one among them must not be computable either. ``keep``: cells hidden only when nothing
    else protects a small cell (the modelled N, say).

    A cell is *sensitive* when it counts 1 to k - 1 people, or when ``needs`` names it; a
    sensitive cell is protected when the largest value it can take (:func:`largest`) reaches its
    need: k by default (it cannot be shown to be small); ``needs`` sets others (1 for a zero that
    must not be known to be zero; value + 1 for a count that must merely not be computable).
    ``not_people``: cells that count something else (clinics), sensitive only if ``needs`` says.

    Returns one row per cell: ``count``, ``published``, ``sensitive``, ``hidden`` and ``shown``
    (the count, NaN when hidden). While a sensitive cell is unprotected, the cheapest shown cell
    whose hiding protects it is hidden too: the smallest non-zero count not in ``keep`` first.
    """
    cells = list(counts.index)
    values = counts.astype(float).to_numpy()
    pub = np.array([published is None or c in published for c in cells])
    needs = needs or {}
    if k is None:
        sensitive = np.zeros(len(cells), dtype=bool)
    else:
        by_value = (values >= 1) & (values < k) & np.array([c not in not_people for c in cells])
        sensitive = by_value | np.array([c in needs for c in cells])
    need = np.array([needs.get(c, k if k is not None else 0) for c in cells], dtype=float)
    hidden = sensitive | ~pub
    a = _matrix(cells, equations)
    keep_mask = np.array([c in keep for c in cells])
    for i in np.flatnonzero(sensitive):      # hiding more never exposes a protected cell: one pass
        while largest(a, values, hidden, i) < need[i]:
            choice = _complement(a, values, hidden, keep_mask, cells, i, need[i])
            if choice is None:   # no cell or pair protects it: hide the nearest, cheapest, and look again
                choice = [_cheapest(a, values, hidden, keep_mask, cells, i)]
            hidden[choice] = True
    return pd.DataFrame({"count": values, "published": pub, "sensitive": sensitive, "hidden": hidden,
                         "shown": np.where(hidden, np.nan, values)}, index=pd.Index(cells, name="cell"))


def _reachable(a: np.ndarray, hidden: np.ndarray, target: int) -> dict[int, int]:
    """Shown cells in the sums that reach ``target`` through hidden cells (the ones whose hiding
    can change what is known of it), each with its distance: 1 for a cell in a sum with the
    target, 2 for one in a sum with a hidden cell of those sums, and so on."""
    distance, rows, frontier, d = {target: 0}, set(), [target], 0
    while frontier:
        d += 1
        nxt = []
        for c in frontier:
            for r in np.flatnonzero(a[:, c] != 0):
                if r in rows:
                    continue
                rows.add(r)
                for other in np.flatnonzero(a[r] != 0):
                    if other not in distance:
                        distance[other] = d
                        if hidden[other]:
                            nxt.append(other)
        frontier = nxt
    return {c: dist for c, dist in distance.items() if not hidden[c]}


def _cheapest(a, values, hidden, keep_mask, cells, target: int) -> int:
    """The nearest shown cell that reaches ``target`` through sums, then non-``keep``, non-zero,
    the smallest count."""
    near = _reachable(a, hidden, target)
    if not near:
        raise DisclosureError(f"cell {cells[target]!r} can be shown to be small from its totals and no shown "
                              "cell is left to hide")
    return min(near, key=lambda i: (near[i], keep_mask[i], values[i] == 0, values[i], cells[i]))


PAIR_CANDIDATES = 12      # the cheapest cells tried in pairs when no single cell protects a count


def _complement(a, values, hidden, keep_mask, cells, target: int, need: float) -> list[int] | None:
    """The nearest, then cheapest, shown cell, or else pair of cells, whose hiding lets cell
    ``target`` be as large as ``need``, among the cells that reach it through sums
    (:func:`_reachable`); None if neither does (a rectangle across a two-way table needs a pair)."""
    import itertools

    near = _reachable(a, hidden, target)
    ranked = sorted(near, key=lambda i: (near[i], keep_mask[i], values[i] == 0, values[i], cells[i]))

    def protects(choice) -> bool:
        trial = hidden.copy()
        trial[list(choice)] = True
        return largest(a, values, trial, target) >= need

    single = next(([i] for i in ranked if protects([i])), None)
    if single is not None:
        return single
    return next((list(p) for p in itertools.combinations(ranked[:PAIR_CANDIDATES], 2) if protects(p)), None)


def hidden_statistics(sizes: dict[str, int], nested: list[tuple[str, str]], k: int | None) -> set[str]:
    """Groups whose means, SDs and percentages may not be shown.

    ``sizes``: group -> people. ``nested``: (group, subgroup) pairs whose statistics are both
    published. A group under k is hidden; so is a group whose subgroup leaves 1 to k - 1 people
    out (their mean would follow by difference).
    """
    if k is None:
        return set()
    hidden = {g for g, n in sizes.items() if n < k}
    changed = True
    while changed:
        changed = False
        for big, small in nested:
            if big in hidden or small in hidden:
                continue
            if 1 <= sizes[big] - sizes[small] < k:
                hidden.add(big)
                changed = True
    return hidden


# -- the cohort's counts: one system for the flow, the quadrants, Table 1 and numbers.json --------

def _cell(group: str, variable: str) -> str:
    return f"{group}|{variable}"


def cohort_counts(clinicians: pd.DataFrame, analysis: pd.DataFrame, patient_surveys: int,
                  k: int | None, clinics: int | None = None) -> pd.DataFrame:
    """Every count of people the outputs report, protected together.

    Groups: ``surveyed`` (every clinician in the extract), ``excluded`` and each exclusion
    reason (``excluded: <reason>``), ``all modelled`` and the four quadrants. Variables:
    ``clinicians``, ``patient_surveys`` (surveyed, excluded and modelled only) and each binary
    characteristic of Table 1 with its never-shown complement (``not women``, ...). The sums
    tie surveyed = excluded + modelled, excluded = its reasons, modelled = its quadrants, and
    clinicians = characteristic + its complement in every group.

    ``patient_surveys``: rows of the patient table (surveys in the extract); ``clinics``: clinics
    in the extract (surveyed = excluded + modelled clinics, the modelled ones those of the
    analysis table; the surveyed count is kept shown as long as possible). Every count of a group
    of 1 to k - 1 clinicians is sensitive, a zero included. Returns :func:`protect`'s table with
    ``group`` and ``variable`` columns; the modelled N is hidden only as a last resort.
    """
    binary = binary_flags(clinicians)
    surveys = clinicians["n_patient_surveys"].fillna(0).astype(int)
    members: dict[str, pd.Index] = {SURVEYED: clinicians.index,
                                    EXCLUDED: clinicians.index[~clinicians["included"]]}
    reasons = sorted(clinicians.loc[~clinicians["included"], "exclusion_reason"].unique())
    for r in reasons:
        members[f"{EXCLUDED}: {r}"] = clinicians.index[clinicians["exclusion_reason"] == r]
    modelled = clinicians.index[clinicians["included"]]
    members[MODELLED] = modelled
    quadrant = clinicians["clinician_id"].map(analysis.set_index("clinician_id")["quadrant"])
    for q in QUADRANTS:
        members[q] = clinicians.index[quadrant == q]

    counts, published = {}, set()
    for group, idx in members.items():
        counts[_cell(group, "clinicians")] = len(idx)
        published.add(_cell(group, "clinicians"))
        for name, flag in binary.items():
            yes = int(flag.loc[idx].sum())
            counts[_cell(group, name)] = yes
            counts[_cell(group, f"not {name}")] = len(idx) - yes
            if not group.startswith(EXCLUDED):
                published.add(_cell(group, name))
        if group in (SURVEYED, EXCLUDED, MODELLED) or group.startswith(EXCLUDED):
            counts[_cell(group, "patient_surveys")] = int(surveys.loc[idx].sum())
            published.add(_cell(group, "patient_surveys"))
    # surveys in the extract = those without a score (never shown) + scored ones by clinician group
    scored = counts[_cell(SURVEYED, "patient_surveys")]
    counts[_cell(SURVEYED, "patient_surveys")] = int(patient_surveys)
    counts[_cell("unscored", "patient_surveys")] = int(patient_surveys) - scored

    variables = ["clinicians"] + [v for name in binary for v in (name, f"not {name}")]
    equations = [(_cell(SURVEYED, "patient_surveys"),
                  [_cell("unscored", "patient_surveys"), _cell(EXCLUDED, "patient_surveys"),
                   _cell(MODELLED, "patient_surveys")])]
    for v in variables + ["patient_surveys"]:
        if v != "patient_surveys":
            equations.append((_cell(SURVEYED, v), [_cell(EXCLUDED, v), _cell(MODELLED, v)]))
        if reasons:
            equations.append((_cell(EXCLUDED, v), [_cell(f"{EXCLUDED}: {r}", v) for r in reasons]))
    for v in variables:
        equations.append((_cell(MODELLED, v), [_cell(q, v) for q in QUADRANTS]))
    for group in members:
        for name in binary:
            equations.append((_cell(group, "clinicians"), [_cell(group, name), _cell(group, f"not {name}")]))

    if clinics is not None:
        modelled_clinics = int(analysis["clinic_id"].nunique())
        counts.update({_cell(SURVEYED, "clinics"): int(clinics), _cell(MODELLED, "clinics"): modelled_clinics,
                       _cell(EXCLUDED, "clinics"): int(clinics) - modelled_clinics})
        published |= {_cell(SURVEYED, "clinics"), _cell(MODELLED, "clinics")}
        equations.append((_cell(SURVEYED, "clinics"), [_cell(EXCLUDED, "clinics"), _cell(MODELLED, "clinics")]))
    small = {g for g, idx in members.items() if k is not None and 1 <= len(idx) < k}
    needs = {c: 1.0 for c, v in counts.items()                # a small group's zero: not known to be 0
             if v == 0 and c.split("|")[0] in small and not c.endswith("|clinics")}
    excluded_clinics = counts.get(_cell(EXCLUDED, "clinics"), 0)
    if k is not None and 1 <= excluded_clinics < k:          # clinics are not people: not computable is enough
        needs[_cell(EXCLUDED, "clinics")] = excluded_clinics + 1.0
    table = protect(pd.Series(counts), equations, k, published,
                    keep={_cell(MODELLED, "clinicians"), _cell(MODELLED, "patient_surveys"), _cell(SURVEYED, "clinics")},
                    needs=needs, not_people={c for c in counts if c.endswith("|clinics")})
    parts = table.index.str.split("|", n=1)
    return table.assign(group=[p[0] for p in parts], variable=[p[1] for p in parts]).reset_index()


def shown(counts: pd.DataFrame, group: str, variable: str = "clinicians"):
    """The shareable value of one cell of :func:`cohort_counts`: an int, or :data:`HIDDEN`."""
    row = counts[(counts["group"] == group) & (counts["variable"] == variable)]
    if row.empty:
        raise KeyError(f"no count for {group} / {variable}")
    value = row["shown"].iloc[0]
    return HIDDEN if pd.isna(value) else int(value)


def by_group(counts: pd.DataFrame, prefix: str, variable: str = "clinicians") -> pd.Series:
    """Shareable values (int or :data:`HIDDEN`) of one variable for the groups whose name starts
    with ``prefix`` (``"excluded: "`` gives the exclusion reasons)."""
    rows = counts[counts["group"].str.startswith(prefix) & (counts["variable"] == variable)]
    return pd.Series({g: shown(counts, g, variable) for g in rows["group"]}, name=variable, dtype=object)


def cohort_numbers(counts: pd.DataFrame) -> dict:
    """The cohort's counts for ``numbers.json`` (each an int or :data:`HIDDEN`): the extract's
    clinicians and patient surveys, excluded and modelled clinicians, the quadrants, high-high."""
    hh = shown(counts, QUADRANTS[0])
    modelled = shown(counts, MODELLED)
    pct = HIDDEN if HIDDEN in (hh, modelled) else 100.0 * hh / modelled
    clinics = ({"cohort.modelled_clinics": shown(counts, MODELLED, "clinics")}
               if (counts["variable"] == "clinics").any() else {})
    return {"input.clinicians": shown(counts, SURVEYED), "input.patients": shown(counts, SURVEYED, "patient_surveys"),
            "cohort.excluded": shown(counts, EXCLUDED), "cohort.modelled": modelled, **clinics,
            **{f"quadrant.{q.replace(' ', '')}": shown(counts, q) for q in QUADRANTS},
            "cohort.n_high_high": hh, "cohort.pct_high_high": pct}


def hide_small_parts(df: pd.DataFrame, part: str, whole: str, k: int | None,
                     statistics: list[str] = ()) -> pd.DataFrame:
    """Counts in column ``part`` hidden (NaN) where the part, or the rest of column ``whole``,
    holds 1 to k - 1 people; ``statistics`` columns hidden where the part is under k."""
    if k is None:
        return df
    small = df[part].between(1, k - 1) | (df[whole] - df[part]).between(1, k - 1)
    hidden = df[part].mask(small)
    out = df.assign(**{part: hidden.astype("Int64") if pd.api.types.is_integer_dtype(df[part]) else hidden})
    for col in statistics:
        out[col] = out[col].mask(df[part] < k)
    return out


def hide_small_events(fits: pd.DataFrame, counts: pd.DataFrame, k: int | None) -> pd.DataFrame:
    """Model tables' ``n_events``, ``n`` and ``n_clinics`` made shareable: events hidden (NaN) when
    the events or the non-events number 1 to k - 1 (:func:`hide_small_parts`) or equal a high-high
    count :func:`cohort_counts` hid; ``n`` and ``n_clinics`` hidden when they equal a modelled N or
    modelled clinic count it hid."""
    if k is None or "n_events" not in fits:
        return fits
    cell = counts.set_index("cell")
    hh, modelled = cell.loc[_cell(QUADRANTS[0], "clinicians")], cell.loc[_cell(MODELLED, "clinicians")]
    out = hide_small_parts(fits, "n_events", "n", k)
    out["n_events"] = out["n_events"].mask(bool(hh["hidden"]) & (fits["n_events"] == hh["count"]))
    out["n"] = out["n"].mask(bool(modelled["hidden"]) & (fits["n"] == modelled["count"]))
    clinics = _cell(MODELLED, "clinics")
    if clinics in cell.index and "n_clinics" in out:
        out["n_clinics"] = out["n_clinics"].mask(bool(cell.loc[clinics, "hidden"])
                                                 & (fits["n_clinics"] == cell.loc[clinics, "count"]))
    return out


def histogram(values: pd.Series, bins: np.ndarray, k: int | None, split: float | None = None) -> pd.DataFrame:
    """Counts of ``values`` in ``bins`` (edges, scale units) that may be shown: bins of 1 to k - 1
    people hidden, and enough others that the total cannot give them back, nor the totals below
    and above ``split`` when it is a bin edge (a cut-off: the quadrant counts give those totals).
    Columns: left, right, count, shown (NaN when hidden)."""
    n, edges = np.histogram(values.dropna(), bins=bins)
    names = [f"bin{i}" for i in range(len(n))]
    cells = pd.Series(list(n) + [int(n.sum())], index=names + ["total"])
    equations = [("total", names)]
    if split is not None and np.isclose(edges[1:-1], split).any():
        cut = int(np.flatnonzero(np.isclose(edges, split))[0])
        cells = pd.concat([cells, pd.Series({"below": int(n[:cut].sum()), "above": int(n[cut:].sum())})])
        equations += [("below", names[:cut]), ("above", names[cut:]), ("total", ["below", "above"])]
    table = protect(cells, equations, k, keep={"total"})
    return pd.DataFrame({"left": edges[:-1], "right": edges[1:], "count": n,
                         "shown": table.loc[names, "shown"].to_numpy()})


def statistics_groups(counts: pd.DataFrame, k: int | None) -> set[str]:
    """Groups of :func:`cohort_counts` whose means, SDs and percentages are hidden: under k,
    a count hidden (a percentage would give it back), or differencing (:func:`hidden_statistics`)."""
    sizes = {g: int(c) for g, c in counts.loc[counts["variable"] == "clinicians", ["group", "count"]].to_numpy()}
    nested = [(SURVEYED, MODELLED)] + [(MODELLED, q) for q in QUADRANTS]
    out = hidden_statistics({g: sizes[g] for g in [SURVEYED, MODELLED] + QUADRANTS}, nested, k)
    hidden_n = counts[(counts["variable"] == "clinicians") & counts["hidden"]]["group"]
    return out | set(hidden_n)


def outcome_group_means(analysis: pd.DataFrame, measures: list[str], k: int | None,
                        counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean of each measure (scale units) in high-high clinicians and all others, with ``n``.

    Both groups' means are hidden (NaN) when either has 1 to k - 1 people: with the overall mean
    shown in Table 1, one group's mean and the sizes would give the other's back. With ``counts``
    (:func:`cohort_counts`), ``n`` is what those allow: :data:`HIDDEN` where the high-high count,
    or the modelled N it is taken from, was hidden.
    """
    group = np.where(analysis["high_high"] == 1, "high-high", "all others")
    means = analysis.groupby(group)[measures].mean().reindex(["high-high", "all others"])
    sizes = pd.Series(group).value_counts().reindex(means.index).fillna(0).astype(int)
    if k is not None and sizes.between(1, k - 1).any():
        means.loc[:, :] = np.nan
    if k is not None and counts is not None:
        hh, modelled = shown(counts, QUADRANTS[0]), shown(counts, MODELLED)
        others = HIDDEN if HIDDEN in (hh, modelled) else modelled - hh
        return means.assign(n=pd.Series([hh, others], index=means.index, dtype=object))
    return means.assign(n=sizes)


def quadrant_counts(counts: pd.DataFrame) -> pd.Series:
    """The four quadrants' clinician counts (int or :data:`HIDDEN`), in :data:`QUADRANTS` order."""
    return by_group(counts, "").loc[QUADRANTS]


def marked(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """``frame`` with hidden (NaN) values written as :data:`HIDDEN` (for ``numbers.json`` and
    shown tables); columns without a hidden value keep their type."""
    if isinstance(frame, pd.Series):
        return frame if frame.notna().all() else frame.astype(object).where(frame.notna(), HIDDEN)
    return frame.apply(marked)

"""Scoring the survey scales from item-level responses, as the codebook defines them.

* Reverse-worded items are reversed as ``min + max - x`` on their codebook range.
* A scale score is the mean of the answered items when at least ``min_answered`` items
  (``data/scales.csv``) are answered, else missing.
* ``patient_trust`` is rescaled from its 1-5 item mean to 0-100: ``(mean - 1) / 4 * 100``.
* Cronbach's alpha uses complete cases on the (reversed) items.
* ICC(1) of a score between groups (clinics) is a one-way ANOVA estimate (:func:`icc1`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import codebook


def reversed_items(df: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Item responses of ``scale`` with reverse-worded items reversed (same units as the items)."""
    items = codebook.scale_items(scale)
    return pd.DataFrame(_reversed(df, items), index=df.index, columns=list(items["variable"]))


def _reversed(df: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """The item responses as a float array (missing as NaN), reverse-worded columns reversed."""
    return _flip(df[list(items["variable"])].to_numpy(dtype=float, na_value=np.nan), items)


def _flip(x: np.ndarray, items: pd.DataFrame) -> np.ndarray:
    """Reverse the reverse-worded columns of ``x`` (one column per row of ``items``), in place."""
    flip = items["reverse"].to_numpy(bool)
    if flip.any():
        x[:, flip] = (items["min"] + items["max"]).to_numpy(float)[flip] - x[:, flip]
    return x


def score(df: pd.DataFrame, scale: str, min_answered: int | None = None) -> pd.Series:
    """Scale score per row: mean of answered (reversed) items, or NaN if too few answered.

    Units: the item range (1-4 or 1-5), except ``patient_trust`` which is 0-100. Items are whole
    numbers (the codebook's ``integer`` type), so their sums are exact in any order.
    """
    return score_all(df, [scale], {} if min_answered is None else {scale: min_answered})[scale]


def score_all(df: pd.DataFrame, scales: list[str], min_answered: dict[str, int] | None = None) -> pd.DataFrame:
    """Scores of several scales, one column each (``min_answered`` overrides data/scales.csv per
    scale); the item columns of all of them are read from ``df`` at once."""
    spec = codebook.load_scales()
    items = {s: codebook.scale_items(s) for s in scales}
    x = df[[v for s in scales for v in items[s]["variable"]]].to_numpy(dtype=float, na_value=np.nan)
    out, at = {}, 0
    for s in scales:
        width = len(items[s])
        need = int((min_answered or {}).get(s, spec.loc[s, "min_answered"]))
        out[s] = _mean_answered(_flip(x[:, at:at + width], items[s]), need)
        at += width
        if s == "patient_trust":
            lo, hi = items[s][["min", "max"]].iloc[0]
            out[s] = (out[s] - lo) / (hi - lo) * 100.0
    return pd.DataFrame(out, index=df.index, columns=list(scales))


def _mean_answered(x: np.ndarray, need: int) -> np.ndarray:
    """Per row: the mean of the answered (non-NaN) columns of ``x``, NaN with fewer than ``need``."""
    missing = np.isnan(x)
    answered = (~missing).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):    # rows with no answer: NaN, as below
        mean = np.where(missing, 0.0, x).sum(axis=1) / answered
    return np.where(answered >= need, mean, np.nan)


def check_min_answered(min_answered: dict[str, int] | None) -> dict[str, int]:
    """Per-scale overrides of the minimum answered items, checked against data/scales.csv:
    known scales, whole numbers from 1 to the scale's number of items."""
    spec = codebook.load_scales()
    out = {}
    for scale, k in (min_answered or {}).items():
        if scale not in spec.index:
            raise ValueError(f"min_answered_items names an unknown scale {scale!r}; scales: {list(spec.index)}")
        n_items = len(codebook.scale_items(scale))
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n_items:
            raise ValueError(f"min_answered_items.{scale} must be a whole number from 1 to {n_items}, not {k!r}")
        out[scale] = k
    return out


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's alpha of a block of item columns (complete cases).

    alpha = k / (k - 1) * (1 - sum of item variances / variance of the total score).
    """
    x = items.dropna().to_numpy(dtype=float)
    k = x.shape[1]
    if k < 2 or len(x) < 3:
        return float("nan")
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - item_var / total_var))


def reliability_table(df: pd.DataFrame, scales: list[str]) -> pd.DataFrame:
    """One row per multi-item scale: items, complete cases, alpha, mean and SD of the score."""
    rows = []
    for s in scales:
        x = reversed_items(df, s)
        if x.shape[1] < 2:
            continue
        sc = score(df, s)
        rows.append({"scale": s, "label": codebook.scale_label(s, short=False), "items": x.shape[1],
                     "n_complete": int(x.dropna().shape[0]), "alpha": cronbach_alpha(x),
                     "mean": float(sc.mean()), "sd": float(sc.std(ddof=1))})
    return pd.DataFrame(rows)


def icc1(values: pd.Series, groups: pd.Series) -> float:
    """ICC(1) from a one-way ANOVA: share of variance between groups (unbalanced groups).

    ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW), n0 the adjusted mean group size.
    """
    d = pd.DataFrame({"x": values.to_numpy(), "g": groups.to_numpy()}).dropna()
    k, n = d["g"].nunique(), len(d)
    sizes = d.groupby("g").size()
    grand = d["x"].mean()
    means = d.groupby("g")["x"].transform("mean")
    msb = (sizes * (d.groupby("g")["x"].mean() - grand) ** 2).sum() / (k - 1)
    msw = ((d["x"] - means) ** 2).sum() / (n - k)
    n0 = (n - (sizes ** 2).sum() / n) / (k - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))

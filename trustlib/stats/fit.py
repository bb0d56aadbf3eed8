"""What an estimator accepts and returns: the one check of its input (:func:`check`), shared by
every estimator the registry holds (:mod:`trustlib.stats.estimators`) and by the fitting modules
themselves (:mod:`trustlib.stats.glmm`, :mod:`trustlib.stats.gee`), and the :class:`Fit` it returns. An
estimator's module imports both from here, below the registry, so the registry can import it.

A model fitted to the wrong rows, a pooled "missing" cluster, an outcome with one value or a
column that cannot be estimated gives numbers that look like results. :func:`check` refuses
each such input with a :class:`FitInputError` (a ``ValueError``) that names the problem:

* at least one observation, and ``X`` (two-dimensional), ``y`` and ``groups`` one row each;
* ``X`` finite; no two columns of ``X`` identical; no constant column beside one intercept;
* ``y`` 0 or 1, with both values present;
* no missing (None or NaN) cluster ID, and at least two clusters;
* ``names``, if given, one per column of ``X`` (messages then name columns by it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Fit:
    """One fit, named as statsmodels names it. ``params``, ``bse``: log-odds coefficients and
    their SEs per unit of each column of ``X``; ``llf``: log-likelihood (NaN without one);
    ``clinic_var``: random-intercept variance on the log-odds scale (NaN for marginal models)."""

    params: np.ndarray
    cov: np.ndarray
    llf: float
    converged: bool
    nobs: int
    n_groups: int
    clinic_var: float = float("nan")
    notes: list[str] = field(default_factory=list)

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def cov_params(self) -> np.ndarray:
        return self.cov


class FitInputError(ValueError):
    """Input an estimator cannot be fitted to; the message says what is wrong."""


def _column(names, j: int) -> str:
    return f"column {names[j]!r}" if names is not None else f"column {j} of X"


def check(X, y, groups, names=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X``, ``y`` and ``groups`` as arrays (float, float, object), or a :class:`FitInputError`
    naming the first problem found (see the module docstring for the rules)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    groups = np.asarray(groups, dtype=object)
    if X.ndim != 2:
        raise FitInputError(f"X must be a two-dimensional array (observations x columns), not {X.ndim}-dimensional")
    if y.ndim != 1 or groups.ndim != 1:
        raise FitInputError("y and groups must be one-dimensional, one value per observation")
    if not (len(X) == len(y) == len(groups)):
        raise FitInputError(f"X, y and groups must have one row per observation: {len(X)}, {len(y)} and "
                            f"{len(groups)} rows")
    if len(y) == 0:
        raise FitInputError("no observations (n = 0): nothing to fit")
    if names is not None and len(names) != X.shape[1]:
        raise FitInputError(f"names has {len(names)} entries for the {X.shape[1]} columns of X")
    bad = ~np.isfinite(X)
    if bad.any():
        cols = sorted(set(np.nonzero(bad)[1].tolist()))
        raise FitInputError(f"X holds {int(bad.sum())} missing or infinite value(s), in "
                            + ", ".join(_column(names, j) for j in cols[:5]))
    outside = (y != 0.0) & (y != 1.0)
    if outside.any():
        shown = sorted({float(v) for v in y[outside] if np.isfinite(v)})[:5]
        what = f"values {shown}" if shown else "missing values"
        raise FitInputError(f"y must be 0 or 1; it holds {what} in {int(outside.sum())} row(s)")
    if y.min() == y.max():
        raise FitInputError(f"y is {int(y[0])} for every observation: a logistic model needs both outcomes")
    missing = pd.isna(groups)
    if missing.any():
        raise FitInputError(f"groups has {int(missing.sum())} missing cluster ID(s): drop those rows or give "
                            "them a cluster")
    n_clusters = len(pd.unique(groups))
    if n_clusters < 2:
        raise FitInputError("a clustered model needs at least two clusters; groups has one")
    constant = [j for j in range(X.shape[1]) if np.all(X[:, j] == X[0, j])]
    intercept = next((j for j in constant if X[0, j] == 1.0), None)
    others = [j for j in constant if j != intercept] if intercept is not None else constant[1:]
    if others:
        j = others[0]
        raise FitInputError(f"{_column(names, j)} is constant ({X[0, j]:g} in every row): its coefficient "
                            "cannot be estimated beside the intercept")
    seen = {}
    for dup, column in enumerate(np.ascontiguousarray(X.T) + 0.0):      # + 0.0: -0.0 as 0.0
        twin = seen.setdefault(column.tobytes(), dup)
        if twin != dup:
            raise FitInputError(f"{_column(names, twin)} and {_column(names, dup)} are identical: "
                                "their coefficients cannot be told apart")
    return X, y, groups

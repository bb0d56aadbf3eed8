"""The estimator registry: every model the analysis can fit, declared once.

Each :class:`Estimator` has a ``name`` (what the ``estimators:`` parameter and the tables use),
a ``label`` for readers, its ``target`` (``conditional``: a clinic-specific odds ratio, the
paper's; ``marginal``: a population-averaged one), whether it has a likelihood, and
``fit(X, y, groups, nagq=...)`` returning one :class:`Fit`. ``X`` holds the intercept column;
``y`` is 0/1; coefficients are log odds per unit of each column. Every estimator's input passes
one shared check first (:mod:`trustlib.stats.fit`): input no model can be fitted to is a
``ValueError`` naming the problem, never a number.

=================  ============  ======================================================
``glmm``           conditional   random clinic intercept, maximum likelihood by adaptive
                                 Gauss-Hermite quadrature (:mod:`trustlib.stats.glmm`)
``gee``            marginal      exchangeable GEE, robust (sandwich) SE (:mod:`trustlib.stats.gee`)
``gee_md``         marginal      the same GEE with the Mancl-DeRouen bias-reduced sandwich
``logit_cluster``  marginal      logistic regression, clinic-clustered SE with Stata's
                                 small-sample factor (statsmodels; R ``sandwich::vcovCL``
                                 ``type = "HC1"``)
=================  ============  ======================================================

Adding an estimator: its module, an import and one line in :data:`REGISTRY`, its name in the
``estimators:`` parameter, and a test (see CONTRIBUTING.md). The registry is declared here and
read-only: every process that imports this module (a notebook's kernel, a joblib or Dask worker)
sees the same estimators, and nothing adds one at run time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from .fit import Fit  # noqa: F401 (what every estimator returns; estimators.Fit)


@dataclass(frozen=True)
class Estimator:
    """A registered estimator. :meth:`fit` checks the input (:func:`trustlib.stats.fit.check`: the
    same check for every estimator, a ``ValueError`` naming the problem) before ``fitter``
    sees it."""

    name: str
    label: str
    target: str                   # "conditional" or "marginal"
    likelihood: bool
    fitter: Callable[..., Fit]    # fitter(X, y, groups, nagq=...) -> Fit, given checked arrays

    def __post_init__(self):
        if self.target not in ("conditional", "marginal"):
            raise ValueError(f"target must be 'conditional' or 'marginal', not {self.target!r}")

    def fit(self, X, y, groups, nagq: int = 15, names: list[str] | None = None) -> Fit:
        """Check the input (``names``, one per column of ``X``, name columns in its messages), then fit."""
        from .fit import check

        check(X, y, groups, names)
        return self.fitter(X, y, groups, nagq=nagq)


def _glmm(X, y, groups, nagq: int) -> Fit:
    from .glmm import fit_checked

    r = fit_checked(X, y, groups, nagq=nagq, separated=False)
    return Fit(r.params, r.cov, r.llf, r.converged, r.nobs, r.n_groups, r.clinic_var, list(r.notes))


GEE_FITS: dict[str, object] = {}   # the last few GEE fits, keyed by the digest of their data (see _gee_fit)
GEE_FITS_KEPT = 4


def _gee_fit(X, y, groups):
    """One exchangeable GEE fit per data set: ``gee`` and ``gee_md`` are the same fit with two
    sandwiches, and every caller fits them one after the other on the same data, so the fit is
    kept under the SHA-256 of ``X``, ``y`` and the cluster labels (the last :data:`GEE_FITS_KEPT`
    of them) and computed once."""
    import hashlib

    from .gee import fit_checked

    X, y, groups = np.ascontiguousarray(X, float), np.ascontiguousarray(y, float), np.asarray(groups)
    parts = [str(X.shape).encode(), groups.dtype.str.encode(), X.tobytes(), y.tobytes(), groups.astype(str).tobytes()]
    key = hashlib.sha256(b"|".join(parts)).hexdigest()     # the labels' type too: 10 sorts after 2, "10" before
    if key not in GEE_FITS:
        if len(GEE_FITS) >= GEE_FITS_KEPT:
            GEE_FITS.pop(next(iter(GEE_FITS)))
        GEE_FITS[key] = fit_checked(X, y, groups)
    return GEE_FITS[key]


def _gee(X, y, groups, nagq: int, bias_reduced: bool = False) -> Fit:
    r = _gee_fit(X, y, groups)
    return Fit(r.params.copy(), (r.cov_robust_bc if bias_reduced else r.cov_robust).copy(), float("nan"), r.converged,
               r.nobs, r.n_groups, notes=list(r.notes))


def _gee_md(X, y, groups, nagq: int) -> Fit:
    return _gee(X, y, groups, nagq, bias_reduced=True)


def _logit_cluster(X, y, groups, nagq: int) -> Fit:
    import pandas as pd
    from statsmodels.discrete.discrete_model import Logit

    codes = pd.factorize(groups)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": codes}, maxiter=100)
    notes = [str(w.message).splitlines()[0] for w in caught if "converge" in str(w.message).lower()]
    converged = bool(r.mle_retvals.get("converged", True)) and not notes
    return Fit(np.asarray(r.params), np.asarray(r.cov_params()), float(r.llf), converged, len(y),
               int(codes.max()) + 1, notes=notes)


REGISTRY: Mapping[str, Estimator] = MappingProxyType({e.name: e for e in [
    Estimator("glmm", "two-level logistic (GLMM)", "conditional", True, _glmm),
    Estimator("gee", "GEE, exchangeable", "marginal", False, _gee),
    Estimator("logit_cluster", "logistic, clustered SE", "marginal", True, _logit_cluster),
    Estimator("gee_md", "GEE, exchangeable, bias-reduced SE", "marginal", False, _gee_md),
]})


def get(name: str) -> Estimator:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; choose from {list(REGISTRY)}") from None


def label(name: str) -> str:
    return REGISTRY[name].label if name in REGISTRY else name

"""Logistic GEE with an exchangeable working correlation, vectorised across clusters.

Model: ``E[y_ij] = expit(x_ij' beta)``, working covariance ``phi A_i^{1/2} R_i A_i^{1/2}`` with
``A_i = diag(mu (1 - mu))`` and ``R_i = (1 - rho) I + rho J``. ``R_i``'s inverse is
``(I - c_i J) / (1 - rho)`` with ``c_i = rho / (1 - rho + n_i rho)``, so every sum over clusters
the estimating equations need is a within-cluster sum (``np.add.reduceat``): no per-cluster
loop and no per-cluster matrix. The bias-reduced sandwich needs ``(I - H_i)^{-1}`` per cluster;
those are solved in batches of clusters of equal size.

Estimation alternates a Fisher-scoring step for ``beta`` given ``rho`` with the moment
estimators of ``phi`` and ``rho`` given ``beta`` (without degrees-of-freedom corrections, as R
``geepack::geeglm``; statsmodels' ``ddof_scale=0``), from the logistic-regression estimate and
``rho = 0``, until the step in ``beta`` is below ``tol``. Standard errors: the robust (sandwich)
covariance, and Mancl and DeRouen's (2001) bias-reduced sandwich, which corrects the robust
SE's downward bias with few clusters (statsmodels' ``cov_type="bias_reduced"``).

Checked against geepack and statsmodels (tests/test_gee.py, tests/test_reference.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import special


@dataclass
class GEEResult:
    """A GEE fit, named as statsmodels names it: ``params`` (log odds per unit of each column of
    ``X``), ``cov_robust``, ``cov_robust_bc`` (Mancl-DeRouen), ``cov_naive`` (model-based, the
    binomial scale fixed at 1 as statsmodels fixes it), ``scale`` (phi, the moment estimate that
    enters ``rho``), ``dep_params`` (rho), ``converged``, ``n_iter``, ``nobs``, ``n_groups``, ``notes``.

    ``cov_robust_bc`` is computed when first asked for (one batched solve per cluster size, a fifth
    of a fit's time; ``gee`` alone never asks), from ``bias_reduced``; NaN where it cannot be."""

    params: np.ndarray
    cov_robust: np.ndarray
    cov_naive: np.ndarray
    scale: float
    dep_params: float
    converged: bool
    n_iter: int
    nobs: int
    n_groups: int
    notes: list[str] = field(default_factory=list)
    bias_reduced: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def cov_robust_bc(self) -> np.ndarray:
        p = len(self.params)
        if self.bias_reduced is None:
            return np.full((p, p), np.nan)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                return self.bias_reduced()
            except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError):
                return np.full((p, p), np.nan)


class _Clusters:
    """The data sorted by cluster, with within-cluster sums."""

    def __init__(self, X, y, groups):
        _, g = np.unique(groups, return_inverse=True)
        order = np.argsort(g, kind="stable")
        self.X, self.y, self.g = X[order], y[order], g[order]
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.g) != 0])
        self.size = np.diff(np.r_[self.starts, len(self.g)]).astype(float)
        self.pairs = 0.5 * self.size * (self.size - 1)

    def sum(self, v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v, self.starts, axis=0)

    def parts(self, beta: np.ndarray):
        """Weighted design ``A^{1/2} X``, Pearson residuals, and their cluster sums."""
        mu = special.expit(self.X @ beta)
        root = np.sqrt(mu * (1 - mu))
        W = self.X * root[:, None]
        r = (self.y - mu) / root
        return mu, root, W, r, self.sum(W), self.sum(r)


def _logistic_start(X: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Ordinary logistic regression by Newton steps (the GEE's starting values)."""
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        mu = special.expit(X @ beta)
        step = np.linalg.solve((X * (mu * (1 - mu))[:, None]).T @ X, X.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    return beta


def _moments(c: _Clusters, r: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Scale ``phi`` and exchangeable correlation ``rho`` from Pearson residuals ``r`` (their
    cluster sums ``t``): ``phi = sum r^2 / N``, ``rho = sum_{j<k} r_j r_k / (phi * pairs)``."""
    ssr = c.sum(r * r)
    phi = float(ssr.sum() / len(r))
    pairs = c.pairs.sum()
    rho = float(((t * t - ssr) / 2).sum() / (phi * pairs)) if pairs > 0 else 0.0
    return phi, rho


def _bread_and_scores(c: _Clusters, W, r, s, t, rho):
    """``B = sum_i D_i' V_i^-1 D_i`` and each cluster's score ``U_i = D_i' V_i^-1 (y_i - mu_i)``
    (working covariance without phi, which cancels from the estimates and the sandwich)."""
    ci = rho / (1 - rho + c.size * rho)
    B = (W.T @ W - (s * ci[:, None]).T @ s) / (1 - rho)
    U = (c.sum(W * r[:, None]) - s * (ci * t)[:, None]) / (1 - rho)
    return B, U


def _bias_reduced_meat(c: _Clusters, beta, rho, Binv) -> np.ndarray:
    """Mancl-DeRouen: ``sum_i u_i u_i'`` with ``u_i = D_i' V_i^-1 (I - H_i)^-1 (y_i - mu_i)`` and
    ``H_i = D_i B^-1 D_i' V_i^-1``; clusters of equal size are solved together as one batch."""
    mu = special.expit(c.X @ beta)
    a = mu * (1 - mu)
    D = c.X * a[:, None]
    meat = np.zeros((c.X.shape[1], c.X.shape[1]))
    for n in np.unique(c.size).astype(int):
        first = c.starts[c.size == n]
        rows = first[:, None] + np.arange(n)[None, :]                      # clusters x n
        Dn, an, rn = D[rows], a[rows], (c.y - mu)[rows]                     # G x n x p, G x n
        cn = rho / (1 - rho + n * rho)
        inv_root = 1 / np.sqrt(an)
        Vinv = (inv_root[:, :, None] * inv_root[:, None, :]) * (np.eye(n) - cn)[None] / (1 - rho)
        H = Dn @ Binv @ Dn.transpose(0, 2, 1) @ Vinv
        adjusted = np.linalg.solve(np.eye(n)[None] - H, rn[:, :, None])
        u = (Dn.transpose(0, 2, 1) @ Vinv @ adjusted)[:, :, 0]
        meat += u.T @ u
    return meat


def _no_estimate(p: int, iterations: int, nobs: int, n_groups: int, notes: list[str]) -> GEEResult:
    """A result without estimates (NaN), ``converged=False``, with the notes saying why."""
    nan = np.full((p, p), np.nan)
    return GEEResult(params=np.full(p, np.nan), cov_robust=nan, cov_naive=nan, scale=np.nan, dep_params=np.nan,
                     converged=False, n_iter=iterations, nobs=nobs, n_groups=n_groups, notes=notes)


def fit_gee(X, y, groups, tol: float = 1e-10, maxiter: int = 100) -> GEEResult:
    """Fit the exchangeable logistic GEE of ``y`` (0/1) on ``X`` (with its intercept column)
    within ``groups``; see the module docstring. Never silently wrong: input no model can be
    fitted to raises a ValueError naming the problem (:func:`trustlib.stats.fit.check`); no
    convergence in ``maxiter`` steps, or a singular information matrix, give NaN estimates,
    ``converged=False`` and a note."""
    from .fit import check

    check(X, y, groups)                         # a clear ValueError for input no GEE can be fitted to
    return fit_checked(X, y, groups, tol, maxiter)


def fit_checked(X, y, groups, tol: float = 1e-10, maxiter: int = 100) -> GEEResult:
    """:func:`fit_gee` on input that passed :func:`trustlib.stats.fit.check` already (the
    registry's :meth:`trustlib.stats.estimators.Estimator.fit` checks every estimator's input
    once): the same fit, without checking twice."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    c = _Clusters(X, y, np.asarray(groups))
    notes: list[str] = []
    rho, converged, it = 0.0, False, 0
    # degenerate data (a cluster all 0 or all 1, separation) overflow the logit on the way; the
    # result is checked for finiteness below, so numpy's warnings would only be noise
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            beta = _logistic_start(c.X, c.y)
            _, _, W, r, s, t = c.parts(beta)        # the parts at the current beta, carried over
            for it in range(1, maxiter + 1):
                B, U = _bread_and_scores(c, W, r, s, t, rho)
                step = np.linalg.solve(B, U.sum(axis=0))
                beta = beta + step
                _, _, W, r, s, t = c.parts(beta)
                phi, new_rho = _moments(c, r, t)
                done = np.max(np.abs(step)) < tol and abs(new_rho - rho) < tol
                rho = new_rho
                if done:
                    converged = True
                    break
            else:
                notes.append(f"GEE did not converge in {maxiter} iterations")
            phi, _ = _moments(c, r, t)
            B, U = _bread_and_scores(c, W, r, s, t, rho)
            Binv = np.linalg.inv(B)
            cov_robust = Binv @ (U.T @ U) @ Binv
        except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as err:
            return _no_estimate(X.shape[1], it, len(y), len(c.starts), notes + [f"GEE failed: {err}"])
    if converged and not (np.all(np.isfinite(beta)) and np.all(np.isfinite(cov_robust))):
        converged = False
        notes.append("GEE estimates are not finite")
    if not converged:   # where an iteration that did not settle stopped is no estimate (and its digits,
        return _no_estimate(X.shape[1], it, len(y), len(c.starts), notes)   # even finiteness, move with BLAS)
    return GEEResult(params=beta, cov_robust=cov_robust, cov_naive=Binv, scale=phi, dep_params=rho,
                     converged=converged, n_iter=it, nobs=len(y), n_groups=len(c.starts), notes=notes,
                     bias_reduced=lambda: Binv @ _bias_reduced_meat(c, beta, rho, Binv) @ Binv)

"""Maximum-likelihood logistic regression with a random intercept per cluster.

Model: ``y_ij ~ Bernoulli(expit(x_ij' beta + sigma * b_j))`` with ``b_j ~ N(0, 1)``, so the
cluster (clinic) variance is ``sigma**2`` on the log-odds scale. The marginal likelihood of
each cluster is integrated with *adaptive* Gauss-Hermite quadrature (Pinheiro & Bates 1995;
the method of lme4's ``glmer(nAGQ = k)``): the ``k`` nodes are centred at the mode of each
cluster's integrand and scaled by its curvature, so ``k = 1`` is the Laplace approximation.

Writing ``sigma * b`` (rather than a log-variance) keeps the likelihood smooth at
``sigma = 0``, where the model reduces to ordinary logistic regression; ``sigma`` is bounded at
zero and a boundary estimate is flagged. Estimates maximize the quadrature likelihood with
L-BFGS-B; standard errors come from the observed information (the numerically
differentiated gradient at the optimum). statsmodels offers no maximum-likelihood GLMM, hence
this small module; it is tested against brute-force integration, ordinary logistic regression
and simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from statsmodels.tools.numdiff import approx_fprime

BOUNDARY_SIGMA = 1e-3


@dataclass
class GLMMResult:
    """Fit of :func:`fit_glmm`. ``params`` are log-odds coefficients then ``sigma``."""

    names: list[str]
    beta: np.ndarray
    sigma: float
    cov: np.ndarray              # covariance of beta (observed information)
    sigma_se: float
    loglik: float
    converged: bool
    n_obs: int
    n_groups: int
    nagq: int
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def clinic_var(self) -> float:
        return self.sigma ** 2

    def table(self, level: float = 0.95) -> pd.DataFrame:
        """Tidy table: term, beta, se, OR, 95% Wald CI on the OR scale, two-sided P."""
        z = stats.norm.ppf(0.5 + level / 2)
        se = self.se
        return pd.DataFrame({
            "term": self.names, "beta": self.beta, "se": se, "or": np.exp(self.beta),
            "ci_low": np.exp(self.beta - z * se), "ci_high": np.exp(self.beta + z * se),
            "p": 2 * stats.norm.sf(np.abs(self.beta / se)),
            "clinic_var": self.clinic_var, "loglik": self.loglik, "converged": self.converged,
        })


class _Problem:
    """Data of one fit, sorted by cluster, with the quadrature rule."""

    def __init__(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, nagq: int):
        _, g = np.unique(groups, return_inverse=True)
        order = np.argsort(g, kind="stable")
        self.X = np.asarray(X, dtype=float)[order]
        self.y = np.asarray(y, dtype=float)[order]
        self.g = g[order]
        self.G = int(self.g.max()) + 1
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.g) != 0])
        self.z, w = np.polynomial.hermite.hermgauss(nagq)
        self.logw = np.log(w) + self.z ** 2          # weights for integrating against exp(-z^2)
        self._b = np.zeros(self.G)                    # last modes: warm start for the next Newton solve

    def _sum(self, v: np.ndarray) -> np.ndarray:
        """Sum a per-observation vector (or the rows of a matrix) within clusters."""
        return np.add.reduceat(v, self.starts, axis=0)

    def modes(self, eta0: np.ndarray, sigma: float, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """Mode and curvature-based scale of each cluster's integrand in ``b`` (Newton).

        Starts from the previous call's modes; the integrand is strictly log-concave in ``b``,
        so the solution does not depend on the start.
        """
        b = self._b.copy()
        for _ in range(iters):
            p = special.expit(eta0 + sigma * b[self.g])
            grad = sigma * self._sum(self.y - p) - b
            hess = sigma ** 2 * self._sum(p * (1 - p)) + 1.0
            step = grad / hess
            b += step
            if np.max(np.abs(step)) < 1e-10:
                break
        self._b = b
        p = special.expit(eta0 + sigma * b[self.g])
        scale = 1.0 / np.sqrt(sigma ** 2 * self._sum(p * (1 - p)) + 1.0)
        return b, scale

    def evaluate(self, theta: np.ndarray, centres=None, grad: bool = True):
        """Quadrature log-likelihood and (fixed-centre) gradient at ``theta = (beta, sigma)``."""
        beta, sigma = theta[:-1], theta[-1]
        eta0 = self.X @ beta
        bhat, s = centres if centres is not None else self.modes(eta0, sigma)
        nodes = bhat[:, None] + np.sqrt(2.0) * s[:, None] * self.z[None, :]      # G x K
        eta = eta0[:, None] + sigma * nodes[self.g]                               # n x K
        # log p(y | eta) summed within clusters, for every node
        ll_obs = self.y[:, None] * eta - np.logaddexp(0.0, eta)
        ll_g = self._sum(ll_obs)                                                   # G x K
        log_terms = self.logw[None, :] + ll_g - 0.5 * nodes ** 2 - 0.5 * np.log(2 * np.pi)
        lse = special.logsumexp(log_terms, axis=1)
        loglik = float(np.sum(np.log(np.sqrt(2.0) * s) + lse))
        if not grad:
            return loglik
        wpost = np.exp(log_terms - lse[:, None])                                  # G x K posterior node weights
        resid = self.y[:, None] - special.expit(eta)                              # n x K
        wobs = wpost[self.g]                                                      # n x K
        g_beta = self.X.T @ np.sum(wobs * resid, axis=1)
        g_sigma = np.sum(wobs * resid * nodes[self.g])
        return loglik, np.append(g_beta, g_sigma)


def _start(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Starting values: a few Newton steps of ordinary logistic regression (ridge-stabilized)."""
    beta = np.zeros(X.shape[1])
    for _ in range(25):
        p = special.expit(X @ beta)
        H = X.T @ (X * (p * (1 - p))[:, None]) + 1e-6 * np.eye(X.shape[1])
        step = np.linalg.solve(H, X.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def _standardizer(X: np.ndarray) -> np.ndarray:
    """Matrix ``T`` with ``X @ T`` centred and scaled (constant columns left alone).

    Coefficients on the new columns ``g`` map back to the original ones as ``beta = T @ g``.
    """
    p = X.shape[1]
    T = np.eye(p)
    const = np.flatnonzero(np.all(X == X[0], axis=0))
    if len(const) != 1:
        return T
    c = const[0]
    for k in range(p):
        if k == c:
            continue
        sd = X[:, k].std()
        if sd > 0:
            T[k, k] = 1.0 / sd
            T[c, k] = -X[:, k].mean() / (sd * X[c, c])
    return T


def fit_glmm(X, y, groups, names: list[str] | None = None, nagq: int = 15,
             maxiter: int = 500, gtol: float = 1e-6) -> GLMMResult:
    """Fit ``y ~ X + (1 | groups)`` by maximum likelihood with adaptive Gauss-Hermite quadrature.

    ``X`` includes the intercept column; ``y`` is 0/1; ``nagq`` is the number of quadrature
    nodes per cluster (1 = Laplace). Odds ratios are per one unit of each column of ``X``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    names = list(names) if names is not None else [f"x{k}" for k in range(X.shape[1])]
    # fit on centred and scaled columns (same likelihood, better conditioned), map back after
    T = _standardizer(X)
    X = X @ T
    prob = _Problem(X, y, np.asarray(groups), nagq)
    theta0 = np.append(_start(X, y), 0.5)

    def objective(theta):
        ll, g = prob.evaluate(theta)
        return -ll, -g

    bounds = [(None, None)] * X.shape[1] + [(0.0, None)]
    res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-13})
    theta = res.x
    beta, sigma = theta[:-1], float(theta[-1])
    notes = []
    boundary = sigma < BOUNDARY_SIGMA
    if boundary:
        notes.append("clinic variance estimated at the boundary (0); SEs are those of the fixed effects given sigma = 0")
    # observed information from the analytic (fixed-centre) gradient, differentiated numerically
    free = slice(0, X.shape[1]) if boundary else slice(None)

    def gradient(t_free):
        t = theta.copy()
        t[free] = t_free
        return -prob.evaluate(t)[1][free]

    H = approx_fprime(theta[free], gradient, centered=True)
    H = 0.5 * (H + H.T)
    converged = bool(res.success) and np.all(np.isfinite(H))
    try:
        cov_full = np.linalg.inv(H)
        if np.any(np.diag(cov_full) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov_full = np.full(H.shape, np.nan)
        converged = False
        notes.append("information matrix not positive definite")
    if not res.success:
        notes.append(f"optimizer did not converge: {res.message}")
    p = X.shape[1]
    cov = T @ cov_full[:p, :p] @ T.T
    beta = T @ beta
    sigma_se = float(np.sqrt(cov_full[p, p])) if not boundary and np.isfinite(cov_full[p, p]) else float("nan")
    return GLMMResult(names=names, beta=beta, sigma=sigma, cov=cov, sigma_se=sigma_se,
                      loglik=-float(res.fun), converged=converged, n_obs=len(y), n_groups=prob.G,
                      nagq=nagq, message=str(res.message), notes=notes)


def loglik_quad(X, y, groups, beta, sigma, epsrel: float = 1e-10) -> float:
    """Reference marginal log-likelihood by adaptive numerical integration (scipy.integrate.quad).

    Independent of the Gauss-Hermite code; used in the tests to check it.
    """
    from scipy import integrate

    X, y, groups = np.asarray(X, float), np.asarray(y, float), np.asarray(groups)
    total = 0.0
    for gval in np.unique(groups):
        m = groups == gval
        eta0 = X[m] @ np.asarray(beta)

        def integrand(b):
            eta = eta0 + sigma * b
            return np.exp(np.sum(y[m] * eta - np.logaddexp(0, eta))) * stats.norm.pdf(b)

        val, _ = integrate.quad(integrand, -12, 12, epsabs=0.0, epsrel=epsrel, limit=200)
        total += np.log(val)
    return total


def loglik_grid(X, y, groups, beta, sigma, points: int = 4001, limit: float = 10.0) -> float:
    """Reference marginal log-likelihood by the trapezoid rule on a fine fixed grid in ``b``.

    Vectorized and independent of the Gauss-Hermite code (exponentially accurate for these
    smooth, fast-decaying integrands); fast enough for numerical Hessians in the tests.
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    b = np.linspace(-limit, limit, points)
    eta = (X @ np.asarray(beta))[:, None] + sigma * b[None, :]
    ll = y[:, None] * eta - np.logaddexp(0.0, eta)
    per_group = np.zeros((g.max() + 1, points))
    np.add.at(per_group, g, ll)
    log_integrand = per_group + stats.norm.logpdf(b)[None, :]
    step = b[1] - b[0]
    weights = np.full(points, step)
    weights[[0, -1]] = step / 2
    return float(np.sum(special.logsumexp(log_integrand + np.log(weights)[None, :], axis=1)))

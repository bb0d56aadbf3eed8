"""Reference marginal log-likelihoods for the GLMM tests, independent of trustlib's Gauss-Hermite
code: adaptive numerical integration (scipy.integrate.quad) and the trapezoid rule on a fine grid."""

from __future__ import annotations

import numpy as np
from scipy import special, stats


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

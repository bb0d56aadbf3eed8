"""Maximum-likelihood logistic regression with a random intercept per cluster.

Model: ``y_ij ~ Bernoulli(expit(x_ij' beta + sigma * b_j))`` with ``b_j ~ N(0, 1)``, so the
cluster (clinic) variance is ``sigma**2`` on the log-odds scale. The marginal likelihood of
each cluster is integrated with *adaptive* Gauss-Hermite quadrature (Pinheiro & Bates 1995;
the method of lme4's ``glmer(nAGQ = k)``): the ``k`` nodes are centred at the mode of each
cluster's integrand and scaled by its curvature, so ``k = 1`` is the Laplace approximation.

Writing ``sigma * b`` (rather than a log-variance) keeps the likelihood smooth at
``sigma = 0``, where the model reduces to ordinary logistic regression; ``sigma`` is bounded at
zero and a boundary estimate is flagged. Estimates maximize the quadrature likelihood by
Newton's method on its exact gradient and closed-form Hessian (the mode and scale of the nodes
move with the parameters), or, where that does not apply (a clinic SD near zero, a Hessian that
is not negative definite), by L-BFGS-B polished by Newton steps. Standard errors come from the
observed information at the optimum, the Hessian of the quadrature likelihood itself in closed
form (lme4 differentiates its deviance numerically instead; tested equal to the exact gradient
differentiated numerically).
statsmodels offers no maximum-likelihood GLMM, hence this small module; it is tested against
R lme4 ``glmer`` (reference values in ``tests/reference/``), brute-force integration,
ordinary logistic regression and simulation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

BOUNDARY_SIGMA = 1e-3
GRADIENT_TOL = 1e-9       # largest |d loglik / d theta| at which a maximum counts as found
NEWTON_MIN_SIGMA = 0.02   # below this clinic SD, Newton's method hands over to L-BFGS-B (see _newton)
NEWTON_HANDOVER_SIGMA = 0.25   # ... or when a step more than halves it to below this
WARM_MIN_SIGMA = 0.1       # a warm start (fit_glmm(start=...)) at or near the boundary starts from this clinic SD
NEWTON_MAXITER = 15            # steps of Newton's method before it hands over
MODE_TOL = 1e-11          # |d/db log integrand| at which a cluster's mode counts as found
ABSURD_SE = 1e3           # an SE above this (per SD of a covariate, log-odds) means no usable estimate
BATCH_ELEMENTS = 24_000   # points x observations x nodes evaluated at once by _Problem.gradients (see there)
EPS = np.finfo(float).eps
TINY_PRODUCT = 1e-280     # a cluster's product of probabilities below this: its log is summed term by term
ABSURD_BETA = 15.0        # |log-odds| per SD of a covariate above this is treated as (quasi-)separation


@dataclass
class GLMMResult:
    """Fit of :func:`fit_glmm`, named like a statsmodels result.

    ``params``/``bse``/``pvalues`` are log-odds coefficients per one unit of each column of
    ``X`` (in ``exog_names`` order), ``sigma`` is the clinic SD on the log-odds scale,
    ``llf`` the maximized (quadrature) log-likelihood in natural-log units.
    """

    exog_names: list[str]
    params: np.ndarray
    sigma: float
    cov: np.ndarray              # covariance of params (observed information)
    sigma_se: float
    llf: float
    converged: bool
    nobs: int
    n_groups: int
    nagq: int
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def pvalues(self) -> np.ndarray:
        return 2 * special.ndtr(-np.abs(self.params / self.bse))   # scipy.stats.norm.sf, unwrapped

    @property
    def clinic_var(self) -> float:
        return self.sigma ** 2

    def cov_params(self) -> np.ndarray:
        return self.cov

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """Wald interval on the log-odds scale, one row per coefficient (lower, upper)."""
        z = special.ndtri(1 - alpha / 2)
        return np.column_stack([self.params - z * self.bse, self.params + z * self.bse])

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy table: term, log-odds coefficient, SE, OR, Wald CI on the OR scale, two-sided P."""
        ci = np.exp(self.conf_int(alpha))
        return pd.DataFrame({
            "term": self.exog_names, "coef": self.params, "se": self.bse, "or": np.exp(self.params),
            "ci_low": ci[:, 0], "ci_high": ci[:, 1], "p": self.pvalues,
            "clinic_var": self.clinic_var, "loglik": self.llf, "converged": self.converged,
        })


class ModeSearchError(ArithmeticError):
    """Some cluster's mode was not found to :data:`MODE_TOL` (never happens silently)."""


@functools.lru_cache(maxsize=8)
def _rule(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and log-weights for integrating against ``exp(-z^2)`` times ``exp(z^2)``
    (so that they integrate a density), computed once per node count (read-only arrays)."""
    z, w = np.polynomial.hermite.hermgauss(nagq)
    logw = np.log(w) + z ** 2
    z.flags.writeable = logw.flags.writeable = False
    return z, logw


class _Problem:
    """Data of one fit, sorted by cluster, with the quadrature rule."""

    def __init__(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, nagq: int):
        if nagq < 1:
            raise ValueError(f"nagq must be at least 1 (1 = Laplace), not {nagq}")
        _, g = np.unique(groups, return_inverse=True)
        order = np.argsort(g, kind="stable")
        self.X = np.asarray(X, dtype=float)[order]
        self.y = np.asarray(y, dtype=float)[order]
        self.g = g[order]
        self.G = int(self.g.max()) + 1
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.g) != 0])
        self.n_g = np.bincount(self.g).astype(float)
        self.sum_y = np.add.reduceat(self.y, self.starts)
        self.sign = 2.0 * self.y - 1.0
        self.z, self.logw = _rule(nagq)
        self.warm = np.zeros(self.G)                  # last modes: a warm start for the next search
        self.last = None                              # (theta, loglik, gradient) of the last evaluate()

    def _sum(self, v: np.ndarray) -> np.ndarray:
        """Sum a batch of per-observation arrays within clusters: axis 1 (observations) of ``v``,
        shaped ``(batch, n, ...)``, becomes clusters ``(batch, G, ...)``."""
        return np.add.reduceat(v, self.starts, axis=1)

    def _log_product(self, q: np.ndarray, signed: np.ndarray) -> np.ndarray:
        """``sum log q`` within each cluster, ``(batch, G, K)``: the log of the cluster's product of
        ``q = expit(signed)``, or, where that product comes near underflow (below
        :data:`TINY_PRODUCT`), the sum of ``-log(1 + exp(-signed))`` (exact for any ``signed``)."""
        prod = np.multiply.reduceat(q, self.starts, axis=1)
        low = prod < TINY_PRODUCT
        if not low.any():
            return np.log(prod)
        return np.where(low, self._sum(-np.logaddexp(0.0, -signed)), np.log(np.where(low, 1.0, prod)))

    def modes(self, eta0: np.ndarray, sigma: float, start: np.ndarray | None = None,
              maxiter: int = 200) -> np.ndarray:
        """Mode ``b`` of each cluster's integrand ``sum_i log p(y_i | eta0_i + sigma b) - b^2/2``.

        Safeguarded Newton: the derivative ``h'(b) = sigma * sum(y - p) - b`` is strictly
        decreasing, and its root lies in ``[sigma (sum y - n), sigma sum y]``; a Newton step
        that leaves the current bracket is replaced by bisection. Every cluster must reach
        ``|h'(b)| < MODE_TOL`` (or a bracket at floating-point width), else
        :class:`ModeSearchError`. ``start`` (default: the previous call's modes) changes only
        the number of iterations, not the answer.
        """
        return self._modes(np.asarray(eta0, float)[None], np.array([float(sigma)]), start, maxiter)[0]

    def _modes(self, eta0: np.ndarray, sigma: np.ndarray, start: np.ndarray | None = None,
               maxiter: int = 200) -> np.ndarray:
        """:meth:`modes` for a batch: ``eta0`` is ``(batch, n)``, ``sigma`` ``(batch,)``; modes ``(batch, G)``."""
        s = sigma[:, None]
        lo = s * (self.sum_y - self.n_g)
        hi = s * self.sum_y
        b = np.minimum(np.maximum(self.warm if start is None else np.asarray(start, float), lo), hi)   # np.clip
        for _ in range(maxiter):
            p = special.expit(eta0 + s * b[:, self.g])
            d = s * self._sum(self.y - p) - b
            A = s ** 2 * self._sum(p * (1 - p)) + 1.0
            done = True if abs(d).max() < MODE_TOL else (
                (abs(d) < MODE_TOL) | (hi - lo <= 4 * EPS * (1 + abs(b))))
            if done is True or done.all():
                # one more Newton step (quadratic: from |h'| < MODE_TOL to rounding level), so the
                # mode does not depend on where the search started
                b = np.minimum(np.maximum(b + d / A, lo), hi)
                self.warm = b[0]
                return b
            lo = np.where(d > 0, b, lo)
            hi = np.where(d > 0, hi, b)
            newton = b + d / A
            inside = (newton > lo) & (newton < hi)
            b = np.where(done, b, np.where(inside, newton, 0.5 * (lo + hi)))
        raise ModeSearchError(f"mode search did not converge for {int((~done).sum())} cluster(s) "
                              f"(largest |h'| = {np.max(np.abs(d)):.2e})")

    def evaluate(self, theta: np.ndarray, grad: bool = True):
        """Adaptive-quadrature log-likelihood at ``theta = (beta, sigma)`` and its exact gradient.

        The nodes sit at ``bhat + sqrt(2) s z_k`` where the mode ``bhat`` and the scale
        ``s = (-h''(bhat))**-1/2`` both move with ``theta``; the gradient includes those
        paths (implicit-function theorem), so it is the derivative of the objective itself
        at every node count, Laplace (``nagq = 1``) included. The point evaluated last is kept
        (``self.last``, keyed by ``theta`` exactly): where L-BFGS-B stopped, the polish asks
        for it again and gets it without a second pass.
        """
        theta = np.asarray(theta, float)
        if grad and self.last is not None and np.array_equal(theta, self.last[0]):
            return self.last[1], self.last[2].copy()
        loglik, gradient = self._evaluate(theta[None, :], grad)
        if not grad:
            return float(loglik[0])
        self.last = (theta.copy(), float(loglik[0]), gradient[0].copy())
        return float(loglik[0]), gradient[0]

    def _mode_paths(self, eta0: np.ndarray, sigma: float):
        """For :meth:`information`, per cluster on the log-odds scale: the mode ``m`` of the
        integrand and the nodes' scale ``s``, with their first and second derivatives in ``theta``
        (implicit function theorem: ``f'(m(theta), theta) = 0`` differentiated twice, and
        ``s = (-f''(m))**-1/2``). ``eta0 = X beta``. Returns ``(m, s, m_t, m_tt, s_t, s_tt)``,
        shaped ``G``, ``G``, ``G x q``, ``G x q x q``, ``G x q``, ``G x q x q``."""
        m = sigma * self._modes(eta0[None], np.array([sigma]))[0]
        # at the modes: f's derivatives in v (W1..W4: sums of the log-likelihood's 2nd-4th derivatives, negated)
        ph = special.expit(eta0 + m[self.g])
        w1 = ph * (1 - ph)
        w3 = w1 * (1 - 2 * ph)
        w4 = w1 - 6 * w1 ** 2
        A = np.add.reduceat(w1, self.starts) + 1 / sigma ** 2
        s = 1 / np.sqrt(A)
        xw = np.add.reduceat(np.column_stack([w1, w3, w4])[:, :, None] * self.X[:, None, :], self.starts)  # G x 3 x p
        xx = self.X[:, :, None] * self.X[:, None, :]
        xx3 = np.add.reduceat(w3[:, None, None] * xx, self.starts)                # G x p x p
        xx4 = np.add.reduceat(w4[:, None, None] * xx, self.starts)
        W3, W4 = np.add.reduceat(w3, self.starts), np.add.reduceat(w4, self.starts)
        G, q = self.G, self.X.shape[1] + 1
        f_vt = np.column_stack([-xw[:, 0], 2 * m / sigma ** 3])                  # f_v,theta at the mode, G x q
        f_vvt = np.column_stack([-xw[:, 1], np.full(G, 2 / sigma ** 3)])
        f_vvvt = np.column_stack([-xw[:, 2], np.zeros(G)])
        f_vtt = np.zeros((G, q, q))
        f_vtt[:, :-1, :-1] = -xx3
        f_vtt[:, -1, -1] = -6 * m / sigma ** 4
        f_vvtt = np.zeros((G, q, q))
        f_vvtt[:, :-1, :-1] = -xx4
        f_vvtt[:, -1, -1] = -6 / sigma ** 4
        f_vvv, f_vvvv = -W3, -W4
        # the mode's and the scale's first and second derivatives (implicit function theorem)
        m_t = f_vt / A[:, None]
        m_tt = (f_vvv[:, None, None] * m_t[:, :, None] * m_t[:, None, :] + f_vvt[:, :, None] * m_t[:, None, :]
                + m_t[:, :, None] * f_vvt[:, None, :] + f_vtt) / A[:, None, None]
        A_t = -(f_vvv[:, None] * m_t + f_vvt)
        A_tt = -(f_vvvv[:, None, None] * m_t[:, :, None] * m_t[:, None, :] + f_vvvt[:, :, None] * m_t[:, None, :]
                 + m_t[:, :, None] * f_vvvt[:, None, :] + f_vvtt + f_vvv[:, None, None] * m_tt)
        s_t = -0.5 * A[:, None] ** -1.5 * A_t
        s_tt = (0.75 * A[:, None, None] ** -2.5 * A_t[:, :, None] * A_t[:, None, :]
                - 0.5 * A[:, None, None] ** -1.5 * A_tt)
        return m, s, m_t, m_tt, s_t, s_tt

    def information(self, theta: np.ndarray) -> np.ndarray:
        """Observed information ``-d2 loglik / dtheta2`` at ``theta = (beta, sigma)``, ``sigma > 0``,
        in closed form: the Hessian of the adaptive-quadrature log-likelihood itself, the moving
        mode and scale of the nodes included (their first and second derivatives by the implicit
        function theorem).

        Derived with the random effect on the log-odds scale, ``v = sigma * b``: the same
        quadrature (adaptive Gauss-Hermite is unchanged by an affine change of variable), in which
        ``beta`` enters only through ``eta = x' beta + v`` and ``sigma`` only through the normal
        density, ``f(v) = sum_i log p(y_i | eta_i) - v^2 / (2 sigma^2) - log sigma``. Per cluster,
        with the mode ``m`` (``f'(m) = 0``), ``A = -f''(m)``, ``s = A**-1/2`` and the nodes
        ``v_k = m + sqrt(2) s z_k``: ``L = log(sqrt(2) s) + log sum_k w_k exp f(v_k)``, so
        ``L_ab = (log s)_ab + sum_k pi_k (D_ka D_kb + D_kab) - Dbar_a Dbar_b`` with ``pi_k`` the
        nodes' posterior weights and ``D_k`` the total derivative of ``f(v_k)``. Equal to the
        exact gradient differentiated numerically (tested), at the cost of about two gradients.
        """
        theta = np.asarray(theta, float)
        beta, sigma = theta[:-1], float(theta[-1])
        X, g, z = self.X, self.g, self.z
        eta0 = X @ beta
        m, s, m_t, m_tt, s_t, s_tt = self._mode_paths(eta0, sigma)
        G, q = self.G, X.shape[1] + 1
        hess = (s_tt / s[:, None, None] - s_t[:, :, None] * s_t[:, None, :] / s[:, None, None] ** 2).sum(axis=0)
        # at the nodes
        v = m[:, None] + np.sqrt(2.0) * s[:, None] * z                            # G x K
        qk = special.expit(self.sign[:, None] * (eta0[:, None] + v[g]))          # p of the outcome seen, n x K
        rk = self.sign[:, None] * (1 - qk)                                        # y - p
        wk = qk * (1 - qk)
        log_f = np.add.reduceat(np.log(qk), self.starts) - v ** 2 / (2 * sigma ** 2)
        lt = self.logw + log_f
        post = np.exp(lt - lt.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)                                   # pi, G x K
        f_v = np.add.reduceat(rk, self.starts) - v / sigma ** 2
        f_vv = -np.add.reduceat(wk, self.starts) - 1 / sigma ** 2
        f_t = np.concatenate([np.add.reduceat(rk[:, :, None] * X[:, None, :], self.starts),
                              (v ** 2 / sigma ** 3 - 1 / sigma)[:, :, None]], axis=2)            # G x K x q
        f_tv = np.concatenate([-np.add.reduceat(wk[:, :, None] * X[:, None, :], self.starts),
                               (2 * v / sigma ** 3)[:, :, None]], axis=2)
        v_t = m_t[:, None, :] + np.sqrt(2.0) * z[None, :, None] * s_t[:, None, :]   # G x K x q
        D = f_t + f_v[:, :, None] * v_t
        Dbar = np.einsum("gk,gka->ga", post, D)
        flat = (G * len(z), q)
        pw = post[:, :, None]
        hess += (pw * D).reshape(flat).T @ D.reshape(flat) - Dbar.T @ Dbar
        # sum_k pi_k D_kab: f_ab, the two f_av v_b terms, f_vv v_a v_b, f_v v_ab
        wpost = np.einsum("nk,nk->n", post[g], wk)
        hess[:-1, :-1] -= (X * wpost[:, None]).T @ X
        hess[-1, -1] += np.einsum("gk,gk->", post, -3 * v ** 2 / sigma ** 4 + 1 / sigma ** 2)
        cross = (pw * f_tv).reshape(flat).T @ v_t.reshape(flat)
        hess += cross + cross.T + ((pw * f_vv[:, :, None]) * v_t).reshape(flat).T @ v_t.reshape(flat)
        n0, n1 = np.einsum("gk,gk->g", post, f_v), np.einsum("gk,gk,k->g", post, f_v, z)
        hess += np.einsum("g,gab->ab", n0, m_tt) + np.sqrt(2.0) * np.einsum("g,gab->ab", n1, s_tt)
        hess = 0.5 * (hess + hess.T)
        return -hess

    def gradients(self, thetas: np.ndarray) -> np.ndarray:
        """The gradient at each row of ``thetas``, evaluated in batches of about
        :data:`BATCH_ELEMENTS` array elements: vectorised passes instead of a Python loop over the
        points of a numerical derivative, each batch's arrays small enough (a few hundred kB) to
        stay in a core's cache (on the shipped cohort, 162 x 15 elements a point, 28 points took a
        third less time in batches of 9 than in one batch of 28). The polish's forward differences
        use it: a point per free parameter."""
        per_point = len(self.y) * len(self.z)
        size = max(1, BATCH_ELEMENTS // per_point)
        return np.concatenate([self._evaluate(thetas[i:i + size], True)[1] for i in range(0, len(thetas), size)])

    def _evaluate(self, thetas: np.ndarray, grad: bool):
        """Log-likelihoods ``(batch,)`` and gradients ``(batch, p + 1)`` at the rows of ``thetas``."""
        beta, sigma = thetas[:, :-1], thetas[:, -1]
        S, S3 = sigma[:, None], sigma[:, None, None]                              # per point, broadcast
        eta0 = beta @ self.X.T                                                    # B x n
        bhat = self._modes(eta0, sigma)                                           # B x G
        phat = special.expit(eta0 + S * bhat[:, self.g])
        what = phat * (1 - phat)
        sum_what = self._sum(what)
        A = S ** 2 * sum_what + 1.0
        s = 1.0 / np.sqrt(A)
        nodes = bhat[:, :, None] + np.sqrt(2.0) * s[:, :, None] * self.z          # B x G x K
        node_of_obs = nodes[:, self.g]                                            # B x n x K
        # q = expit(+-eta), the probability of the observed outcome at each node (sign = 2y - 1):
        # one transcendental per observation and node; the logs are taken of each cluster's product
        signed = (self.sign * eta0)[:, :, None] + (self.sign * S)[:, :, None] * node_of_obs
        q = special.expit(signed)
        log_terms = self.logw + self._log_product(q, signed) - 0.5 * nodes ** 2 - 0.5 * np.log(2 * np.pi)
        top = log_terms.max(axis=-1)                 # log-sum-exp over the nodes (scipy's adds
        terms = np.exp(log_terms - top[..., None])   # array-API overhead)
        total = terms.sum(axis=-1)
        lse = top + np.log(total)
        loglik = (np.log(np.sqrt(2.0) * s) + lse).sum(axis=-1)
        if not grad:
            return loglik, None
        post = terms / total[..., None]                                           # B x G x K node weights
        resid = self.sign[:, None] * (1.0 - q)                                    # y - expit(eta), B x n x K
        resid_sum = self._sum(resid)                                              # B x G x K
        # partial derivatives with the centre and scale held fixed (the sigma one summed by cluster)
        g_obs = np.einsum("bnk,bnk->bn", post[:, self.g], resid)                  # per observation, B x n
        g_sigma = np.einsum("bgk,bgk,bgk->b", post, nodes, resid_sum)
        # ... plus the paths through the mode and the scale: with h'' = -A, db/dtheta = h'_theta / A and
        # dA/dtheta = S^2 (sum w' dx/dtheta), each summed over a cluster's observations, so the beta
        # paths are per-observation weights on X (what and w' = what (1 - 2 phat)), one product with X
        d_node = S3 * resid_sum - nodes                                           # h'(node), B x G x K
        dL_db = np.einsum("bgk,bgk->bg", post, d_node)
        dL_ds = 1.0 / s + np.sqrt(2.0) * np.einsum("bgk,bgk,k->bg", post, d_node, self.z)
        wprime = what * (1 - 2 * phat)
        sum_wprime = self._sum(wprime)
        ds_dA = -0.5 * s ** 3
        v = ds_dA * dL_ds * S ** 2                                                # weight of w' x, B x G
        u = -S / A * (dL_db + S * v * sum_wprime)                                 # weight of what x, B x G
        g_beta = (g_obs + what * u[:, self.g] + wprime * v[:, self.g]) @ self.X
        db_dsigma = (self._sum(self.y - phat) - S * bhat * sum_what) / A          # B x G
        dA_dsigma = 2 * S * sum_what + S ** 2 * sum_wprime * (bhat + S * db_dsigma)
        g_sigma = g_sigma + (db_dsigma * dL_db).sum(axis=-1) + (ds_dA * dA_dsigma * dL_ds).sum(axis=-1)
        return loglik, np.column_stack([g_beta, g_sigma])


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


def _theta0(Xs: np.ndarray, y: np.ndarray, T: np.ndarray, start: "GLMMResult | None") -> np.ndarray:
    """Where the search starts, on the standardized scale: ``start``'s estimates where they are
    usable (finite, as many coefficients as columns; sigma at least :data:`WARM_MIN_SIGMA`), else
    logistic regression's and sigma 0.5."""
    if start is not None and len(start.params) == Xs.shape[1] and np.all(np.isfinite(start.params)) \
            and np.isfinite(start.sigma):
        return np.append(np.linalg.solve(T, start.params), max(start.sigma, WARM_MIN_SIGMA))
    return np.append(_start(Xs, y), 0.5)


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


def separation(X: np.ndarray, y: np.ndarray) -> bool:
    """True if the outcome is completely or quasi-completely separated by ``X``.

    Linear-programming check (Konis 2007): is there a direction ``b`` with
    ``(2y - 1) * X b >= 0`` for every row and strictly positive in total? Most data sets are
    not separated, and say so more cheaply: :func:`_overlap` looks for the certificate of that
    first, and only data without one go to the linear program.
    """
    s = (2 * np.asarray(y) - 1)[:, None] * np.asarray(X, float)
    if _overlap(s):
        return False
    res = optimize.linprog(c=-s.sum(axis=0), A_ub=-s, b_ub=np.zeros(len(y)),
                           bounds=[(-1, 1)] * s.shape[1], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-7)


def _overlap(s: np.ndarray, margin: float = 1e-6) -> bool:
    """True if weights ``w``, all positive, with ``s' w = 0`` are found: then no direction ``b``
    has ``s b >= 0`` in every row and ``> 0`` in one (Stiemke's alternative), so there is no
    separation. The weights are those of the logistic score equations ``w = expit(-s b)`` at the
    maximum of ``sum log expit(s b)`` (which exists exactly when there is no separation), found
    by Newton's method, then made to solve ``s' w = 0`` to rounding by the least change in ``w``;
    they count only if every one stays above ``margin`` times the largest. False means "not
    shown": the linear program decides (as it does for data with missing or infinite values)."""
    if not np.all(np.isfinite(s)):
        return False
    b = np.zeros(s.shape[1])
    for _ in range(30):
        w = special.expit(-(s @ b))
        score = s.T @ w
        if np.max(np.abs(score)) < 1e-10 * len(s):
            break
        H = s.T @ (s * (w * (1 - w))[:, None])
        b += np.linalg.lstsq(H, score, rcond=None)[0]
    else:
        return False
    w = w - s @ np.linalg.lstsq(s.T @ s, s.T @ w, rcond=None)[0]        # the least change with s' w = 0
    return bool(np.all(np.isfinite(w)) and w.min() > margin * w.max()
                and np.max(np.abs(s.T @ w)) <= 1e-9 * np.abs(s).sum(axis=0).max() * w.max())


def check_input(X, y, groups, names=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X``, ``y`` and ``groups`` as arrays, or a :class:`ValueError` saying what is wrong: the
    check every estimator shares (:func:`trustlib.stats.fit.check`)."""
    from .fit import check

    return check(X, y, groups, names)


def fit_glmm(X, y, groups, names: list[str] | None = None, nagq: int = 15,
             maxiter: int = 500, separated: bool | None = None,
             start: "GLMMResult | None" = None) -> GLMMResult:
    """Fit ``y ~ X + (1 | groups)`` by maximum likelihood with adaptive Gauss-Hermite quadrature.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Design matrix, the intercept column included; finite values.
    y : array_like, shape (n,)
        Outcome, 0 or 1.
    groups : array_like, shape (n,)
        Cluster of each observation (any hashable IDs; none missing; at least two clusters).
    names : list of str, optional
        A name per column of ``X`` (``exog_names`` of the result).
    nagq : int, default 15
        Quadrature nodes per cluster; 1 is the Laplace approximation (lme4's ``nAGQ``).
    maxiter : int, default 500
        Iterations of the optimizer.
    separated : bool, optional
        A separation check already made for the same ``X`` and ``y`` (:func:`separation`).
    start : GLMMResult, optional
        A fit of the same model to (nearly) the same data, to start the search from (a warm
        start: leave-one-clinic-out refits start from the full fit). It changes where the
        search starts, not what it finds: the search stops at the same gradient tolerance. A
        clinic SD below :data:`WARM_MIN_SIGMA` starts from it, since at sigma = 0 the
        likelihood's slope in sigma is 0 whatever the data.

    Returns
    -------
    GLMMResult
        Coefficients in log odds per unit of each column of ``X``, their covariance, the clinic
        SD ``sigma`` (log-odds scale) and the log-likelihood. Never silently wrong:
        (quasi-)separation, absurd SEs, a failed mode search, a failed optimizer and a singular
        information matrix each set ``converged=False`` with a note; a boundary variance is noted.

    Raises
    ------
    ValueError
        For input a model cannot be fitted to (:func:`check_input`), or ``nagq < 1``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(30), 10)
    >>> x = rng.normal(size=300)
    >>> y = (rng.random(300) < 1 / (1 + np.exp(-(0.5 * x + rng.normal(size=30)[g])))).astype(int)
    >>> fit = fit_glmm(np.column_stack([np.ones(300), x]), y, g, names=["intercept", "x"], nagq=5)
    >>> fit.converged, fit.exog_names
    (True, ['intercept', 'x'])
    """
    X, y, groups = check_input(X, y, groups, names)
    return fit_checked(X, y, groups, names, nagq, maxiter, separated, start)


def fit_checked(X, y, groups, names: list[str] | None = None, nagq: int = 15, maxiter: int = 500,
                separated: bool | None = None, start: "GLMMResult | None" = None) -> GLMMResult:
    """:func:`fit_glmm` on input that passed :func:`check_input` already (the registry's
    :meth:`trustlib.stats.estimators.Estimator.fit` checks every estimator's input once): the
    same fit, without checking twice."""
    X, y, groups = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(groups, dtype=object)
    names = list(names) if names is not None else [f"x{k}" for k in range(X.shape[1])]
    p = X.shape[1]
    notes: list[str] = []
    # fit on centred and scaled columns (same likelihood, better conditioned), map back after
    T = _standardizer(X)
    Xs = X @ T
    prob = _Problem(Xs, y, groups, nagq)
    if separated is None:
        separated = separation(X, y)
    if separated:
        notes.append("separation: the outcome is (quasi-)perfectly predicted by the covariates; no finite estimate")
    try:
        theta, success, message, H, llf = _maximize(prob, _theta0(Xs, y, T, start), p, maxiter)
    except ModeSearchError as err:
        nan = np.full(p, np.nan)
        return GLMMResult(exog_names=names, params=nan, sigma=float("nan"), cov=np.full((p, p), np.nan),
                          sigma_se=float("nan"), llf=float("nan"), converged=False, nobs=len(y),
                          n_groups=prob.G, nagq=nagq, message=str(err), notes=notes + [str(err)])
    boundary = theta[-1] < BOUNDARY_SIGMA
    beta, sigma = theta[:-1], 0.0 if boundary else float(theta[-1])   # at the boundary theta[-1] is 0 already
    if boundary:
        notes.append("clinic variance estimated at the boundary (0); SEs are those of the fixed effects given sigma = 0")
    cov_full, ok = _inverse(H, notes)
    converged = success and not separated and ok
    if not success:
        notes.append(f"optimizer did not converge: {message}")
    se_std = np.sqrt(np.diag(cov_full))[:p]
    slopes = ~np.all(X == X[0], axis=0)          # non-constant columns, on the per-SD scale
    if not separated and (np.any(se_std[slopes] > ABSURD_SE) or np.any(np.abs(beta[slopes]) > ABSURD_BETA)):
        converged = False
        notes.append("near-separation: a coefficient above 15 log-odds per SD of a covariate, or an SE above 1000; "
                     "the estimate is not usable")
    sigma_se = float(np.sqrt(cov_full[p, p])) if not boundary and np.isfinite(cov_full[p, p]) else float("nan")
    return GLMMResult(exog_names=names, params=T @ beta, sigma=sigma, cov=T @ cov_full[:p, :p] @ T.T,
                      sigma_se=sigma_se, llf=llf, converged=bool(converged), nobs=len(y), n_groups=prob.G,
                      nagq=nagq, message=message, notes=notes)


def _information(prob: _Problem, theta: np.ndarray, free: slice, precise: bool = True,
                 base: np.ndarray | None = None) -> np.ndarray:
    """Observed information of the free parameters: in closed form (:meth:`_Problem.information`,
    exact to rounding, so the standard errors' written digits do not move with the BLAS kernel);
    ``precise=False`` gives forward differences of the exact gradient from ``base``, the gradient
    at ``theta``, at a step of ``sqrt(eps)`` times the parameter (at least 0.1): enough for the
    Newton polish, whose steps are checked. At the boundary (sigma = 0, only the fixed effects
    free) the model is logistic regression, whose information ``X' diag(p (1 - p)) X`` is exact."""
    if free == slice(0, len(theta) - 1) and theta[-1] == 0.0:
        p = special.expit(prob.X @ theta[:-1])
        return (prob.X * (p * (1 - p))[:, None]).T @ prob.X
    if precise:
        return prob.information(theta)
    x = theta[free]
    H = _forward(prob, theta, free, base, np.sqrt(EPS) * np.maximum(np.abs(x), 0.1))
    return 0.5 * (H + H.T)


def _forward(prob: _Problem, theta: np.ndarray, free: slice, base: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Forward differences of the negative gradient (free parameters) from ``base``, the gradient
    at ``theta``: one batch of a point per free parameter; column k is d/dtheta_k."""
    x = theta[free]
    points = np.tile(theta, (len(x), 1))
    points[:, free] = x + np.diag(h)
    return -((prob.gradients(points)[:, free] - base[free]) / h[:, None]).T


def _maximize(prob: _Problem, theta0: np.ndarray, p: int, maxiter: int):
    """Maximize the quadrature likelihood. First Newton's method on the closed-form information
    (:func:`_newton`: about five steps, each a gradient and an information). Where it cannot be
    used (a clinic SD heading below :data:`NEWTON_MIN_SIGMA`, where a boundary estimate is likely,
    an information that is not positive definite, a step that cannot raise the likelihood), the
    search starts again from ``theta0`` with L-BFGS-B on the exact gradient (sigma bounded at 0),
    then up to four Newton steps with the observed information, which is then computed again at
    the polished estimate, so the standard errors do not depend on where L-BFGS-B stopped (which
    moves with the BLAS kernel). At the boundary (sigma below :data:`BOUNDARY_SIGMA`) sigma is set
    to 0 and only the fixed effects are free: they are then those of sigma = 0 to the polish's
    precision, not of wherever below the threshold the optimizer stopped (which moves with the
    BLAS kernel). Returns ``(theta, success, message, information, loglik)``."""
    found = _newton(prob, theta0.copy())
    if found is not None:
        return found
    prob.warm, prob.last = np.zeros(prob.G), None      # as a fresh problem: the same search as without _newton
    res = optimize.minimize(lambda t: tuple(-v for v in prob.evaluate(t)), theta0, jac=True, method="L-BFGS-B",
                            bounds=[(None, None)] * p + [(0.0, None)],
                            options={"maxiter": maxiter, "gtol": 1e-6, "ftol": 1e-13})
    theta, success, message = res.x.copy(), bool(res.success), str(res.message)
    boundary = theta[-1] < BOUNDARY_SIGMA
    if boundary:
        theta[-1] = 0.0
    free = slice(0, p) if boundary else slice(None)
    llf, grad = prob.evaluate(theta)
    H = _information(prob, theta, free, precise=False, base=grad)
    for _ in range(4):
        g = -grad[free]
        if not np.all(np.isfinite(H)) or np.max(np.abs(g)) < GRADIENT_TOL:
            break
        trial = theta.copy()
        trial[free] -= np.linalg.lstsq(H, g, rcond=None)[0]
        if trial[-1] < 0:
            break
        ll_trial, grad_trial = prob.evaluate(trial)
        if ll_trial < llf - 1e-12:
            break
        theta, llf, grad = trial, ll_trial, grad_trial
    return theta, success, message, _information(prob, theta, free), llf


def _newton(prob: _Problem, theta: np.ndarray):
    """Newton's method from ``theta`` on the closed-form information, each step halved until the
    likelihood does not fall (a sign change of sigma is undone: the likelihood is even in sigma),
    until the largest gradient component is below :data:`GRADIENT_TOL`. Returns what
    :func:`_maximize` returns, or None where the method does not apply: sigma below
    :data:`NEWTON_MIN_SIGMA`, or more than halved by a step to below
    :data:`NEWTON_HANDOVER_SIGMA` (a boundary estimate is likely, which Newton's method would
    approach by halving sigma step after step, and the closed form, derived on the log-odds
    scale, loses digits as sigma approaches 0), an information that is not positive
    definite or not finite, a step that halving cannot make acceptable, or no convergence in
    :data:`NEWTON_MAXITER` steps."""
    llf, grad = prob.evaluate(theta)
    for _ in range(NEWTON_MAXITER):
        if not theta[-1] >= NEWTON_MIN_SIGMA:
            return None
        H = prob.information(theta)
        if not np.all(np.isfinite(H)):
            return None
        try:
            step = np.linalg.solve(H, grad) if np.all(np.linalg.eigvalsh(H) > 0) else None
        except np.linalg.LinAlgError:
            step = None
        if step is None:
            return None
        for _ in range(30):
            trial = theta + step
            trial[-1] = abs(trial[-1])
            ll_trial, grad_trial = prob.evaluate(trial)
            if ll_trial >= llf - 1e-12:
                break
            step = step / 2
        else:
            return None
        if trial[-1] < min(theta[-1] / 2, NEWTON_HANDOVER_SIGMA):   # more than halved, and small: heading
            return None                                                 # for the boundary, a step at a time
        theta, llf, grad = trial, ll_trial, grad_trial
        if np.max(np.abs(grad)) < GRADIENT_TOL:
            if not theta[-1] >= NEWTON_MIN_SIGMA:
                return None
            return theta, True, "Newton's method converged", prob.information(theta), llf
    return None


def _inverse(H: np.ndarray, notes: list[str]) -> tuple[np.ndarray, bool]:
    """The covariance (inverse information), or NaNs and a note when it is not positive definite."""
    ok = bool(np.all(np.isfinite(H)))
    try:
        cov = np.linalg.inv(H)
        if np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        notes.append("information matrix not positive definite")
        return np.full(H.shape, np.nan), False
    return cov, ok

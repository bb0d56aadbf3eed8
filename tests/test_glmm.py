"""The hand-written GLMM against independent references and simulated truth."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special
from statsmodels.tools.numdiff import approx_fprime

from loglik_reference import loglik_grid, loglik_quad
from trustlib.stats import glmm


def simulate(rng, n_groups=34, per_group=5, beta=(-0.6, 0.8, -0.3), sigma=0.8):
    g = np.repeat(np.arange(n_groups), per_group)
    n = len(g)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.binomial(1, 0.5, n)])
    u = sigma * rng.normal(size=n_groups)
    y = (rng.random(n) < special.expit(X @ np.asarray(beta) + u[g])).astype(float)
    return X, y, g


def test_quadrature_likelihood_matches_brute_force_integration():
    X, y, g = simulate(np.random.default_rng(1))
    for beta, sigma in [((-0.5, 0.7, -0.2), 0.9), ((0.2, -0.3, 0.5), 2.0), ((-1.0, 0.0, 0.0), 0.05)]:
        prob = glmm._Problem(X, y, g, nagq=15)
        approx = prob.evaluate(np.append(beta, sigma), grad=False)
        exact = loglik_quad(X, y, g, beta, sigma)
        assert approx == pytest.approx(exact, abs=1e-4)


def test_laplace_is_close_but_less_exact_than_many_nodes():
    X, y, g = simulate(np.random.default_rng(2), sigma=1.5)
    theta = np.array([-0.5, 0.7, -0.2, 1.5])
    exact = loglik_quad(X, y, g, theta[:3], theta[3])
    err1 = abs(glmm._Problem(X, y, g, 1).evaluate(theta, grad=False) - exact)
    err15 = abs(glmm._Problem(X, y, g, 15).evaluate(theta, grad=False) - exact)
    assert err15 < err1 < 1.0


def test_gradient_matches_finite_differences():
    X, y, g = simulate(np.random.default_rng(3))
    prob = glmm._Problem(X, y, g, nagq=15)
    theta = np.array([-0.4, 0.6, -0.1, 0.7])
    numeric = approx_fprime(theta, lambda t: prob.evaluate(t, grad=False), centered=True)
    assert np.allclose(prob.evaluate(theta)[1], numeric, atol=1e-5)


def test_estimate_and_standard_errors_agree_with_the_exact_likelihood():
    """At the fitted optimum the brute-force likelihood (fine grid, itself checked against
    scipy's adaptive quadrature) is flat, and its numerical Hessian
    gives the same standard errors as the fit's observed information."""
    from statsmodels.tools.numdiff import approx_hess

    X, y, g = simulate(np.random.default_rng(4), n_groups=12, per_group=6)
    fit = glmm.fit_glmm(X, y, g, nagq=20)
    theta = np.append(fit.params, fit.sigma)

    def exact(t):
        return loglik_grid(X, y, g, t[:3], t[3])

    assert exact(theta) == pytest.approx(loglik_quad(X, y, g, fit.params, fit.sigma), abs=1e-8)

    grad = approx_fprime(theta, exact, epsilon=1e-4, centered=True)
    assert np.max(np.abs(grad)) < 1e-3
    cov = np.linalg.inv(-approx_hess(theta, exact, epsilon=1e-3))
    assert np.allclose(np.sqrt(np.diag(cov))[:3], fit.bse, rtol=0.01)
    assert fit.llf == pytest.approx(exact(theta), abs=1e-6)


def test_zero_clinic_variance_reduces_to_ordinary_logistic_regression():
    rng = np.random.default_rng(5)
    X, y, g = simulate(rng, sigma=0.0, n_groups=60)
    fit = glmm.fit_glmm(X, y, g)
    logit = sm.Logit(y, X).fit(disp=0)
    if fit.sigma < glmm.BOUNDARY_SIGMA:
        assert any("boundary" in n for n in fit.notes)
    assert np.allclose(fit.params, logit.params, atol=2e-3)
    assert np.allclose(fit.bse, logit.bse, rtol=0.02)
    assert fit.llf >= logit.llf - 1e-6


def test_a_fit_at_the_boundary_is_ordinary_logistic_regression_to_the_last_digits():
    """At the boundary sigma is exactly 0 and the fixed effects are logistic regression's, not
    those of wherever below the threshold the optimizer stopped (which moves with the BLAS
    kernel and would change the sixth significant digit of a written table)."""
    fits = [(glmm.fit_glmm(X, y, g), X, y) for X, y, g in
            (simulate(np.random.default_rng(seed), sigma=0.0, n_groups=60) for seed in range(5, 12))]
    at_boundary = [(fit, X, y) for fit, X, y in fits if fit.sigma == 0.0]
    assert at_boundary, "no simulated data set gave a boundary fit"
    for fit, X, y in at_boundary:
        logit = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-14, maxiter=100)
        np.testing.assert_allclose(fit.params, logit.params, rtol=1e-8)
        np.testing.assert_allclose(fit.bse, logit.bse, rtol=1e-5)
        assert fit.llf == pytest.approx(logit.llf, abs=1e-8)


@pytest.mark.parametrize("seed,sigma,nagq", [(31, 0.8, 15), (35, 0.8, 1), (37, 1.5, 3), (34, 1.2, 7), (39, 2.0, 15)])
def test_newtons_method_and_l_bfgs_b_find_the_same_maximum(monkeypatch, seed, sigma, nagq):
    """An interior maximum is found by Newton's method on the closed-form information; with
    Newton's method switched off, L-BFGS-B and its polish find the same estimates and SEs."""
    X, y, g = simulate(np.random.default_rng(seed), n_groups=30, per_group=6, sigma=sigma)
    newton = glmm.fit_glmm(X, y, g, nagq=nagq)
    assert newton.sigma > glmm.NEWTON_MIN_SIGMA
    monkeypatch.setattr(glmm, "NEWTON_MIN_SIGMA", np.inf)
    lbfgsb = glmm.fit_glmm(X, y, g, nagq=nagq)
    assert newton.message == "Newton's method converged" and "CONVERGENCE" in lbfgsb.message
    assert newton.converged and lbfgsb.converged
    np.testing.assert_allclose(newton.params, lbfgsb.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(newton.bse, lbfgsb.bse, rtol=1e-7)
    assert newton.sigma == pytest.approx(lbfgsb.sigma, rel=1e-7)
    assert newton.llf == pytest.approx(lbfgsb.llf, abs=1e-9)


def test_a_clinic_sd_heading_for_zero_is_left_to_l_bfgs_b_bit_for_bit(monkeypatch):
    """Where the clinic SD falls below NEWTON_MIN_SIGMA, the search starts again as if Newton's
    method had not been tried: the same fit, to the last bit, as with it switched off."""
    fits = []
    for seed in range(5, 12):
        X, y, g = simulate(np.random.default_rng(seed), sigma=0.0, n_groups=60)
        with monkeypatch.context() as m:
            m.setattr(glmm, "NEWTON_MIN_SIGMA", np.inf)
            alone = glmm.fit_glmm(X, y, g)
        fits.append((glmm.fit_glmm(X, y, g), alone))
    boundary = [(fit, alone) for fit, alone in fits if fit.sigma == 0.0]
    assert boundary, "no simulated data set gave a boundary fit"
    for fit, alone in boundary:
        assert fit.message == alone.message and "CONVERGENCE" in fit.message
        assert np.array_equal(fit.params, alone.params) and np.array_equal(fit.cov, alone.cov)
        assert fit.llf == alone.llf and fit.notes == alone.notes


def test_estimates_and_standard_errors_do_not_depend_on_where_the_optimizer_started():
    """From two starting points the optimizer stops at different places (as it does under
    another BLAS kernel); the polished estimates and the information computed at them agree far
    below the sixth significant digit that tables are written with."""
    X, y, g = simulate(np.random.default_rng(8), n_groups=40)
    results = []
    for start in ([0.0, 0.0, 0.0, 0.5], [-1.0, 1.5, 0.4, 1.5]):
        prob = glmm._Problem(X, y, g, nagq=15)
        theta, success, _, H, _ = glmm._maximize(prob, np.array(start), 3, 500)
        assert success and theta[-1] > glmm.BOUNDARY_SIGMA
        results.append((theta, np.sqrt(np.diag(np.linalg.inv(H)))))
    (t1, se1), (t2, se2) = results
    np.testing.assert_allclose(t1, t2, rtol=1e-10)
    np.testing.assert_allclose(se1, se2, rtol=1e-10)


def test_invariant_to_rescaling_a_covariate():
    X, y, g = simulate(np.random.default_rng(6))
    a = glmm.fit_glmm(X, y, g)
    X2 = X.copy()
    X2[:, 1] = 10 * X2[:, 1] + 50
    b = glmm.fit_glmm(X2, y, g)
    assert b.params[1] * 10 == pytest.approx(a.params[1], rel=1e-4)
    assert b.bse[1] * 10 == pytest.approx(a.bse[1], rel=1e-3)
    assert b.llf == pytest.approx(a.llf, abs=1e-6)


def test_recovers_known_effects_and_covers_at_nominal_rate():
    """Over many simulated trials the estimates are centred on the truth and 95% CIs cover it."""
    rng = np.random.default_rng(7)
    truth = np.array([-0.6, 0.8, -0.3])
    sigma = 0.8
    est, cover, sig = [], [], []
    reps = 150
    for _ in range(reps):
        X, y, g = simulate(rng, n_groups=40, per_group=8, beta=truth, sigma=sigma)
        fit = glmm.fit_glmm(X, y, g, nagq=10)
        est.append(fit.params)
        sig.append(fit.sigma)
        cover.append(np.abs(fit.params - truth) <= 1.96 * fit.bse)
    est, cover = np.array(est), np.array(cover)
    mc_se = est.std(axis=0) / np.sqrt(reps)
    assert np.all(np.abs(est.mean(axis=0) - truth) < 4 * mc_se + 0.05)
    # binomial MC error at 150 replicates is about 1.8 points: allow 89-99%
    assert np.all((cover.mean(axis=0) > 0.89) & (cover.mean(axis=0) < 0.995))
    assert np.median(sig) == pytest.approx(sigma, abs=0.2)


def test_result_table_is_tidy():
    X, y, g = simulate(np.random.default_rng(8))
    t = glmm.fit_glmm(X, y, g, names=["intercept", "x", "z"]).summary_frame()
    assert list(t.columns) == ["term", "coef", "se", "or", "ci_low", "ci_high", "p", "clinic_var", "loglik", "converged"]
    assert (t["ci_low"] < t["or"]).all() and (t["or"] < t["ci_high"]).all()
    assert t["p"].between(0, 1).all()


@pytest.mark.parametrize("nagq", [1, 2, 3, 7, 15])
@pytest.mark.parametrize("seed,sigma,per_group", [(11, 0.5, 5), (12, 2.0, 3), (13, 6.0, 8)])
def test_gradient_of_the_adaptive_objective_matches_finite_differences(nagq, seed, sigma, per_group):
    """The mode and scale of the nodes move with the parameters; the gradient must include that."""
    X, y, g = simulate(np.random.default_rng(seed), n_groups=20, per_group=per_group, sigma=sigma)
    prob = glmm._Problem(X, y, g, nagq=nagq)
    theta = np.array([-0.3, 0.5, -0.1, 0.9 * sigma])
    numeric = approx_fprime(theta, lambda t: prob.evaluate(t, grad=False), centered=True, epsilon=1e-6)
    analytic = prob.evaluate(theta)[1]
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=2e-6)


def richardson_information(prob, theta, h=1e-3):
    """Minus the Jacobian of the exact gradient: central differences at steps h and h/2 combined
    by Richardson extrapolation (error of order h**4), one point at a time."""
    def central(step):
        cols = [(prob.evaluate(theta + step * e)[1] - prob.evaluate(theta - step * e)[1]) / (2 * step)
                for e in np.eye(len(theta))]
        return -np.column_stack(cols)
    H = (4 * central(h / 2) - central(h)) / 3
    return 0.5 * (H + H.T)


@pytest.mark.parametrize("nagq", [1, 2, 7, 15])
@pytest.mark.parametrize("seed,sigma,per_group", [(11, 0.5, 5), (12, 2.0, 3), (13, 6.0, 8), (14, 0.02, 6)])
def test_closed_form_information_is_the_derivative_of_the_exact_gradient(nagq, seed, sigma, per_group):
    """The observed information in closed form (the nodes' moving mode and scale differentiated
    twice) equals the exact gradient differentiated numerically, at any point with sigma > 0."""
    X, y, g = simulate(np.random.default_rng(seed), n_groups=20, per_group=per_group, sigma=sigma)
    prob = glmm._Problem(X, y, g, nagq=nagq)
    theta = np.array([-0.3, 0.5, -0.1, max(0.9 * sigma, 0.05)])
    closed = prob.information(theta)
    numeric = richardson_information(prob, theta)
    assert np.max(np.abs(closed - numeric)) < 1e-8 * np.max(np.abs(numeric))
    assert np.allclose(closed, closed.T, rtol=0, atol=1e-12 * np.max(np.abs(closed)))


def test_standard_errors_are_those_of_the_closed_form_information_at_the_estimate():
    X, y, g = simulate(np.random.default_rng(15), n_groups=30, per_group=6)
    fit = glmm.fit_glmm(X, y, g, nagq=15)
    T = glmm._standardizer(X)
    prob = glmm._Problem(X @ T, y, g, 15)
    theta = np.append(np.linalg.solve(T, fit.params), fit.sigma)
    cov = np.linalg.inv(richardson_information(prob, theta))
    assert np.allclose(fit.bse, np.sqrt(np.diag(T @ cov[:3, :3] @ T.T)), rtol=1e-9)
    assert fit.sigma_se == pytest.approx(np.sqrt(cov[3, 3]), rel=1e-9)


def test_cold_start_mode_search_finds_every_mode():
    """200+ random clusters, clinic SD up to 20, started at 0 and far away: |h'(mode)| < 1e-8."""
    rng = np.random.default_rng(21)
    sizes = rng.integers(1, 40, 240)
    g = np.repeat(np.arange(len(sizes)), sizes)
    X = np.column_stack([np.ones(len(g)), rng.normal(size=len(g))])
    for sigma in (0.1, 2.0, 10.0, 20.0):
        eta_true = X @ np.array([0.3, 1.5]) + sigma * rng.normal(size=len(sizes))[g]
        y = (rng.random(len(g)) < special.expit(eta_true)).astype(float)
        prob = glmm._Problem(X, y, g, nagq=1)
        eta0 = X @ np.array([-0.2, 1.0])
        for start in (np.zeros(prob.G), np.full(prob.G, 50.0), rng.normal(scale=30, size=prob.G)):
            b = prob.modes(eta0, sigma, start=start)
            p = special.expit(eta0 + sigma * b[prob.g])
            assert np.max(np.abs(sigma * np.bincount(prob.g, weights=prob.y - p) - b)) < 1e-8


def test_mode_search_failure_is_reported_not_silent():
    X, y, g = simulate(np.random.default_rng(22), sigma=5.0)
    prob = glmm._Problem(X, y, g, nagq=1)
    with pytest.raises(glmm.ModeSearchError, match="did not converge"):
        prob.modes(X @ np.array([0.0, 1.0, 0.0]), 5.0, start=np.full(prob.G, 40.0), maxiter=2)


def test_fit_does_not_depend_on_the_warm_start():
    X, y, g = simulate(np.random.default_rng(23), sigma=1.5)
    prob = glmm._Problem(X, y, g, nagq=3)
    theta = np.array([-0.4, 0.6, -0.1, 1.4])
    first = prob.evaluate(theta)                      # modes started at 0
    prob.evaluate(theta + np.array([1.0, -2.0, 0.5, 3.0]))
    again = prob.evaluate(theta)                      # warm-started from a distant point
    cold = glmm._Problem(X, y, g, nagq=3).evaluate(theta)
    assert again[0] == pytest.approx(cold[0], abs=1e-12) and first[0] == pytest.approx(cold[0], abs=1e-12)
    assert np.allclose(again[1], cold[1], atol=1e-10)


def test_the_point_just_evaluated_is_not_evaluated_again(monkeypatch):
    X, y, g = simulate(np.random.default_rng(26), sigma=1.0)
    prob = glmm._Problem(X, y, g, nagq=5)
    theta = np.array([-0.5, 0.7, -0.2, 0.9])
    first = prob.evaluate(theta)
    first[1][:] = 0.0                                 # the caller's copy: the kept one is unchanged
    evaluate, passes = prob._evaluate, []
    monkeypatch.setattr(prob, "_evaluate", lambda t, grad: passes.append(t.copy()) or evaluate(t, grad))
    again = prob.evaluate(theta.copy())               # where L-BFGS-B stopped, asked again by the polish
    fresh = glmm._Problem(X, y, g, nagq=5).evaluate(theta)
    assert passes == [] and again[0] == fresh[0] and np.array_equal(again[1], fresh[1])
    moved = theta + np.array([0.0, 1e-12, 0.0, 0.0])
    assert prob.evaluate(moved)[0] != again[0] and len(passes) == 1
    assert prob.evaluate(moved, grad=False) == pytest.approx(fresh[0], abs=1e-9) and len(passes) == 2


@pytest.mark.parametrize("nagq", [1, 3])
def test_few_nodes_converge_where_the_old_gradient_failed(nagq):
    X, y, g = simulate(np.random.default_rng(24), n_groups=34, per_group=5, sigma=1.0)
    fit = glmm.fit_glmm(X, y, g, nagq=nagq)
    assert fit.converged and np.all(np.isfinite(fit.bse))
    prob = glmm._Problem(X, y, g, nagq)
    assert np.max(np.abs(prob.evaluate(np.append(fit.params, fit.sigma))[1][:3])) < 1e-4


def test_quasi_separation_is_reported_by_the_library_itself():
    X, y, g = simulate(np.random.default_rng(25))
    y = (X[:, 1] > 0).astype(float)                   # x perfectly predicts the outcome
    fit = glmm.fit_glmm(X, y, g)
    assert not fit.converged
    assert any("separation" in n for n in fit.notes)


def test_statsmodels_style_result():
    X, y, g = simulate(np.random.default_rng(26))
    fit = glmm.fit_glmm(X, y, g, names=["intercept", "x", "z"])
    ci = fit.conf_int()
    assert ci.shape == (3, 2) and np.all(ci[:, 0] < fit.params) and np.all(fit.params < ci[:, 1])
    assert np.allclose(fit.cov_params(), fit.cov) and fit.nobs == len(y)
    assert np.allclose(fit.pvalues, fit.summary_frame()["p"])


def _ok_input():
    rng = np.random.default_rng(2)
    X, y, g = simulate(rng)
    return X, y, g


@pytest.mark.parametrize("change, message", [
    (lambda X, y, g: (X, y, g[:-1]), "one row per observation"),
    (lambda X, y, g: (X[:-2], y, g), "one row per observation"),
    (lambda X, y, g: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X), y, g), "missing or infinite"),
    (lambda X, y, g: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X), y, g), "missing or infinite"),
    (lambda X, y, g: (X, y + 1, g), "y must be 0 or 1"),
    (lambda X, y, g: (X, y, np.where(np.arange(len(g)) < 3, None, g).astype(object)), "missing cluster ID"),
    (lambda X, y, g: (X, y, np.where(np.arange(len(g)) < 3, np.nan, g.astype(float))), "missing cluster ID"),
    (lambda X, y, g: (X, y, np.zeros_like(g)), "at least two clusters"),
    (lambda X, y, g: (X[:, 0], y, g), "two-dimensional"),
])
def test_bad_input_is_a_clear_error(change, message):
    """glmer refuses a single cluster and drops rows without a cluster; fit_glmm refuses both, and
    every other input that would give a wrong nobs, a pooled cluster or a meaningless likelihood."""
    X, y, g = change(*_ok_input())
    with pytest.raises(ValueError, match=message):
        glmm.fit_glmm(X, y, g, nagq=3)


def test_names_must_match_the_columns():
    X, y, g = _ok_input()
    with pytest.raises(ValueError, match="names has 2 entries for the 3 columns"):
        glmm.fit_glmm(X, y, g, names=["a", "b"], nagq=3)


def test_the_docstring_example_runs():
    import doctest

    result = doctest.run_docstring_examples(glmm.fit_glmm, {"np": np, "fit_glmm": glmm.fit_glmm}, verbose=False)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(glmm.fit_glmm, globs={"np": np, "fit_glmm": glmm.fit_glmm}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 3 and result is None


@pytest.mark.parametrize("batch_elements", [glmm.BATCH_ELEMENTS, 2 * 170 * 7])   # one batch; chunks of 2 points
def test_batched_gradients_equal_the_gradient_at_each_point(monkeypatch, batch_elements):
    monkeypatch.setattr(glmm, "BATCH_ELEMENTS", batch_elements)
    X, y, g = simulate(np.random.default_rng(31))
    rng = np.random.default_rng(32)
    points = np.column_stack([rng.normal(scale=0.5, size=(9, 3)), [0.0, 0.3, 0.8, 1.5, 2.5, 0.01, 1.0, 0.5, 4.0]])
    prob = glmm._Problem(X, y, g, nagq=7)
    one_by_one = np.array([glmm._Problem(X, y, g, nagq=7).evaluate(t)[1] for t in points])
    np.testing.assert_allclose(prob.gradients(points), one_by_one, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n_groups, per_group", [(34, 5), (3, 1500)])   # small clusters; products that underflow
def test_cluster_products_and_summed_logs_give_the_same_likelihood(monkeypatch, n_groups, per_group):
    """Each cluster's log-likelihood at a node is the log of its product of probabilities, or,
    where that product nears underflow (large clusters), the sum of the logs: the two agree."""
    X, y, g = simulate(np.random.default_rng(33), n_groups=n_groups, per_group=per_group)
    points = np.array([[-0.5, 0.7, -0.2, 0.9], [0.3, -1.2, 0.4, 2.5], [-0.6, 0.8, -0.3, 0.0]])
    products = glmm._Problem(X, y, g, nagq=9)._evaluate(points, True)
    monkeypatch.setattr(glmm, "TINY_PRODUCT", np.inf)          # every cluster: summed logs
    summed = glmm._Problem(X, y, g, nagq=9)._evaluate(points, True)
    assert np.all(np.isfinite(products[0])) and np.all(np.isfinite(products[1]))
    np.testing.assert_allclose(products[0], summed[0], rtol=1e-12)
    np.testing.assert_allclose(products[1], summed[1], rtol=1e-9, atol=1e-9)
    if per_group > 100:     # these products do underflow: without the fallback there is no likelihood
        monkeypatch.setattr(glmm, "TINY_PRODUCT", 0.0)
        with np.errstate(all="ignore"):
            assert not np.any(np.isfinite(glmm._Problem(X, y, g, nagq=9)._evaluate(points, False)[0]))


def _separated_by_linear_program(X, y) -> bool:
    """The linear program alone (Konis 2007), without the certificate that skips it."""
    from scipy import optimize

    s = (2 * y - 1)[:, None] * X
    res = optimize.linprog(c=-s.sum(axis=0), A_ub=-s, b_ub=np.zeros(len(y)), bounds=[(-1, 1)] * s.shape[1],
                           method="highs")
    return bool(res.status == 0 and -res.fun > 1e-7)


def test_the_overlap_certificate_never_contradicts_the_linear_program():
    """On 400 data sets, separated or not (complete, quasi-complete by a tied binary covariate,
    rare events, collinear columns, covariates in large units), the check with its certificate
    says what the linear program says; the certificate does skip it for most unseparated ones."""
    rng = np.random.default_rng(41)
    certified = unseparated = 0
    for i in range(400):
        n, p = int(rng.integers(4, 120)), int(rng.integers(1, 6))
        X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1)) * rng.choice([1, 10, 50])])
        beta = rng.normal(size=p) * rng.choice([0.3, 1, 5, 30])
        y = (rng.random(n) < special.expit(X @ beta)).astype(float)
        if i % 5 == 1:                     # quasi-complete: every event has a binary covariate at 1
            X = np.column_stack([X, np.where(y == 1, 1.0, rng.integers(0, 2, n))])
        if i % 7 == 2 and X.shape[1] > 1:  # a collinear column
            X = np.column_stack([X, 2 * X[:, -1]])
        expected = _separated_by_linear_program(X, y)
        assert glmm.separation(X, y) == expected, i
        unseparated += not expected
        certified += glmm._overlap((2 * y - 1)[:, None] * X)
    assert certified > unseparated / 2


@pytest.mark.parametrize("sigma", [0.8, 0.0])
def test_a_warm_start_finds_the_fit_a_cold_start_finds(sigma):
    """Leave-one-clinic-out starts each refit from the full fit: the refit must be the one a
    search from scratch finds, interior clinic SD or boundary alike, and even where the full fit
    sits at the boundary and the refit does not (the likelihood's slope in sigma is 0 at 0)."""
    X, y, g = simulate(np.random.default_rng(7), sigma=sigma)
    full = glmm.fit_glmm(X, y, g, nagq=7)
    for clinic in range(6):
        keep = g != clinic
        cold = glmm.fit_glmm(X[keep], y[keep], g[keep], nagq=7)
        warm = glmm.fit_glmm(X[keep], y[keep], g[keep], nagq=7, start=full)
        assert warm.converged == cold.converged
        assert warm.params == pytest.approx(cold.params, rel=1e-8, abs=1e-10)
        assert warm.sigma == pytest.approx(cold.sigma, abs=1e-7)
        assert warm.llf == pytest.approx(cold.llf, abs=1e-9)
    boundary = glmm.fit_glmm(X, y, g, nagq=7, start=glmm.GLMMResult(
        exog_names=full.exog_names, params=full.params, sigma=0.0, cov=full.cov, sigma_se=np.nan, llf=np.nan,
        converged=True, nobs=full.nobs, n_groups=full.n_groups, nagq=7))
    assert boundary.sigma == pytest.approx(full.sigma, abs=1e-7)   # not held at 0 by the start


def test_an_unusable_start_is_ignored():
    X, y, g = simulate(np.random.default_rng(8))
    cold = glmm.fit_glmm(X, y, g, nagq=5)
    other = glmm.fit_glmm(X[:, :2], y, g, nagq=5)           # one column fewer: not this model's start
    assert glmm.fit_glmm(X, y, g, nagq=5, start=other).params == pytest.approx(cold.params, rel=1e-8)

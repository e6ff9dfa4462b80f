"""Tests for the debiased Sinkhorn divergence.

References: single points (closed form), the entropic cost maximised by
L-BFGS on its float64 semi-dual (written here), exact transport from SciPy's
assignment solver and the 1-D W_1 of scipy.stats as epsilon shrinks, the
large-epsilon limit in closed form, central finite differences for
gradients, and identities.
"""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
import tensorflow as tf

from discrepancy.divergences import sinkhorn_divergence

DTYPES = [np.float32, np.float64]

# A small tile makes the tests cross tile boundaries and exercise the
# padding. Sets of at most 16 points pad to 8 or 16 rows, so a few compiled
# programs per dtype, p and d serve most tests.
TILE = 8


def random_weights(rng, size):
    weights = rng.random(size) + 0.1
    return weights / weights.sum()


def reference_entropic_cost(x, y, a, b, epsilon, p):
    """OT_eps with the KL(pi | a x b) penalty, by L-BFGS on the float64 semi-dual.

    The semi-dual F(g) = <a, T(g)> + <b, g>, with T(g)_i = -eps log sum_j
    b_j exp((g_j - C_ij) / eps), is concave with gradient b - (column sums of
    the plan), and its maximum is OT_eps (Cuturi and Peyre 2016). This
    algorithm shares nothing with the Sinkhorn iterations under test.
    """
    cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2) ** p
    log_b = np.log(b)

    def negative_semi_dual(g):
        log_kernel = log_b[None, :] + (g[None, :] - cost) / epsilon
        log_sums = scipy.special.logsumexp(log_kernel, axis=1)
        plan_rows = np.exp(log_kernel - log_sums[:, None])
        value = a @ (-epsilon * log_sums) + b @ g
        return -value, -(b - a @ plan_rows)

    result = scipy.optimize.minimize(
        negative_semi_dual,
        np.zeros(len(b)),
        jac=True,
        method="L-BFGS-B",
        options=dict(maxiter=10_000, gtol=1e-15, ftol=1e-17, maxcor=30),
    )
    assert np.abs(result.jac).sum() < 1e-8
    return float(-result.fun)


def reference_divergence(x, y, a, b, epsilon, p):
    return (
        reference_entropic_cost(x, y, a, b, epsilon, p)
        - 0.5 * reference_entropic_cost(x, x, a, a, epsilon, p)
        - 0.5 * reference_entropic_cost(y, y, b, b, epsilon, p)
    )


def quiet_divergence(*args, **kwargs):
    """Calls sinkhorn_divergence with convergence warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return sinkhorn_divergence(*args, **kwargs)


# ---------------------------------------------------------------------------
# Values.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_sinkhorn_single_points(dtype, p):
    # One point each: the only plan moves all mass and has KL 0, and the self
    # terms are 0, so S_eps = |x - y|^p for every epsilon.
    x = np.array([[0.0, 0.0]], dtype)
    y = np.array([[3.0, 4.0]], dtype)
    for epsilon in (0.01, 1.0, 100.0):
        value = sinkhorn_divergence(x, y, epsilon, p=p, tile_size=TILE)
        assert value.dtype == tf.as_dtype(dtype)
        assert float(value) == pytest.approx(5.0**p, rel=1e-6)  # float32 rounding of the inputs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0])
def test_sinkhorn_matches_reference(dtype, p):
    rng = np.random.default_rng(1)
    x, y = rng.random((11, 2)), rng.random((7, 2)) + 0.3
    a, b = random_weights(rng, 11), random_weights(rng, 7)
    for epsilon in (0.5, 0.05):
        expected = reference_divergence(x, y, a, b, epsilon, p)
        value = sinkhorn_divergence(
            x.astype(dtype), y.astype(dtype), epsilon, p=p, x_weights=a, y_weights=b,
            tolerance=1e-10 if dtype == np.float64 else 1e-6, max_iterations=5000, tile_size=TILE,
        )
        # float64: converged to 1e-10 in the marginals, and L-BFGS to a
        # gradient of 1e-8 (L1). float32: potentials at float32 precision,
        # evaluated by the float64 semi-dual, whose error is second order in
        # the potentials' error.
        rtol = 1e-8 if dtype == np.float64 else 1e-6
        assert float(value) == pytest.approx(expected, rel=rtol)


def test_sinkhorn_matches_reference_many_features():
    # d >= 9 takes the matrix-product path for the cost blocks.
    rng = np.random.default_rng(2)
    x, y = rng.random((12, 16)), rng.random((9, 16)) * 1.2
    a, b = np.full(12, 1 / 12), np.full(9, 1 / 9)
    expected = reference_divergence(x, y, a, b, 0.1, 2.0)
    value = sinkhorn_divergence(x, y, 0.1, tolerance=1e-10, tile_size=TILE)
    assert float(value) == pytest.approx(expected, rel=1e-8)


def test_sinkhorn_one_dimension():
    rng = np.random.default_rng(3)
    x, y = rng.random((10, 1)), rng.random((14, 1)) - 0.5
    a, b = np.full(10, 0.1), np.full(14, 1 / 14)
    expected = reference_divergence(x, y, a, b, 0.02, 2.0)
    value = sinkhorn_divergence(x, y, 0.02, tolerance=1e-10, max_iterations=5000, tile_size=TILE)
    assert float(value) == pytest.approx(expected, rel=1e-8)


def test_sinkhorn_zero_weight_drops_point():
    rng = np.random.default_rng(4)
    x, y = rng.random((6, 2)), rng.random((5, 2))
    weights = np.array([0.2, 0.0, 0.3, 0.1, 0.0, 0.4])
    nonzero = weights > 0
    options = dict(tolerance=1e-10, tile_size=TILE)
    expected = float(sinkhorn_divergence(x[nonzero], y, 0.5, x_weights=weights[nonzero], **options))
    value = sinkhorn_divergence(x, y, 0.5, x_weights=weights, **options)
    assert float(value) == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------------------
# Approach to exact transport as epsilon shrinks.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_sinkhorn_approaches_assignment_cost(dtype):
    # Uniform weights and n = m: 0 <= OT_eps(a, b) - W <= eps log n, because
    # KL(pi | a x b) of a permutation plan is log n, and 0 <= OT_eps(a, a)
    # <= eps log n likewise. So |S_eps - W_2^2| <= eps log n.
    rng = np.random.default_rng(5)
    n = 12
    x, y = rng.random((n, 2)), rng.random((n, 2))
    cost = np.sum((x[:, None] - y[None]) ** 2, axis=2)
    rows, columns = scipy.optimize.linear_sum_assignment(cost)
    exact = cost[rows, columns].mean()

    errors = []
    for epsilon in (1e-1, 1e-2, 1e-3, 1e-4):
        value = float(
            sinkhorn_divergence(x.astype(dtype), y.astype(dtype), epsilon, max_iterations=20_000, tile_size=TILE)
        )
        errors.append(abs(value - exact))
        assert errors[-1] <= epsilon * np.log(n) + 1e-6  # 1e-6: convergence tolerance slack
    assert errors[-1] < 1e-3 * exact


def test_sinkhorn_approaches_1d_exact_cost():
    # 1-D, n != m, p = 1: the limit is W_1 from scipy.stats.
    rng = np.random.default_rng(6)
    x, y = rng.random((15, 1)), rng.random((10, 1)) + 0.3
    exact = scipy.stats.wasserstein_distance(x[:, 0], y[:, 0])
    previous_error = np.inf
    for epsilon in (1e-1, 1e-2, 1e-3):
        value = float(sinkhorn_divergence(x, y, epsilon, p=1, max_iterations=20_000, tile_size=TILE))
        error = abs(value - exact)
        assert error < previous_error
        previous_error = error
    assert previous_error < 2e-2 * exact


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_sinkhorn_large_epsilon_limit(p):
    # As eps -> inf, S_eps -> (2 E c(X, Y) - E c(X, X') - E c(Y, Y')) / 2
    # (Feydy et al. 2019), half the energy distance for p = 1. The gap
    # shrinks like 1 / eps: about 1e-6 relative at eps = 1e4 here.
    rng = np.random.default_rng(18)
    x, y = rng.random((12, 2)), rng.random((9, 2)) + 0.2

    def mean_cost(u, v):
        return np.mean(np.linalg.norm(u[:, None] - v[None], axis=2) ** p)

    expected = 0.5 * (2 * mean_cost(x, y) - mean_cost(x, x) - mean_cost(y, y))
    value = sinkhorn_divergence(x, y, 1e4, p=p, tolerance=1e-12, tile_size=TILE)
    assert float(value) == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------------------
# Identities and signs.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_sinkhorn_identities(dtype):
    rng = np.random.default_rng(7)
    x = rng.random((13, 2)).astype(dtype)
    y = (rng.random((9, 2)) + 0.5).astype(dtype)
    tight = dict(tolerance=1e-6, tile_size=TILE)

    # S(x, x) is 0 up to the convergence error of the cross term.
    assert abs(float(sinkhorn_divergence(x, x, 0.1, **tight))) < 1e-7
    forward = float(sinkhorn_divergence(x, y, 0.1, **tight))
    backward = float(sinkhorn_divergence(y, x, 0.1, **tight))
    assert forward == pytest.approx(backward, rel=1e-6)
    shift = np.array([[1e3, -2e3]], dtype)
    shifted = float(sinkhorn_divergence(x + shift, y + shift, 0.1, **tight))
    # float32 inputs lose about ulp(2e3) = 1e-4 per coordinate when shifted.
    assert shifted == pytest.approx(forward, rel=1e-9 if dtype == np.float64 else 1e-3)


def test_sinkhorn_non_negative():
    # The semi-duals' error is second order in the potentials' error, so at
    # the default tolerance 1e-4 the negativity stays far below eps * tol.
    # Converged to 1e-10, only rounding remains. A wrong sign in the
    # debiasing would give values of order -eps.
    rng = np.random.default_rng(8)
    epsilon = 0.05
    for trial in range(5):
        x = rng.random((10, 2))
        y = x + rng.normal(size=(10, 2)) * 10.0 ** (-trial)
        for p in (1.0, 2.0):
            default = float(sinkhorn_divergence(x, y, epsilon, p=p, tile_size=TILE))
            assert default >= -epsilon * 1e-4, (trial, p)
        # p = 1 is left out here: for nearly equal sets its dual is flat in many
        # directions and Sinkhorn needs over 9,000 iterations to reach 1e-9.
        tight = float(sinkhorn_divergence(x, y, epsilon, tolerance=1e-10, max_iterations=5000, tile_size=TILE))
        assert tight >= -1e-13, trial


def test_sinkhorn_scale_covariance():
    # S(s x, s y; s^2 eps) = s^2 S(x, y; eps) for p = 2. Scales 1e-12 and 1e9
    # put the costs outside [1e-15, 1e15], where float64 samples skip the
    # float32 warm start; scale 1e3 keeps it.
    rng = np.random.default_rng(19)
    x, y = rng.random((10, 2)), rng.random((7, 2)) + 0.2
    options = dict(tolerance=1e-11, max_iterations=5000, tile_size=TILE)
    expected = float(sinkhorn_divergence(x, y, 0.05, **options))
    for scale in (1e-12, 1e3, 1e9):
        value, diagnostics = sinkhorn_divergence(
            x * scale, y * scale, 0.05 * scale**2, return_diagnostics=True, **options
        )
        assert float(value) / scale**2 == pytest.approx(expected, rel=1e-9), scale
        uses_warm_start = int(diagnostics["float32_iterations"]) > 0
        assert uses_warm_start == (scale == 1e3), scale


def test_sinkhorn_large_offset():
    # Means around 1e4 with spread 1e-2: centring keeps the cost accurate.
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(10, 2)) * 1e-2, rng.normal(size=(8, 2)) * 1e-2 + 5e-3
    offset = np.array([[1e4, 1e4]])
    options = dict(tolerance=1e-10, tile_size=TILE)
    expected = float(sinkhorn_divergence(x, y, 1e-5, **options))
    assert float(sinkhorn_divergence(x + offset, y + offset, 1e-5, **options)) == pytest.approx(
        expected, rel=1e-6
    )


# ---------------------------------------------------------------------------
# Overflow and underflow: epsilon / largest cost from 1e-4 to 10, cost scales
# from 1e-3 to 1e3.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_sinkhorn_epsilon_and_scale_sweep(dtype):
    rng = np.random.default_rng(10)
    base_x, base_y = rng.random((9, 2)), rng.random((6, 2)) + 0.3
    for cost_scale in (1e-3, 1.0, 1e3):
        # For p = 2, scaling the data by s scales every cost by s^2.
        x = (base_x * np.sqrt(cost_scale)).astype(dtype)
        y = (base_y * np.sqrt(cost_scale)).astype(dtype)
        largest = float(np.max(np.sum((x[:, None] - y[None]) ** 2, axis=2)))
        for ratio in (1e-4, 1e-2, 1.0, 10.0):
            xv, yv = tf.Variable(x), tf.Variable(y)
            with tf.GradientTape() as tape:
                value, diagnostics = quiet_divergence(
                    xv, yv, ratio * largest, max_iterations=300, return_diagnostics=True, tile_size=TILE
                )
            gradient_x, gradient_y = tape.gradient(value, [xv, yv])
            case = f"cost scale {cost_scale:g}, epsilon ratio {ratio:g}"
            assert np.isfinite(float(value)), case
            assert float(value) >= -1e-6 * largest, case
            assert np.isfinite(gradient_x.numpy()).all(), case
            assert np.isfinite(gradient_y.numpy()).all(), case
            assert np.isfinite(float(diagnostics["marginal_error"])), case


# ---------------------------------------------------------------------------
# Convergence reporting.
# ---------------------------------------------------------------------------


def test_sinkhorn_iteration_limit_warns():
    rng = np.random.default_rng(11)
    x, y = rng.random((10, 2)), rng.random((8, 2))
    for limit in (1, 10):
        with pytest.warns(RuntimeWarning, match=f"max_iterations={limit}\\)"):
            _, diagnostics = sinkhorn_divergence(
                x, y, 1e-3, max_iterations=limit, return_diagnostics=True, tile_size=TILE
            )
        assert not bool(diagnostics["converged"])
        assert int(diagnostics["iterations"]) == limit


def test_sinkhorn_converged_diagnostics():
    rng = np.random.default_rng(12)
    x, y = rng.random((10, 2)), rng.random((8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, diagnostics = sinkhorn_divergence(x, y, 0.05, return_diagnostics=True, tile_size=TILE)
    assert bool(diagnostics["converged"])
    assert float(diagnostics["marginal_error"]) <= 1e-4
    assert diagnostics["epsilon"] == 0.05
    assert float(diagnostics["epsilon_start"]) > 0.05


def test_sinkhorn_tolerances_approach_long_run():
    # Each converged value lies within its tolerance (relative to the value's
    # scale) of a run converged to 1e-13.
    rng = np.random.default_rng(13)
    x, y = rng.random((10, 2)), rng.random((8, 2)) + 0.2
    long_run = float(sinkhorn_divergence(x, y, 0.02, tolerance=1e-13, max_iterations=20_000, tile_size=TILE))
    for tolerance in (1e-3, 1e-6, 1e-9, 1e-12):
        value, diagnostics = sinkhorn_divergence(
            x, y, 0.02, tolerance=tolerance, max_iterations=20_000, return_diagnostics=True, tile_size=TILE
        )
        assert bool(diagnostics["converged"])
        assert float(diagnostics["marginal_error"]) <= tolerance
        assert float(value) == pytest.approx(long_run, abs=tolerance * long_run + 1e-15)


# ---------------------------------------------------------------------------
# Gradients.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_sinkhorn_gradient_matches_finite_differences(p):
    rng = np.random.default_rng(14)
    x, y = rng.random((7, 2)), rng.random((5, 2)) + 0.4
    a = random_weights(rng, 7)
    options = dict(p=p, x_weights=a, tolerance=1e-12, max_iterations=5000, tile_size=TILE)
    xv, yv = tf.Variable(x), tf.Variable(y)
    with tf.GradientTape() as tape:
        value = sinkhorn_divergence(xv, yv, 0.3, **options)
    gradient_x, gradient_y = tape.gradient(value, [xv, yv])

    # Central differences with step 1e-5: truncation O(h^2) ~ 1e-10, and the
    # converged value carries about 1e-12 of solver error.
    step = 1e-5
    for points, gradient, index in ((x, gradient_x, (2, 1)), (y, gradient_y, (4, 0))):
        shifted = points.copy()
        shifted[index] += step
        arguments = (shifted, y) if points is x else (x, shifted)
        upper = float(sinkhorn_divergence(*arguments, 0.3, **options))
        shifted[index] -= 2 * step
        lower = float(sinkhorn_divergence(*arguments, 0.3, **options))
        assert gradient.numpy()[index] == pytest.approx((upper - lower) / (2 * step), abs=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sinkhorn_gradient_dtype_and_equal_sets(dtype):
    x = tf.Variable(np.random.default_rng(15).random((9, 2)).astype(dtype))
    with tf.GradientTape() as tape:
        value = sinkhorn_divergence(x, tf.identity(x), 0.01, p=1, tile_size=TILE)
    gradient = tape.gradient(value, x)
    assert gradient.dtype == tf.as_dtype(dtype)
    assert np.isfinite(gradient.numpy()).all()
    # At x = y the divergence is minimal, so its gradient is about 0.
    np.testing.assert_allclose(gradient.numpy(), 0.0, atol=1e-4)


def test_sinkhorn_inside_tf_function():
    rng = np.random.default_rng(16)
    x, y = rng.random((10, 2)), rng.random((7, 2))
    compiled = tf.function(lambda x, y: sinkhorn_divergence(x, y, 0.1, tile_size=TILE))
    assert float(compiled(tf.constant(x), tf.constant(y))) == pytest.approx(
        float(sinkhorn_divergence(x, y, 0.1, tile_size=TILE)), rel=1e-12
    )
    limited = tf.function(lambda x, y: sinkhorn_divergence(x, y, 1e-3, max_iterations=1, tile_size=TILE))
    with pytest.warns(RuntimeWarning, match="not converged"):
        limited(tf.constant(x), tf.constant(y))


# ---------------------------------------------------------------------------
# Invalid input.
# ---------------------------------------------------------------------------


def test_sinkhorn_rejects_bad_samples():
    good = np.zeros((4, 2))
    with pytest.raises(ValueError, match="must have shape"):
        sinkhorn_divergence(np.zeros((2, 2, 2)), good, 0.1)
    with pytest.raises(ValueError, match="same number of features"):
        sinkhorn_divergence(good, np.zeros((4, 3)), 0.1)
    with pytest.raises(ValueError, match="non-finite"):
        sinkhorn_divergence(good, np.array([[np.inf, 0.0]]), 0.1)


def test_sinkhorn_rejects_bad_weights():
    good = np.zeros((3, 2))
    with pytest.raises(ValueError, match="negative weight"):
        sinkhorn_divergence(good, good, 0.1, x_weights=[0.5, 0.7, -0.2])
    with pytest.raises(ValueError, match="sums to"):
        sinkhorn_divergence(good, good, 0.1, y_weights=[2.0, 1.0, 1.0])


def test_sinkhorn_rejects_bad_options():
    rng = np.random.default_rng(17)
    x = rng.random((4, 2))
    with pytest.raises(ValueError, match="`epsilon` must be positive"):
        sinkhorn_divergence(x, x, 0.0)
    with pytest.raises(ValueError, match="between 1 and 2"):
        sinkhorn_divergence(x, x, 0.1, p=3)
    with pytest.raises(ValueError, match=r"`scaling` must be in \(0, 1\)"):
        sinkhorn_divergence(x, x, 0.1, scaling=1.0)
    with pytest.raises(ValueError, match="`max_iterations` must be at least 1"):
        sinkhorn_divergence(x, x, 0.1, max_iterations=0)
    with pytest.raises(ValueError, match="`tolerance` must be positive"):
        sinkhorn_divergence(x, x, 0.1, tolerance=-1.0)
    with pytest.raises(ValueError, match="`tile_size` must be at least 1"):
        sinkhorn_divergence(x, x, 0.1, tile_size=0)
    with pytest.raises(ValueError, match="cannot converge"):
        sinkhorn_divergence(x, x + 1.0, 1e-20)
    with pytest.raises(TypeError, match="unexpected keyword"):
        sinkhorn_divergence(x, x, 0.1, blur=0.1)
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        sinkhorn_divergence(x, x)

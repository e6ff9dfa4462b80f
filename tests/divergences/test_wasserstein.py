"""Tests for the exact and sliced Wasserstein distances.

References: hand-computed transport on a few points, scipy.stats for the 1-D
W_1, a float64 NumPy quantile integral for the 1-D W_p, SciPy's assignment
and linear-programming solvers for small sets in d > 1, and POT's sliced
distance on the same directions.
"""

import warnings

import numpy as np
import ot
import pytest
import scipy.optimize
import scipy.stats
import tensorflow as tf

from discrepancy.divergences import sliced_wasserstein, wasserstein

DTYPES = [np.float32, np.float64]

# Deterministic float32 work on O(1) values: sorts are exact, and the only
# rounding is in the projections and the differences.
FLOAT32_RTOL = 1e-5
FLOAT64_RTOL = 1e-10


def rtol_for(dtype):
    return FLOAT32_RTOL if dtype == np.float32 else FLOAT64_RTOL


def random_weights(rng, size):
    weights = rng.random(size) + 0.1
    return weights / weights.sum()


def quantile_wasserstein_1d(u, v, u_weights, v_weights, p):
    """W_p^p in 1-D by integrating |F^-1 - G^-1|^p over the merged CDF breakpoints."""
    u_order, v_order = np.argsort(u), np.argsort(v)
    u_sorted, v_sorted = u[u_order], v[v_order]
    u_cdf = np.cumsum(u_weights[u_order])
    v_cdf = np.cumsum(v_weights[v_order])
    u_cdf /= u_cdf[-1]
    v_cdf /= v_cdf[-1]
    grid = np.union1d(u_cdf, v_cdf)
    lower = np.concatenate([[0.0], grid[:-1]])
    middle = 0.5 * (lower + grid)
    u_quantile = u_sorted[np.minimum(np.searchsorted(u_cdf, middle), len(u) - 1)]
    v_quantile = v_sorted[np.minimum(np.searchsorted(v_cdf, middle), len(v) - 1)]
    return float(np.sum((grid - lower) * np.abs(u_quantile - v_quantile) ** p))


def linprog_transport_cost(x, y, a, b, p):
    """Exact transport cost min <pi, C> by SciPy's HiGHS linear-programming solver."""
    n, m = len(a), len(b)
    cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2) ** p
    rows = np.kron(np.eye(n), np.ones((1, m)))
    columns = np.kron(np.ones((1, n)), np.eye(m))
    result = scipy.optimize.linprog(
        cost.ravel(),
        A_eq=np.vstack([rows, columns]),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    assert result.status == 0
    return float(result.fun)


# ---------------------------------------------------------------------------
# wasserstein: hand-computed values and conventions.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_single_points(dtype):
    # One point each: all mass moves |(3, 4) - (0, 0)| = 5 for every p.
    x = np.array([[0.0, 0.0]], dtype)
    y = np.array([[3.0, 4.0]], dtype)
    for p in (1, 2, 3):
        assert float(wasserstein(x, y, p=p)) == pytest.approx(5.0, rel=rtol_for(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_root_convention(dtype):
    # x = {0, 0}, y = {0, 2}: the cost is 0.5 * 2^p, so W_1 = 1 and
    # W_2 = sqrt(2). A cost / p convention would give 1, the cost itself 2.
    x = np.array([[0.0], [0.0]], dtype)
    y = np.array([[0.0], [2.0]], dtype)
    assert float(wasserstein(x, y, p=1)) == pytest.approx(1.0, rel=rtol_for(dtype))
    assert float(wasserstein(x, y, p=2)) == pytest.approx(np.sqrt(2.0), rel=rtol_for(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_hand_weighted(dtype):
    # Weights (0.25, 0.75) on {0, 1} against one point at 0: 0.75 of the mass
    # moves by 1, so W_1 = 0.75 and W_2 = sqrt(0.75), in 1-D and in 2-D.
    x = np.array([[0.0], [1.0]], dtype)
    y = np.array([[0.0]], dtype)
    weights = np.array([0.25, 0.75])
    assert float(wasserstein(x, y, p=1, x_weights=weights)) == pytest.approx(0.75, rel=rtol_for(dtype))
    assert float(wasserstein(x, y, p=2, x_weights=weights)) == pytest.approx(
        np.sqrt(0.75), rel=rtol_for(dtype)
    )

    x2 = np.array([[0.0, 0.0], [1.0, 0.0]], dtype)
    y2 = np.array([[0.0, 0.0]], dtype)
    assert float(wasserstein(x2, y2, p=2, x_weights=weights)) == pytest.approx(
        np.sqrt(0.75), rel=rtol_for(dtype)
    )


def test_wasserstein_hand_square():
    # Two points moved up by 1 each: any p gives 1. Crossing the pairs would cost sqrt(2).
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    y = np.array([[1.0, 1.0], [0.0, 1.0]])
    for p in (1, 2):
        assert float(wasserstein(x, y, p=p)) == pytest.approx(1.0, rel=FLOAT64_RTOL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_returns_input_dtype(dtype):
    rng = np.random.default_rng(1)
    for d in (1, 3):
        x = rng.normal(size=(5, d)).astype(dtype)
        y = rng.normal(size=(4, d)).astype(dtype)
        assert wasserstein(x, y).dtype == tf.as_dtype(dtype)


# ---------------------------------------------------------------------------
# wasserstein: agreement with independent references.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_1d_matches_scipy(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(37, 1))
    y = rng.normal(loc=0.4, scale=1.5, size=(23, 1))
    a, b = random_weights(rng, 37), random_weights(rng, 23)

    expected = scipy.stats.wasserstein_distance(x[:, 0], y[:, 0])
    assert float(wasserstein(x.astype(dtype), y.astype(dtype))) == pytest.approx(
        expected, rel=rtol_for(dtype)
    )

    expected_weighted = scipy.stats.wasserstein_distance(x[:, 0], y[:, 0], a, b)
    value = wasserstein(x.astype(dtype), y.astype(dtype), x_weights=a, y_weights=b)
    assert float(value) == pytest.approx(expected_weighted, rel=rtol_for(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2.0, 3.0])
def test_wasserstein_1d_matches_quantile_reference(dtype, p):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(41, 1))
    y = rng.exponential(size=(29, 1))
    a, b = random_weights(rng, 41), random_weights(rng, 29)

    uniform = quantile_wasserstein_1d(x[:, 0], y[:, 0], np.full(41, 1 / 41), np.full(29, 1 / 29), p)
    weighted = quantile_wasserstein_1d(x[:, 0], y[:, 0], a, b, p)
    xs, ys = x.astype(dtype), y.astype(dtype)
    assert float(wasserstein(xs, ys, p=p)) == pytest.approx(uniform ** (1 / p), rel=rtol_for(dtype))
    assert float(wasserstein(xs, ys, p=p, x_weights=a, y_weights=b)) == pytest.approx(
        weighted ** (1 / p), rel=rtol_for(dtype)
    )


def test_wasserstein_1d_matches_linprog():
    # The quantile formula against a generic LP, which shares no code with it.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 1)), rng.normal(size=(9, 1))
    a, b = random_weights(rng, 6), random_weights(rng, 9)
    for p in (1.0, 2.0, 1.5):
        expected = linprog_transport_cost(x, y, a, b, p) ** (1 / p)
        value = wasserstein(x, y, p=p, x_weights=a, y_weights=b)
        assert float(value) == pytest.approx(expected, rel=1e-8)  # HiGHS solves to about 1e-9


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_wasserstein_matches_assignment(dtype, p):
    # Equal sizes and uniform weights: an optimal plan is a permutation.
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + 0.3
    cost = np.linalg.norm(x[:, None] - y[None], axis=2) ** p
    rows, columns = scipy.optimize.linear_sum_assignment(cost)
    expected = cost[rows, columns].mean() ** (1 / p)
    value = wasserstein(x.astype(dtype), y.astype(dtype), p=p)
    # The cost matrix is built in float64 from the float32 inputs, so float32
    # differs only by the rounding of the inputs (about 1e-7 relative).
    assert float(value) == pytest.approx(expected, rel=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_wasserstein_weighted_matches_linprog(p):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 2)), rng.normal(size=(5, 2))
    a, b = random_weights(rng, 7), random_weights(rng, 5)
    expected = linprog_transport_cost(x, y, a, b, p) ** (1 / p)
    value = wasserstein(x, y, p=p, x_weights=a, y_weights=b)
    assert float(value) == pytest.approx(expected, rel=1e-8)  # HiGHS solves to about 1e-9


def test_wasserstein_zero_weight_drops_point():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    weights = np.array([0.2, 0.0, 0.3, 0.1, 0.0, 0.4])
    nonzero = weights > 0
    expected = float(wasserstein(x[nonzero], y, x_weights=weights[nonzero]))
    assert float(wasserstein(x, y, x_weights=weights)) == pytest.approx(expected, rel=1e-12)
    x1, y1 = x[:, :1], y[:, :1]
    expected_1d = float(wasserstein(x1[nonzero], y1, x_weights=weights[nonzero]))
    assert float(wasserstein(x1, y1, x_weights=weights)) == pytest.approx(expected_1d, rel=1e-12)


# ---------------------------------------------------------------------------
# wasserstein: identities.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3])
def test_wasserstein_identities(d):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(25, d)), rng.normal(size=(18, d))
    assert float(wasserstein(x, x)) == 0.0
    assert float(wasserstein(x, y)) == pytest.approx(float(wasserstein(y, x)), rel=1e-12)
    shift = rng.normal(size=(1, d)) * 10
    assert float(wasserstein(x + shift, y + shift, p=2)) == pytest.approx(
        float(wasserstein(x, y, p=2)), rel=1e-9
    )


def test_wasserstein_large_offset():
    # Means around 1e4 with spread 1e-2: the float64 cost matrix must not lose
    # the spread to cancellation.
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(20, 2)) * 1e-2, rng.normal(size=(15, 2)) * 1e-2
    offset = np.array([[1e4, -1e4]])
    for p in (1.0, 2.0):
        assert float(wasserstein(x + offset, y + offset, p=p)) == pytest.approx(
            float(wasserstein(x, y, p=p)), rel=1e-7
        )


# ---------------------------------------------------------------------------
# wasserstein: solver status, tf.function, gradients.
# ---------------------------------------------------------------------------


def test_wasserstein_iteration_limit_warns():
    rng = np.random.default_rng(10)
    x, y = rng.random((60, 2)), rng.random((60, 2))
    with pytest.warns(RuntimeWarning, match="max_iterations=1 before optimality"):
        value, diagnostics = wasserstein(x, y, max_iterations=1, return_diagnostics=True)
    assert not bool(diagnostics["converged"])
    assert int(diagnostics["status"]) == 3
    # POT's early stop leaves mass on its artificial starting arcs, so the
    # plan misses the marginals and its cost is not the optimum.
    assert float(diagnostics["marginal_error"]) > 1e-3
    assert float(value) != pytest.approx(float(wasserstein(x, y)), rel=1e-3)


def test_wasserstein_diagnostics_converged():
    rng = np.random.default_rng(11)
    x, y = rng.random((40, 2)), rng.random((30, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, diagnostics = wasserstein(x, y, return_diagnostics=True)
    assert bool(diagnostics["converged"])
    assert diagnostics["solver"] == "network_simplex"
    assert float(diagnostics["marginal_error"]) < 1e-12


def test_wasserstein_inside_tf_function():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(9, 2))
    compiled = tf.function(lambda x, y: wasserstein(x, y, p=2))
    assert float(compiled(tf.constant(x), tf.constant(y))) == pytest.approx(
        float(wasserstein(x, y, p=2)), rel=1e-12
    )
    x1, y1 = x[:, :1], y[:, :1]
    assert float(compiled(tf.constant(x1), tf.constant(y1))) == pytest.approx(
        float(wasserstein(x1, y1, p=2)), rel=1e-12
    )


def test_wasserstein_1d_gradient():
    # Sorted pairs (0, 1) and (2, 4) in 1-D, p = 2: W_2^2 = (1 + 4) / 2 and
    # dW_2/dx_i = (x_i - y_i) / (2 W_2).
    x = tf.Variable([[0.0], [2.0]], dtype=tf.float64)
    y = tf.constant([[1.0], [4.0]], dtype=tf.float64)
    with tf.GradientTape() as tape:
        value = wasserstein(x, y, p=2)
    gradient = tape.gradient(value, x).numpy()[:, 0]
    expected = np.array([-1.0, -2.0]) / (2 * np.sqrt(2.5))
    np.testing.assert_allclose(gradient, expected, rtol=1e-12)


def test_wasserstein_gradient_raises_for_d_above_1():
    x = tf.Variable(np.random.default_rng(13).normal(size=(5, 2)))
    y = tf.constant(np.random.default_rng(14).normal(size=(5, 2)))
    with tf.GradientTape() as tape:
        value = wasserstein(x, y)
    with pytest.raises(NotImplementedError, match="no gradient for d > 1"):
        tape.gradient(value, x)


# ---------------------------------------------------------------------------
# sliced_wasserstein.
# ---------------------------------------------------------------------------


def unit_rows(rng, rows, d):
    directions = rng.normal(size=(rows, d))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_sliced_matches_pot(dtype, p):
    rng = np.random.default_rng(20)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(35, 4)) * 1.3
    directions = unit_rows(rng, 16, 4)
    expected = ot.sliced_wasserstein_distance(x, y, projections=directions.T, p=p)
    value = sliced_wasserstein(x.astype(dtype), y.astype(dtype), p=p, projections=directions)
    assert float(value) == pytest.approx(expected, rel=rtol_for(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sliced_weighted_matches_pot(dtype):
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(60, 3)) + 0.2
    a, b = random_weights(rng, 40), random_weights(rng, 60)
    directions = unit_rows(rng, 10, 3)
    expected = ot.sliced_wasserstein_distance(x, y, a=a, b=b, projections=directions.T, p=2)
    value = sliced_wasserstein(
        x.astype(dtype), y.astype(dtype), projections=directions, x_weights=a, y_weights=b
    )
    assert float(value) == pytest.approx(expected, rel=rtol_for(dtype))


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_sliced_equal_sizes_matches_pot(p):
    # n == m with uniform weights takes the direct sorted-pairs path.
    rng = np.random.default_rng(22)
    x, y = rng.normal(size=(64, 5)), rng.normal(size=(64, 5)) - 0.5
    directions = unit_rows(rng, 12, 5)
    expected = ot.sliced_wasserstein_distance(x, y, projections=directions.T, p=p)
    assert float(sliced_wasserstein(x, y, p=p, projections=directions)) == pytest.approx(
        expected, rel=FLOAT64_RTOL
    )


def test_sliced_1d_equals_wasserstein():
    # In one dimension every direction is +1 or -1 and gives the exact W_p.
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(30, 1)), rng.normal(size=(20, 1)) * 2
    for p in (1.0, 2.0):
        exact = float(wasserstein(x, y, p=p))
        assert float(sliced_wasserstein(x, y, p=p, num_projections=5, seed=0)) == pytest.approx(
            exact, rel=FLOAT64_RTOL
        )


def test_sliced_hand_value():
    # Directions e1 and e2; x = {(0, 0)}, y = {(1, 2)}: W_2^2 is 1 on e1 and
    # 4 on e2, so SW_2 = sqrt((1 + 4) / 2).
    x = np.array([[0.0, 0.0]])
    y = np.array([[1.0, 2.0]])
    directions = np.eye(2)
    assert float(sliced_wasserstein(x, y, projections=directions)) == pytest.approx(
        np.sqrt(2.5), rel=FLOAT64_RTOL
    )


def test_sliced_normalises_directions():
    rng = np.random.default_rng(24)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(12, 3))
    directions = unit_rows(rng, 4, 3)
    scaled = directions * np.array([[2.0], [0.5], [7.0], [1.0]])
    assert float(sliced_wasserstein(x, y, projections=scaled)) == pytest.approx(
        float(sliced_wasserstein(x, y, projections=directions)), rel=FLOAT64_RTOL
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_sliced_seed_determinism(dtype):
    rng = np.random.default_rng(25)
    x, y = rng.normal(size=(40, 6)).astype(dtype), rng.normal(size=(30, 6)).astype(dtype)
    first = float(sliced_wasserstein(x, y, num_projections=20, seed=7))
    second = float(sliced_wasserstein(x, y, num_projections=20, seed=7))
    other = float(sliced_wasserstein(x, y, num_projections=20, seed=8))
    assert first == second
    assert first != other


def test_sliced_seed_same_directions_across_dtypes():
    rng = np.random.default_rng(26)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(30, 6))
    value64 = float(sliced_wasserstein(x, y, num_projections=20, seed=3))
    value32 = float(sliced_wasserstein(x.astype(np.float32), y.astype(np.float32), num_projections=20, seed=3))
    assert value32 == pytest.approx(value64, rel=FLOAT32_RTOL)


def test_sliced_directions_uniform_on_sphere():
    # The mean of uniform unit vectors is 0 and E[theta theta^T] = I / d, so
    # with 4000 directions in d = 3 each entry is within about 4 standard
    # errors (sqrt(1 / (3 * 4000)) ~ 0.009 for the mean).
    x, y = np.zeros((2, 3)), np.ones((2, 3))
    _, diagnostics = sliced_wasserstein(x, y, num_projections=4000, seed=5, return_diagnostics=True)
    directions = diagnostics["directions"].numpy()
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(directions.mean(axis=0), 0.0, atol=0.04)
    np.testing.assert_allclose(directions.T @ directions / 4000, np.eye(3) / 3, atol=0.04)


def test_sliced_projection_standard_error():
    rng = np.random.default_rng(27)
    x, y = rng.normal(size=(50, 5)), rng.normal(size=(50, 5)) + 0.5
    value, diagnostics = sliced_wasserstein(x, y, num_projections=64, seed=1, return_diagnostics=True)
    costs = diagnostics["projected_costs"].numpy()
    # Delta method on SW_2 = sqrt(mean): se = se(mean) / (2 sqrt(mean)).
    expected = costs.std() / np.sqrt(64) / (2 * np.sqrt(costs.mean()))
    assert float(diagnostics["projection_standard_error"]) == pytest.approx(expected, rel=1e-10)
    assert float(value) == pytest.approx(np.sqrt(costs.mean()), rel=1e-12)


def test_sliced_identities():
    rng = np.random.default_rng(28)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(25, 4))
    directions = unit_rows(rng, 8, 4)
    assert float(sliced_wasserstein(x, x, projections=directions)) == 0.0
    assert float(sliced_wasserstein(x, y, projections=directions)) == pytest.approx(
        float(sliced_wasserstein(y, x, projections=directions)), rel=1e-12
    )
    shift = np.array([[1e4, -3e3, 5.0, 0.1]])
    assert float(sliced_wasserstein(x + shift, y + shift, projections=directions)) == pytest.approx(
        float(sliced_wasserstein(x, y, projections=directions)), rel=1e-9
    )


def test_sliced_float32_large_offset():
    # Centring in float64 before projecting keeps float32 accurate at means
    # around 1e4 with spread 1e-2, up to the inputs' own rounding (ulp(1e4)
    # = 1e-3 in float32 against the 1e-2 spread).
    rng = np.random.default_rng(29)
    x = (1e4 + rng.normal(size=(40, 3)) * 1e-2).astype(np.float32)
    y = (1e4 + rng.normal(size=(30, 3)) * 1e-2 + 5e-3).astype(np.float32)
    directions = unit_rows(rng, 8, 3)
    expected = ot.sliced_wasserstein_distance(
        x.astype(np.float64) - 1e4, y.astype(np.float64) - 1e4, projections=directions.T
    )
    assert float(sliced_wasserstein(x, y, projections=directions)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sliced_gradient_matches_finite_differences(dtype):
    rng = np.random.default_rng(30)
    x, y = rng.normal(size=(9, 2)), rng.normal(size=(7, 2)) + 0.3
    directions = unit_rows(rng, 5, 2)
    xv = tf.Variable(x.astype(dtype))
    yv = tf.Variable(y.astype(dtype))
    with tf.GradientTape() as tape:
        value = sliced_wasserstein(xv, yv, projections=directions)
    gradient_x, gradient_y = tape.gradient(value, [xv, yv])
    assert gradient_x.dtype == tf.as_dtype(dtype)
    assert np.isfinite(gradient_x.numpy()).all()
    assert np.isfinite(gradient_y.numpy()).all()

    # Central differences in float64; the function is piecewise smooth and
    # these points are away from ties, so the difference is O(h^2).
    step = 1e-6
    for i, j in [(0, 0), (4, 1)]:
        shifted = x.copy()
        shifted[i, j] += step
        upper = float(sliced_wasserstein(shifted, y, projections=directions))
        shifted[i, j] -= 2 * step
        lower = float(sliced_wasserstein(shifted, y, projections=directions))
        tolerance = 1e-6 if dtype == np.float64 else 1e-4
        assert gradient_x.numpy()[i, j] == pytest.approx((upper - lower) / (2 * step), abs=tolerance)


def test_sliced_gradient_finite_at_equal_sets():
    x = tf.Variable(np.random.default_rng(31).normal(size=(8, 3)))
    with tf.GradientTape() as tape:
        value = sliced_wasserstein(x, tf.identity(x), num_projections=10, seed=0)
    gradient = tape.gradient(value, x)
    assert float(value) == 0.0
    assert np.isfinite(gradient.numpy()).all()


def test_sliced_weighted_gradient_finite():
    rng = np.random.default_rng(32)
    x = tf.Variable(rng.normal(size=(8, 3)))
    with tf.GradientTape() as tape:
        value = sliced_wasserstein(
            x, rng.normal(size=(5, 3)), num_projections=6, seed=0, x_weights=random_weights(rng, 8)
        )
    assert np.isfinite(tape.gradient(value, x).numpy()).all()


def test_sliced_inside_tf_function():
    rng = np.random.default_rng(33)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(15, 3))
    compiled = tf.function(lambda x, y: sliced_wasserstein(x, y, num_projections=8, seed=4))
    assert float(compiled(tf.constant(x), tf.constant(y))) == pytest.approx(
        float(sliced_wasserstein(x, y, num_projections=8, seed=4)), rel=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_sliced_eager_gradient_matches_graph(dtype):
    # Eager calls sort on the host with NumPy and graphs sort with XLA; the
    # sorted values are exact in both, so values and gradients agree exactly
    # up to the order of float64 sums.
    rng = np.random.default_rng(34)
    x = tf.Variable(rng.normal(size=(30, 4)).astype(dtype))
    y = tf.constant((rng.normal(size=(30, 4)) * 1.3).astype(dtype))

    def value_and_gradient():
        with tf.GradientTape() as tape:
            value = sliced_wasserstein(x, y, num_projections=12, seed=5)
        return value, tape.gradient(value, x)

    eager_value, eager_gradient = value_and_gradient()
    graph_value, graph_gradient = tf.function(value_and_gradient)()
    assert float(eager_value) == pytest.approx(float(graph_value), rel=1e-6)
    np.testing.assert_allclose(eager_gradient.numpy(), graph_gradient.numpy(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# Invalid input.
# ---------------------------------------------------------------------------


def test_wasserstein_rejects_bad_samples():
    good = np.zeros((4, 2))
    with pytest.raises(ValueError, match="must have shape"):
        wasserstein(np.zeros(4), good)
    with pytest.raises(ValueError, match="same number of features"):
        wasserstein(good, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        wasserstein(np.array([[0.0, np.nan]]), good)
    with pytest.raises(ValueError, match="at least 1"):
        wasserstein(good, good, p=0.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        wasserstein(good, good, q=2)


def test_wasserstein_rejects_bad_weights():
    good = np.zeros((3, 1))
    with pytest.raises(ValueError, match="negative weight"):
        wasserstein(good, good, x_weights=[0.5, 0.7, -0.2])
    with pytest.raises(ValueError, match="sums to"):
        wasserstein(good, good, y_weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \[3\]"):
        wasserstein(good, good, x_weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="NaN or inf"):
        wasserstein(good, good, x_weights=[np.nan, 0.5, 0.5])


def test_sliced_rejects_bad_directions():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="row 1 is zero"):
        sliced_wasserstein(x, x, projections=[[1.0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"shape \[num_projections, 3\]"):
        sliced_wasserstein(x, x, projections=np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN or inf"):
        sliced_wasserstein(x, x, projections=[[np.inf, 0, 0]])
    with pytest.raises(ValueError, match="does not match"):
        sliced_wasserstein(x, x, projections=np.eye(3), num_projections=5)
    with pytest.raises(ValueError, match="at least 1"):
        sliced_wasserstein(x, x, num_projections=0)
    with pytest.raises(TypeError, match="must be an integer"):
        sliced_wasserstein(x, x, num_projections=2.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        sliced_wasserstein(x, x, n_projections=3)

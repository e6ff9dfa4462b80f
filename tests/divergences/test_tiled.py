"""Tests for the tiled pairwise sums behind MMD and the energy distance."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.spatial.distance import cdist

from discrepancy.divergences import InhomogeneousPolynomial, _tiled

tfpk = tfp.math.psd_kernels


def gaussian(length_scale, dtype=np.float64):
    return tfpk.ExponentiatedQuadratic(length_scale=np.asarray(length_scale, dtype))


def distance(exponent=1.0, dtype=tf.float64):
    return _tiled.Distance(exponent=tf.constant(exponent, dtype))


def reference_gaussian(a, b, length_scale=1.3):
    return np.exp(-cdist(a.astype(np.float64), b.astype(np.float64), "sqeuclidean") / (2.0 * length_scale**2))


def reference_distance(a, b, exponent=1.0):
    return cdist(a.astype(np.float64), b.astype(np.float64)) ** exponent


def points(seed, n, d=3, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)


# Sizes around tile_size = 8: one partial tile, exactly one tile, one more
# than a tile, and several tiles with a padded last one.
SIZES = [1, 2, 7, 8, 9, 20]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("exclude_diagonal", [False, True])
def test_pair_sum_symmetric_kernel(n, exclude_diagonal):
    x = points(0, n)
    matrix = reference_gaussian(x, x)
    expected = matrix.sum() - (np.trace(matrix) if exclude_diagonal else 0.0)
    total = _tiled.pair_sum(gaussian(1.3), x, exclude_diagonal=exclude_diagonal, tile_size=8)
    assert total.dtype == tf.float64
    np.testing.assert_allclose(float(total), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n, m", [(1, 1), (2, 9), (9, 2), (17, 8), (20, 13)])
def test_pair_sum_two_sets_kernel(n, m):
    x, y = points(1, n), points(2, m)
    total = _tiled.pair_sum(gaussian(1.3), x, y, tile_size=8)
    np.testing.assert_allclose(float(total), reference_gaussian(x, y).sum(), rtol=1e-12)


@pytest.mark.parametrize("n", SIZES)
def test_pair_sum_distance(n):
    x, y = points(3, n), points(4, n + 5)
    within = _tiled.pair_sum(distance(), x, exclude_diagonal=True, tile_size=8)
    across = _tiled.pair_sum(distance(), x, y, tile_size=8)
    np.testing.assert_allclose(float(within), reference_distance(x, x).sum(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(float(across), reference_distance(x, y).sum(), rtol=1e-12)


def test_pair_sum_distance_exponent():
    x, y = points(5, 11), points(6, 9)
    total = _tiled.pair_sum(distance(0.5), x, y, tile_size=8)
    np.testing.assert_allclose(float(total), reference_distance(x, y, 0.5).sum(), rtol=1e-12)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("exclude_diagonal", [False, True])
def test_pair_row_sums_symmetric(n, exclude_diagonal):
    x = points(7, n)
    matrix = reference_gaussian(x, x)
    if exclude_diagonal:
        np.fill_diagonal(matrix, 0.0)
    rows = _tiled.pair_row_sums(gaussian(1.3), x, exclude_diagonal=exclude_diagonal, tile_size=8)
    assert rows.shape == (n,)
    assert rows.dtype == tf.float64
    np.testing.assert_allclose(rows.numpy(), matrix.sum(axis=1), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n, m", [(1, 3), (9, 2), (20, 13)])
def test_pair_row_sums_two_sets(n, m):
    x, y = points(8, n), points(9, m)
    rows = _tiled.pair_row_sums(distance(), x, y, tile_size=8)
    np.testing.assert_allclose(rows.numpy(), reference_distance(x, y).sum(axis=1), rtol=1e-12)


def test_pair_sum_batched_kernel():
    # A kernel with batch shape [2] counts as the sum of its members, also
    # after a scalar kernel of the same type was traced first.
    x, y = points(10, 12), points(11, 9)
    single = _tiled.pair_sum(gaussian(1.3), x, y, tile_size=8)
    batched = _tiled.pair_sum(gaussian([1.3, 0.4]), x, y, tile_size=8)
    expected = reference_gaussian(x, y, 1.3).sum() + reference_gaussian(x, y, 0.4).sum()
    np.testing.assert_allclose(float(single), reference_gaussian(x, y).sum(), rtol=1e-12)
    np.testing.assert_allclose(float(batched), expected, rtol=1e-12)


def test_pair_sum_polynomial():
    x = points(12, 10)
    kernel = InhomogeneousPolynomial(degree=np.float64(3.0), scale=np.float64(1.0 / 3.0), offset=np.float64(1.0))
    matrix = (x @ x.T / 3.0 + 1.0) ** 3
    total = _tiled.pair_sum(kernel, x, exclude_diagonal=True, tile_size=8)
    np.testing.assert_allclose(float(total), matrix.sum() - np.trace(matrix), rtol=1e-12)


def test_pair_sum_float32_accumulates_in_float64():
    # 3000 x 3000 = 9 million kernel values in float32. Each carries rounding
    # of about 1e-7 relative, but a float32 running sum would add about 1e-4.
    x = points(13, 3000, dtype=np.float32)
    y = points(14, 3000, dtype=np.float32)
    total = _tiled.pair_sum(gaussian(1.3, np.float32), x, y)
    assert total.dtype == tf.float64
    np.testing.assert_allclose(float(total), reference_gaussian(x, y).sum(), rtol=1e-6)


def test_pair_sum_inside_tf_function():
    x = points(15, 10)

    @tf.function
    def compiled(a):
        return _tiled.pair_sum(gaussian(1.3), a, exclude_diagonal=True, tile_size=8)

    eager = _tiled.pair_sum(gaussian(1.3), x, exclude_diagonal=True, tile_size=8)
    np.testing.assert_allclose(float(compiled(tf.constant(x))), float(eager), rtol=1e-14)


# --- centring --------------------------------------------------------------------------


@pytest.mark.parametrize("pair", [gaussian(1.3), distance()], ids=["gaussian", "distance"])
def test_center_pooled_centres(pair):
    x, y = points(16, 6) + 1e4, points(17, 4) - 1e4
    centred_x, centred_y = _tiled.center_pooled(pair, tf.constant(x), tf.constant(y))
    pooled_mean = np.concatenate([x, y]).mean(axis=0)
    np.testing.assert_allclose(centred_x.numpy(), x - pooled_mean, rtol=1e-12)
    np.testing.assert_allclose(centred_y.numpy(), y - pooled_mean, rtol=1e-12)


def test_center_pooled_keeps_polynomial():
    # The polynomial kernel depends on x . y, so a shift would change it.
    x, y = tf.constant(points(18, 6) + 5.0), tf.constant(points(19, 4))
    kernel = InhomogeneousPolynomial(degree=np.float64(3.0), scale=np.float64(1.0), offset=np.float64(1.0))
    centred_x, centred_y = _tiled.center_pooled(kernel, x, y)
    np.testing.assert_array_equal(centred_x.numpy(), x.numpy())
    np.testing.assert_array_equal(centred_y.numpy(), y.numpy())


def test_center_pooled_gradient_identity():
    # The mean is a constant for gradients, which is exact for invariant pairs.
    x, y = tf.constant(points(20, 5)), tf.constant(points(21, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        centred_x, _ = _tiled.center_pooled(gaussian(1.3), x, y)
        total = tf.reduce_sum(centred_x)
    np.testing.assert_array_equal(tape.gradient(total, x).numpy(), np.ones((5, 3)))


# --- the distance at zero --------------------------------------------------------------


def test_distance_gradient_zero_at_coincident_points():
    # |x - y| has no derivative at x = y, so the tiled sum takes the subgradient 0.
    x = tf.constant([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = _tiled.pair_sum(distance(), x[:2], tile_size=8)
    gradient = tape.gradient(total, x).numpy()
    assert np.isfinite(gradient).all()
    np.testing.assert_array_equal(gradient, np.zeros((3, 2)))

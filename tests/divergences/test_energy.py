"""Tests for the energy distance (`energy_distance`)."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
from scipy.spatial.distance import cdist

from discrepancy.divergences import energy_distance

DTYPES = [np.float32, np.float64]


def reference_energy(x, y, estimator="biased", exponent=1.0):
    """2 E|X - Y|^a - E|X - X'|^a - E|Y - Y'|^a in float64, from full distance matrices."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    d_xy = cdist(x, y) ** exponent
    d_xx = cdist(x, x) ** exponent
    d_yy = cdist(y, y) ** exponent
    n, m = x.shape[0], y.shape[0]
    if estimator == "unbiased":
        # The diagonal distances are 0, so only the normalisation changes.
        return 2.0 * d_xy.mean() - d_xx.sum() / (n * (n - 1)) - d_yy.sum() / (m * (m - 1))
    return 2.0 * d_xy.mean() - d_xx.mean() - d_yy.mean()


def samples(seed, n=13, m=9, d=3, shift=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * 1.2 + shift
    return x.astype(dtype), y.astype(dtype)


def tolerance(dtype):
    # Distances come from |a|^2 + |b|^2 - 2 a.b after centring, which loses
    # about 1e-7 of |a|^2 in float32. Sums are accumulated in float64.
    return 1e-5 if dtype == np.float32 else 1e-11


# --- conventions ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_energy_scipy_one_dimension(dtype):
    # scipy.stats.energy_distance returns the square root of the V-statistic.
    x, y = samples(0, n=17, m=23, d=1, dtype=dtype)
    expected = scipy.stats.energy_distance(x[:, 0].astype(np.float64), y[:, 0].astype(np.float64)) ** 2
    np.testing.assert_allclose(float(energy_distance(x, y)), expected, rtol=tolerance(dtype))


def test_energy_hand_values():
    # x = {0, 1}, y = {3, 5}: the cross distances 3, 5, 2, 4 have mean 3.5.
    # Within x the distance 1 occurs twice among ordered pairs, within y 2.
    x = np.array([[0.0], [1.0]])
    y = np.array([[3.0], [5.0]])
    unbiased = 2.0 * 3.5 - 2.0 * 1.0 / 2.0 - 2.0 * 2.0 / 2.0
    biased = 2.0 * 3.5 - 2.0 * 1.0 / 4.0 - 2.0 * 2.0 / 4.0
    np.testing.assert_allclose(float(energy_distance(x, y, "unbiased")), unbiased, rtol=1e-14)
    np.testing.assert_allclose(float(energy_distance(x, y, "biased")), biased, rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_energy_matches_reference(dtype, estimator):
    x, y = samples(1, dtype=dtype)
    value = float(energy_distance(x, y, estimator))
    np.testing.assert_allclose(value, reference_energy(x, y, estimator), rtol=tolerance(dtype))


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_energy_twice_distance_kernel_mmd(estimator):
    # With k(a, b) = (|a| + |b| - |a - b|) / 2, the energy distance is 2 MMD^2_k
    # (Sejdinovic et al. 2013), for the V- and the U-statistic alike.
    x, y = samples(2)

    def kernel(a, b):
        norms_a = np.linalg.norm(a, axis=1)
        norms_b = np.linalg.norm(b, axis=1)
        return 0.5 * (norms_a[:, None] + norms_b[None, :] - cdist(a, b))

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    n, m = x.shape[0], y.shape[0]
    if estimator == "unbiased":
        kernel_mmd2 = (
            (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
            + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
            - 2.0 * k_xy.mean()
        )
    else:
        kernel_mmd2 = k_xx.mean() + k_yy.mean() - 2.0 * k_xy.mean()
    np.testing.assert_allclose(float(energy_distance(x, y, estimator)), 2.0 * kernel_mmd2, rtol=1e-11)


@pytest.mark.parametrize("exponent", [0.3, 1.5, 1.99])
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_energy_exponent(exponent, estimator):
    x, y = samples(3)
    value = float(energy_distance(x, y, estimator, exponent=exponent))
    np.testing.assert_allclose(value, reference_energy(x, y, estimator, exponent), rtol=1e-11)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 20])
def test_energy_tile_remainders(n):
    x, y = samples(4, n=n, m=n + 2)
    value = float(energy_distance(x, y, tile_size=8))
    np.testing.assert_allclose(value, reference_energy(x, y), rtol=1e-11)


def test_energy_float32_large_sum():
    # 3000 x 2500 distances across the sets. Naive float32 accumulation would be off
    # by about 1e-4 relative.
    x, y = samples(5, n=3000, m=2500, dtype=np.float32)
    np.testing.assert_allclose(float(energy_distance(x, y)), reference_energy(x, y), rtol=1e-5)


# --- invariances and signs -----------------------------------------------------------


def test_energy_translation_invariant():
    # Means around 1e4 with spread 1e-2: rounding the shifted inputs to float64
    # moves each coordinate by up to about 1e-12, 1e-10 of the spread.
    x, y = samples(6, n=30, m=25)
    x, y = 0.01 * x, 0.01 * y
    offset = np.array([1e4, -2e4, 3e4])
    np.testing.assert_allclose(
        float(energy_distance(x + offset, y + offset)), float(energy_distance(x, y)), rtol=1e-7
    )


def test_energy_rotation_invariant():
    x, y = samples(7)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    rotated = float(energy_distance(x @ rotation, y @ rotation))
    # An orthogonal matrix keeps distances up to float64 rounding.
    np.testing.assert_allclose(rotated, float(energy_distance(x, y)), rtol=1e-11)


def test_energy_symmetric():
    x, y = samples(8)
    np.testing.assert_allclose(float(energy_distance(y, x)), float(energy_distance(x, y)), rtol=1e-12)


def test_energy_same_set_zero():
    x, _ = samples(9)
    assert float(energy_distance(x, x)) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.5])
def test_energy_biased_nonnegative(dtype, exponent):
    # The V-statistic is non-negative for exponents in (0, 2). Permuted copies
    # put it at 0, where rounding must not push it below.
    for seed in range(6):
        rng = np.random.default_rng(seed)
        x = (10.0 * rng.normal(size=(40, 3))).astype(dtype)
        value = float(energy_distance(x, x[rng.permutation(40)], exponent=exponent))
        assert value >= 0.0
        assert value < 1e-4


def test_energy_unbiased_zero_mean_when_equal():
    # P = Q: the U-statistic averages to 0 over independent draws, and the
    # V-statistic keeps its positive bias E|X - X'|/n + E|Y - Y'|/m.
    unbiased, biased = [], []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        x = rng.normal(size=(12, 3))
        y = rng.normal(size=(10, 3))
        unbiased.append(float(energy_distance(x, y, "unbiased")))
        biased.append(float(energy_distance(x, y, "biased")))
    standard_error = np.std(unbiased, ddof=1) / np.sqrt(len(unbiased))
    # 4 standard errors of the mean over 30 seeds.
    assert abs(np.mean(unbiased)) < 4.0 * standard_error
    assert np.mean(biased) > 10.0 * standard_error


# --- options, dtypes and gradients ---------------------------------------------------


def test_energy_exponent_two_rejected():
    x, y = samples(10)
    with pytest.raises(ValueError, match=r"`exponent` must be in \(0, 2\)"):
        energy_distance(x, y, exponent=2.0)


@pytest.mark.parametrize(
    "exponent, error, message",
    [
        (0.0, ValueError, "must be positive, got 0.0"),
        (-1.0, ValueError, "must be positive"),
        (2.5, ValueError, "must be at most 2.0, got 2.5"),
        (float("nan"), ValueError, "must be finite"),
        ("1", TypeError, "must be a real number"),
    ],
)
def test_energy_exponent_invalid(exponent, error, message):
    x, y = samples(11)
    with pytest.raises(error, match=message):
        energy_distance(x, y, exponent=exponent)


def test_energy_estimator_invalid():
    x, y = samples(12)
    with pytest.raises(ValueError, match="`estimator` must be one of 'biased', 'unbiased'; got 'v'"):
        energy_distance(x, y, "v")


def test_energy_unbiased_needs_two_samples():
    x, y = samples(13, n=1)
    with pytest.raises(ValueError, match="`x` has 1 sample.*at least 2"):
        energy_distance(x, y, "unbiased")


def test_energy_biased_single_sample():
    x, y = samples(14, n=1, m=4)
    np.testing.assert_allclose(float(energy_distance(x, y)), reference_energy(x, y), rtol=1e-12)


@pytest.mark.parametrize(
    "x_dtype, y_dtype, expected",
    [
        (np.float32, np.float32, tf.float32),
        (np.float64, np.float64, tf.float64),
        (np.float64, np.float32, tf.float64),
        (np.float16, np.float16, tf.float32),
        (np.int32, np.int32, tf.float64),
    ],
)
def test_energy_output_dtype(x_dtype, y_dtype, expected):
    x, y = samples(15)
    value = energy_distance((4 * x).astype(x_dtype), (4 * y).astype(y_dtype))
    assert value.dtype == expected
    assert value.shape == ()


def test_energy_inside_tf_function():
    x, y = samples(16)

    @tf.function
    def compiled(a, b):
        return energy_distance(a, b)

    np.testing.assert_allclose(
        float(compiled(tf.constant(x), tf.constant(y))), float(energy_distance(x, y)), rtol=1e-12
    )


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_energy_gradient_finite_differences(estimator, check_directional_derivatives):
    x, y = samples(17, n=4, m=5)

    def function(a, b):
        return energy_distance(a, b, estimator, tile_size=8)

    check_directional_derivatives(function, x, y)


def test_energy_gradient_finite_with_duplicates():
    # Rows of x repeated in x and in y put |x_i - y_j| = 0, where the distance
    # has no derivative, and the gradient must stay finite there.
    points, _ = samples(18, n=5)
    x = tf.constant(np.concatenate([points, points[:2]]))
    y = tf.constant(np.concatenate([points[:3], points[:3]]))
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        value = energy_distance(x, y, tile_size=8)
    gradient_x, gradient_y = tape.gradient(value, [x, y])
    assert np.isfinite(gradient_x.numpy()).all()
    assert np.isfinite(gradient_y.numpy()).all()

"""Tests for MMD^2 (`mmd2`) and the MMD permutation test (`mmd_test`)."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.spatial.distance import cdist

from discrepancy.divergences import estimate, median_bandwidth, mmd2, mmd_test

tfpk = tfp.math.psd_kernels

DTYPES = [np.float32, np.float64]
KERNELS = ["gaussian", "laplacian", "rational-quadratic", "inverse-multiquadric", "polynomial"]


# --- float64 NumPy references of the documented formulas ---------------------


def reference_kernel(name, a, b, bandwidth=1.3, alpha=2.0):
    """Kernel matrix in float64, written from the formulas in _kernels.py."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    squared = cdist(a, b, "sqeuclidean")
    if name == "gaussian":
        return np.exp(-squared / (2.0 * bandwidth**2))
    if name == "laplacian":
        return np.exp(-np.sqrt(squared) / bandwidth)
    if name == "rational-quadratic":
        return (1.0 + squared / (2.0 * alpha * bandwidth**2)) ** -alpha
    if name == "inverse-multiquadric":
        return (1.0 + squared / bandwidth**2) ** -0.5
    if name == "polynomial":
        return (a @ b.T / a.shape[1] + 1.0) ** 3
    raise AssertionError(name)


def reference_mmd2(k_xx, k_yy, k_xy, estimator):
    """MMD^2 from full kernel matrices: U-statistic without the diagonal, or V-statistic."""
    n, m = k_xx.shape[0], k_yy.shape[0]
    if estimator == "unbiased":
        within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
        within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        return within_x + within_y - 2.0 * k_xy.mean()
    return k_xx.mean() + k_yy.mean() - 2.0 * k_xy.mean()


def reference_gaussian_mmd2(x, y, bandwidth, estimator="unbiased"):
    def kernel(a, b):
        return reference_kernel("gaussian", a, b, bandwidth)

    return reference_mmd2(kernel(x, x), kernel(y, y), kernel(x, y), estimator)


def expected_gaussian_kernel(mean_a, cov_a, mean_b, cov_b, bandwidth):
    """E exp(-|A - B|^2 / (2 s^2)) for independent A ~ N(mean_a, cov_a), B ~ N(mean_b, cov_b).

    A - B ~ N(mu, S) with mu = mean_a - mean_b and S = cov_a + cov_b, and the
    Gaussian integral gives det(I + S/s^2)^(-1/2) exp(-mu^T (S + s^2 I)^(-1) mu / 2).
    """
    num_features = mean_a.shape[0]
    identity = np.eye(num_features)
    total = cov_a + cov_b
    difference = mean_a - mean_b
    determinant = np.linalg.det(identity + total / bandwidth**2)
    quadratic = difference @ np.linalg.solve(total + bandwidth**2 * identity, difference)
    return determinant**-0.5 * np.exp(-quadratic / 2.0)


def samples(seed, n=13, m=9, d=3, shift=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * 1.2 + shift
    return x.astype(dtype), y.astype(dtype)


def tolerance(dtype):
    # Kernel values carry relative rounding of about 1e-7 in float32 (sums
    # are accumulated in float64) and about 1e-15 in float64.
    return 1e-5 if dtype == np.float32 else 1e-11


# --- hand-computed cases -------------------------------------------------------

# x = {0, 1}, y = {2, 4} in one dimension with a Gaussian kernel of bandwidth 1,
# so k(r) = exp(-r^2 / 2) and the cross distances are 2, 4, 1 and 3.
HAND_X = np.array([[0.0], [1.0]])
HAND_Y = np.array([[2.0], [4.0]])


def k_hand(r):
    return math.exp(-(r**2) / 2.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mmd2_hand_unbiased(dtype):
    # Within x, the two ordered pairs give 2 k(1) / (n (n - 1)) = k(1), and
    # within y k(2). Across, the mean of k(2), k(4), k(1) and k(3).
    expected = k_hand(1) + k_hand(2) - 2.0 * (k_hand(1) + k_hand(2) + k_hand(3) + k_hand(4)) / 4.0
    value = mmd2(HAND_X.astype(dtype), HAND_Y.astype(dtype), bandwidth=1.0, estimator="unbiased")
    np.testing.assert_allclose(float(value), expected, rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mmd2_hand_biased(dtype):
    # The diagonal k(0) = 1 is included and each sum is divided by 2^2.
    within_x = (2.0 + 2.0 * k_hand(1)) / 4.0
    within_y = (2.0 + 2.0 * k_hand(2)) / 4.0
    across = (k_hand(1) + k_hand(2) + k_hand(3) + k_hand(4)) / 4.0
    expected = within_x + within_y - 2.0 * across
    value = mmd2(HAND_X.astype(dtype), HAND_Y.astype(dtype), bandwidth=1.0, estimator="biased")
    np.testing.assert_allclose(float(value), expected, rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mmd2_hand_linear(dtype):
    # One pair: h = k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1) = k(1) + k(2) - k(4) - k(1).
    expected = k_hand(2) - k_hand(4)
    value = mmd2(HAND_X.astype(dtype), HAND_Y.astype(dtype), bandwidth=1.0, estimator="linear")
    np.testing.assert_allclose(float(value), expected, rtol=tolerance(dtype))


def test_mmd2_linear_ignores_unpaired_rows():
    # floor(min(3, 5) / 2) = 1 pair, so the third x and the last three y are unused.
    x = np.concatenate([HAND_X, [[10.0]]])
    y = np.concatenate([HAND_Y, [[-3.0], [7.0], [0.5]]])
    value = mmd2(x, y, bandwidth=1.0, estimator="linear")
    np.testing.assert_allclose(float(value), k_hand(2) - k_hand(4), rtol=1e-12)


def test_mmd2_linear_mean_of_pair_terms():
    x, y = samples(0, n=11, m=8)
    k = lambda a, b: reference_kernel("gaussian", a[None], b[None])[0, 0]  # noqa: E731
    terms = [
        k(x[2 * i], x[2 * i + 1]) + k(y[2 * i], y[2 * i + 1]) - k(x[2 * i], y[2 * i + 1]) - k(x[2 * i + 1], y[2 * i])
        for i in range(4)
    ]
    value = mmd2(x, y, bandwidth=1.3, estimator="linear")
    np.testing.assert_allclose(float(value), np.mean(terms), rtol=1e-12)


# --- every named kernel against the NumPy reference ------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd2_kernels_match_reference(kernel, dtype, estimator):
    x, y = samples(1, dtype=dtype)
    options = {"alpha": 2.0} if kernel == "rational-quadratic" else {}
    value = mmd2(x, y, kernel=kernel, bandwidth=1.3, estimator=estimator, **options)

    k_xx = reference_kernel(kernel, x, x)
    k_yy = reference_kernel(kernel, y, y)
    k_xy = reference_kernel(kernel, x, y)
    expected = reference_mmd2(k_xx, k_yy, k_xy, estimator)
    np.testing.assert_allclose(float(value), expected, rtol=tolerance(dtype))


@pytest.mark.parametrize("kernel", KERNELS)
def test_mmd2_kernels_linear_match_reference(kernel):
    x, y = samples(2)
    options = {"alpha": 2.0} if kernel == "rational-quadratic" else {}
    value = mmd2(x, y, kernel=kernel, bandwidth=1.3, estimator="linear", **options)

    def k(a, b):
        return np.diag(reference_kernel(kernel, a, b))

    x1, x2, y1, y2 = x[0:8:2], x[1:8:2], y[0:8:2], y[1:8:2]
    expected = np.mean(k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1))
    np.testing.assert_allclose(float(value), expected, rtol=1e-11)


def test_polynomial_kernel_parameters():
    x, y = samples(3)
    value = mmd2(x, y, kernel="polynomial", degree=2, scale=0.5, offset=0.25)
    k = lambda a, b: (0.5 * a @ b.T + 0.25) ** 2  # noqa: E731
    expected = reference_mmd2(k(x, x), k(y, y), k(x, y), "unbiased")
    np.testing.assert_allclose(float(value), expected, rtol=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mmd2_one_feature(dtype):
    x, y = samples(4, n=10, m=14, d=1, dtype=dtype)
    value = mmd2(x, y, bandwidth=0.7)
    expected = reference_gaussian_mmd2(x, y, 0.7)
    np.testing.assert_allclose(float(value), expected, rtol=tolerance(dtype))


# --- closed form between two Gaussians ----------------------------------------------


def test_mmd2_gaussian_closed_form():
    rng = np.random.default_rng(5)
    mean_p, mean_q = np.zeros(2), np.array([0.6, -0.2])
    cov_p = np.eye(2)
    cov_q = np.array([[1.5, 0.3], [0.3, 0.8]])
    bandwidth = 1.5
    x = rng.multivariate_normal(mean_p, cov_p, size=400)
    y = rng.multivariate_normal(mean_q, cov_q, size=300)

    expected = (
        expected_gaussian_kernel(mean_p, cov_p, mean_p, cov_p, bandwidth)
        + expected_gaussian_kernel(mean_q, cov_q, mean_q, cov_q, bandwidth)
        - 2.0 * expected_gaussian_kernel(mean_p, cov_p, mean_q, cov_q, bandwidth)
    )
    value = float(mmd2(x, y, bandwidth=bandwidth))
    standard_error = estimate(x, y, "mmd2", bandwidth=bandwidth).standard_error

    # The U-statistic is unbiased, so it misses the population value by its
    # sampling error only: 4 standard errors fail about 1 run in 16,000.
    assert abs(value - expected) < 4.0 * standard_error
    # A wrong convention (the V-statistic bias, a missing factor 2) would be
    # larger than this, so the check above is not vacuous.
    assert standard_error < 0.2 * expected


# --- identities --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_mmd2_biased_same_set_zero(dtype):
    x, _ = samples(6, dtype=dtype)
    assert float(mmd2(x, x, bandwidth=1.3, estimator="biased")) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", ["gaussian", "laplacian", "inverse-multiquadric"])
def test_mmd2_biased_permuted_nonnegative(dtype, kernel):
    # The V-statistic is a squared norm, so rounding must not push it below 0.
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x = (10.0 * rng.normal(size=(40, 3))).astype(dtype)
        value = float(mmd2(x, x[rng.permutation(40)], kernel=kernel, bandwidth=5.0, estimator="biased"))
        assert value >= 0.0
        assert value < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_mmd2_unbiased_same_set_negative(dtype):
    # With y = x the U-statistic is 2 (S / (n^2 (n - 1)) - 1/n), where S is the
    # off-diagonal kernel sum: negative unless all points coincide.
    x, _ = samples(7, dtype=dtype)
    n = x.shape[0]
    kernel_matrix = reference_kernel("gaussian", x, x)
    off_diagonal = kernel_matrix.sum() - np.trace(kernel_matrix)
    expected = 2.0 * (off_diagonal / (n**2 * (n - 1)) - 1.0 / n)
    value = float(mmd2(x, x, bandwidth=1.3))
    assert value < 0.0
    np.testing.assert_allclose(value, expected, rtol=tolerance(dtype))


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd2_symmetric(estimator):
    x, y = samples(8)
    forward = float(mmd2(x, y, bandwidth=1.3, estimator=estimator))
    backward = float(mmd2(y, x, bandwidth=1.3, estimator=estimator))
    # Same terms summed in another order: float64 rounding only.
    np.testing.assert_allclose(forward, backward, rtol=1e-12)


@pytest.mark.parametrize("bandwidth", [0.01, "median"])
@pytest.mark.parametrize("kernel", ["gaussian", "laplacian"])
def test_mmd2_translation_invariant(kernel, bandwidth):
    # Means around 1e4 with spread 1e-2: rounding the shifted inputs to float64
    # moves each coordinate by up to 1e4 * 1.1e-16, about 1e-10 of the spread.
    x, y = samples(9, n=30, m=25)
    x, y = 0.01 * x, 0.01 * y
    offset = np.array([1e4, -2e4, 3e4])
    centred = float(mmd2(x, y, kernel=kernel, bandwidth=bandwidth))
    shifted = float(mmd2(x + offset, y + offset, kernel=kernel, bandwidth=bandwidth))
    np.testing.assert_allclose(shifted, centred, rtol=1e-7)


def test_mmd2_unbiased_zero_mean_when_equal():
    # P = Q: the U-statistic averages to 0 over independent draws.
    unbiased, biased = [], []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        x = rng.normal(size=(20, 3))
        y = rng.normal(size=(16, 3))
        unbiased.append(float(mmd2(x, y, bandwidth=1.3)))
        biased.append(float(mmd2(x, y, bandwidth=1.3, estimator="biased")))
    standard_error = np.std(unbiased, ddof=1) / np.sqrt(len(unbiased))
    # 4 standard errors of the mean over 40 seeds.
    assert abs(np.mean(unbiased)) < 4.0 * standard_error
    # The V-statistic's positive bias is clearly visible at this size, so the
    # check above can tell the two conventions apart.
    assert np.mean(biased) > 10.0 * standard_error


# --- float32 accuracy and tiling -----------------------------------------------------


def test_mmd2_float32_large_sum():
    # 3000 x 3000 pairs per sum (27 million kernel values in all): naive
    # float32 accumulation would be off by about 1e-4 relative.
    x, y = samples(10, n=3000, m=3000, shift=0.1, dtype=np.float32)
    value = float(mmd2(x, y, bandwidth=2.0))
    expected = reference_gaussian_mmd2(x, y, 2.0)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 17])
def test_mmd2_tile_remainders(n, dtype):
    # tile_size=8 with n around it: padded last tiles, a single partial tile,
    # and several tiles with an off-diagonal pair.
    x, y = samples(11, n=n, m=n + 3, dtype=dtype)
    tile_size = 8
    biased = float(mmd2(x, y, bandwidth=1.3, estimator="biased", tile_size=tile_size))
    np.testing.assert_allclose(biased, reference_gaussian_mmd2(x, y, 1.3, "biased"), rtol=tolerance(dtype))
    if n >= 2:
        unbiased = float(mmd2(x, y, bandwidth=1.3, tile_size=tile_size))
        expected = reference_gaussian_mmd2(x, y, 1.3)
        np.testing.assert_allclose(unbiased, expected, rtol=tolerance(dtype), atol=1e-15)


@pytest.mark.parametrize("tile_size", [8, 9, 16])
def test_mmd2_float32_tile_sizes(tile_size):
    x, y = samples(12, n=41, m=tile_size + 1, dtype=np.float32)
    value = float(mmd2(x, y, bandwidth=1.3, tile_size=tile_size))
    np.testing.assert_allclose(value, reference_gaussian_mmd2(x, y, 1.3), rtol=1e-5)


# --- bandwidth rules and kernel instances ------------------------------------------------


def test_mmd2_median_bandwidth():
    x, y = samples(13)
    bandwidth = median_bandwidth(x, y)
    np.testing.assert_allclose(float(mmd2(x, y)), reference_gaussian_mmd2(x, y, bandwidth), rtol=1e-11)


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd2_identical_points_fallback(estimator):
    # Every distance is 0, so the median heuristic falls back to 1.0 with a
    # warning, and both estimators are exactly 0 for any bandwidth.
    x = np.full((4, 3), 0.7)
    with pytest.warns(RuntimeWarning, match="using bandwidth 1.0"):
        value = float(mmd2(x, x[:3], estimator=estimator))
    assert value == 0.0


def test_mmd2_multiscale_sum():
    x, y = samples(14)
    median = median_bandwidth(x, y)
    parts = [reference_gaussian_mmd2(x, y, factor * median) for factor in (0.25, 0.5, 1.0, 2.0, 4.0)]
    value = float(mmd2(x, y, bandwidth="multiscale"))
    np.testing.assert_allclose(value, sum(parts), rtol=1e-11)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
def test_mmd2_bandwidth_sequence_sum(estimator):
    x, y = samples(15)
    parts = [float(mmd2(x, y, bandwidth=s, estimator=estimator)) for s in (0.5, 2.0)]
    value = float(mmd2(x, y, bandwidth=[0.5, 2.0], estimator=estimator))
    np.testing.assert_allclose(value, sum(parts), rtol=1e-11)


def test_mmd2_scalar_then_sequence_bandwidth():
    # A scalar bandwidth traced first must not break a later batched kernel.
    x, y = samples(16, d=2)
    single = float(mmd2(x, y, bandwidth=1.0))
    double = float(mmd2(x, y, bandwidth=[1.0, 1.0]))
    np.testing.assert_allclose(double, 2.0 * single, rtol=1e-11)


def test_mmd2_kernel_instance():
    x, y = samples(17)
    kernel = tfpk.MaternThreeHalves(length_scale=np.float64(1.3))
    value = float(mmd2(x, y, kernel=kernel))

    def matern(a, b):
        r = np.sqrt(3.0) * cdist(a, b) / 1.3
        return (1.0 + r) * np.exp(-r)

    expected = reference_mmd2(matern(x, x), matern(y, y), matern(x, y), "unbiased")
    np.testing.assert_allclose(value, expected, rtol=1e-11)


def test_mmd2_batched_kernel_instance():
    x, y = samples(18)
    kernel = tfpk.ExponentiatedQuadratic(length_scale=np.array([0.5, 2.0]))
    value = float(mmd2(x, y, kernel=kernel))
    expected = reference_gaussian_mmd2(x, y, 0.5) + reference_gaussian_mmd2(x, y, 2.0)
    np.testing.assert_allclose(value, expected, rtol=1e-11)


def test_mmd2_kernel_instance_dtype_mismatch():
    x, y = samples(19, dtype=np.float32)
    kernel = tfpk.ExponentiatedQuadratic(length_scale=np.float64(1.0))
    with pytest.raises(TypeError, match="float64.*float32"):
        mmd2(x, y, kernel=kernel)


# --- dtypes, graphs and gradients ---------------------------------------------------


@pytest.mark.parametrize(
    "x_dtype, y_dtype, expected",
    [
        (np.float32, np.float32, tf.float32),
        (np.float64, np.float64, tf.float64),
        (np.float32, np.float64, tf.float64),
        (np.float16, np.float16, tf.float32),
        (np.int64, np.int64, tf.float64),
    ],
)
def test_mmd2_output_dtype(x_dtype, y_dtype, expected):
    x, y = samples(20)
    value = mmd2((4 * x).astype(x_dtype), (4 * y).astype(y_dtype), bandwidth=2.0)
    assert value.dtype == expected
    assert value.shape == ()


@pytest.mark.parametrize("bandwidth", [1.3, "median", "multiscale"])
def test_mmd2_inside_tf_function(bandwidth):
    x, y = samples(21)

    @tf.function
    def compiled(a, b):
        return mmd2(a, b, bandwidth=bandwidth)

    eager = float(mmd2(x, y, bandwidth=bandwidth))
    np.testing.assert_allclose(float(compiled(tf.constant(x), tf.constant(y))), eager, rtol=1e-11)


def test_mmd2_tf_function_nan_rejected():
    x, y = samples(22)
    x[1, 2] = np.nan

    @tf.function
    def compiled(a, b):
        return mmd2(a, b, bandwidth=1.3)

    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        compiled(tf.constant(x), tf.constant(y))


# Each configuration compiles its own gradient program, so the sweep covers
# every estimator with the Gaussian kernel and the other kernel families once.
GRADIENT_CASES = [
    ("gaussian", "unbiased"),
    ("gaussian", "biased"),
    ("gaussian", "linear"),
    ("laplacian", "unbiased"),
    ("polynomial", "unbiased"),
]


@pytest.mark.parametrize("kernel, estimator", GRADIENT_CASES)
def test_mmd2_gradient_finite_differences(kernel, estimator, check_directional_derivatives):
    x, y = samples(23, n=4, m=5)

    def function(a, b):
        return mmd2(a, b, kernel=kernel, bandwidth=1.3, estimator=estimator, tile_size=8)

    check_directional_derivatives(function, x, y)


@pytest.mark.parametrize("kernel", ["gaussian", "laplacian"])
def test_mmd2_gradient_finite_with_duplicates(kernel):
    points, _ = samples(24, n=5)
    x = tf.constant(np.concatenate([points, points[:2]]))
    y = tf.constant(np.concatenate([points[:3], points[:3]]))
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        value = mmd2(x, y, kernel=kernel, bandwidth=1.3, tile_size=8)
    gradient_x, gradient_y = tape.gradient(value, [x, y])
    assert np.isfinite(gradient_x.numpy()).all()
    assert np.isfinite(gradient_y.numpy()).all()


# --- mmd_test -------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd_test_statistic_equals_mmd2(estimator):
    x, y = samples(30)
    result = mmd_test(x, y, estimator=estimator, num_permutations=20, seed=1)
    expected = float(mmd2(x, y, estimator=estimator))
    np.testing.assert_allclose(result.statistic, expected, rtol=1e-11)
    assert result.estimator == estimator
    np.testing.assert_allclose(result.bandwidth, median_bandwidth(x, y), rtol=1e-12)


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd_test_null_samples_are_splits(estimator):
    # With n = m = 2 the pooled set has 6 splits, so every null sample must be
    # the MMD^2 of one of them. 200 relabellings meet all 3 distinct values.
    x, y = samples(31, n=2, m=2, shift=1.0)
    pooled = np.concatenate([x, y])
    split_values = []
    for chosen in itertools.combinations(range(4), 2):
        rest = [i for i in range(4) if i not in chosen]
        split_values.append(float(mmd2(pooled[list(chosen)], pooled[rest], bandwidth=1.3, estimator=estimator)))
    split_values = np.array(split_values)

    result = mmd_test(x, y, bandwidth=1.3, estimator=estimator, num_permutations=200, seed=2)
    distance_to_split = np.min(np.abs(result.null_samples[:, None] - split_values[None, :]), axis=1)
    assert result.null_samples.shape == (200,)
    assert np.max(distance_to_split) < 1e-12
    hits = np.abs(result.null_samples[:, None] - split_values[None, :]) < 1e-12
    assert hits.any(axis=0).all()


def test_mmd_test_p_value_counts_ties():
    # The observed split and its complement have the same MMD^2 when n = m,
    # so both count in the p-value whatever rounding does to either.
    for seed in range(10):
        x, y = samples(40 + seed, n=2, m=2, shift=1.0)
        result = mmd_test(x, y, bandwidth=1.3, num_permutations=200, seed=seed)
        at_least = np.count_nonzero(result.null_samples >= result.statistic - 1e-12)
        assert result.p_value == (1 + at_least) / 201


def test_mmd_test_null_mean_zero():
    # Over random relabellings of a fixed pooled set the unbiased statistic
    # has mean exactly 0. The bound is 4 standard errors over 500 relabellings.
    x, y = samples(32, n=15, m=12, shift=0.3)
    result = mmd_test(x, y, bandwidth=1.3, num_permutations=500, seed=3)
    standard_error = np.std(result.null_samples, ddof=1) / np.sqrt(500)
    assert abs(np.mean(result.null_samples)) < 4.0 * standard_error


def test_mmd_test_calibrated_under_null():
    # P = Q: the p-value is uniform over seeds. Of 40 p-values, the number at
    # most 0.1 is Binomial(40, 0.1), mean 4 and standard deviation 1.9, and
    # the number at most 0.5 is Binomial(40, 0.5), mean 20 and deviation 3.2.
    p_values = []
    for seed in range(40):
        rng = np.random.default_rng(200 + seed)
        x = rng.normal(size=(10, 3))
        y = rng.normal(size=(10, 3))
        p_values.append(mmd_test(x, y, bandwidth=1.3, num_permutations=99, seed=seed).p_value)
    p_values = np.array(p_values)
    assert np.count_nonzero(p_values <= 0.1) <= 10
    assert 10 <= np.count_nonzero(p_values <= 0.5) <= 30


def test_mmd_test_power_on_mean_shift():
    # A shift of one standard deviation in each of 3 features with 30 points
    # per side is detected with overwhelming probability.
    for seed in range(5):
        rng = np.random.default_rng(300 + seed)
        x = rng.normal(size=(30, 3))
        y = rng.normal(size=(30, 3)) + 1.0
        assert mmd_test(x, y, num_permutations=99, seed=seed).p_value <= 0.02


def test_mmd_test_same_seed_same_result():
    x, y = samples(33)
    first = mmd_test(x, y, num_permutations=50, seed=7)
    second = mmd_test(x, y, num_permutations=50, seed=7)
    other = mmd_test(x, y, num_permutations=50, seed=8)
    np.testing.assert_array_equal(first.null_samples, second.null_samples)
    assert first.p_value == second.p_value
    assert not np.array_equal(first.null_samples, other.null_samples)


def test_mmd_test_rejects_linear():
    x, y = samples(34)
    with pytest.raises(ValueError, match="`estimator` must be one of 'unbiased', 'biased'; got 'linear'"):
        mmd_test(x, y, estimator="linear", num_permutations=10, seed=0)


def test_mmd_test_rejects_zero_permutations():
    x, y = samples(35)
    with pytest.raises(ValueError, match="`num_permutations` must be at least 1, got 0"):
        mmd_test(x, y, num_permutations=0, seed=0)

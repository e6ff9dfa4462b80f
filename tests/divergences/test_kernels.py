"""Tests for named kernels, bandwidth rules and the polynomial kernel."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.spatial.distance import cdist, pdist

from discrepancy.divergences import InhomogeneousPolynomial, make_kernel, median_bandwidth
from discrepancy.divergences._kernels import is_translation_invariant

tfpk = tfp.math.psd_kernels


def points(seed, n=6, d=3):
    return np.random.default_rng(seed).normal(size=(n, d))


# --- named kernels against their documented formulas -------------------------------


def formula(name, a, b, sigma, alpha=2.0):
    """The kernel table of _kernels.py, with r = |a - b|."""
    r = cdist(a, b)
    if name == "gaussian":
        return np.exp(-(r**2) / (2.0 * sigma**2))
    if name == "laplacian":
        return np.exp(-r / sigma)
    if name == "rational-quadratic":
        return (1.0 + r**2 / (2.0 * alpha * sigma**2)) ** -alpha
    if name == "inverse-multiquadric":
        return (1.0 + r**2 / sigma**2) ** -0.5
    raise AssertionError(name)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["gaussian", "laplacian", "rational-quadratic", "inverse-multiquadric"])
def test_make_kernel_formula(name, dtype):
    a, b = points(0), points(1, n=4)
    kernel = make_kernel(name, bandwidth=0.8, dtype=dtype, alpha=2.0)
    matrix = kernel.matrix(tf.constant(a, dtype), tf.constant(b, dtype)).numpy()
    assert matrix.dtype == dtype.as_numpy_dtype
    # float32 kernel values carry relative rounding of about 1e-7.
    rtol = 1e-5 if dtype == tf.float32 else 1e-12
    np.testing.assert_allclose(matrix, formula(name, a, b, 0.8), rtol=rtol)


def test_inverse_multiquadric_hand_value():
    # r = 5 (a 3-4-5 triangle) and sigma = 2: (1 + 25 / 4)^(-1/2) = 2 / sqrt(29).
    kernel = make_kernel("inverse-multiquadric", bandwidth=2.0, dtype=tf.float64)
    value = kernel.apply(tf.constant([0.0, 0.0], tf.float64), tf.constant([3.0, 4.0], tf.float64))
    np.testing.assert_allclose(float(value), 2.0 / np.sqrt(29.0), rtol=1e-15)


def test_polynomial_default_kid_kernel():
    # KID's kernel: (x . y / d + 1)^3, with scale 1/d taken from the samples.
    x = points(2, d=4)
    kernel = make_kernel("polynomial", x=tf.constant(x), dtype=tf.float64)
    matrix = kernel.matrix(tf.constant(x), tf.constant(x)).numpy()
    np.testing.assert_allclose(matrix, (x @ x.T / 4.0 + 1.0) ** 3, rtol=1e-12)


def test_polynomial_negative_base():
    # An odd degree keeps the sign of a negative base: (-1 * 3 + 1)^3 = -8.
    kernel = InhomogeneousPolynomial(degree=np.float64(3.0), scale=np.float64(1.0), offset=np.float64(1.0))
    value = kernel.apply(tf.constant([1.0], tf.float64), tf.constant([-3.0], tf.float64))
    np.testing.assert_allclose(float(value), -8.0, rtol=1e-15)


def test_polynomial_apply_matches_matrix():
    x, y = points(3), points(4, n=6)
    kernel = InhomogeneousPolynomial(degree=np.float64(2.0), scale=np.float64(0.5), offset=np.float64(0.25))
    applied = kernel.apply(tf.constant(x), tf.constant(y)).numpy()
    matrix = kernel.matrix(tf.constant(x), tf.constant(y)).numpy()
    np.testing.assert_allclose(applied, np.diag(matrix), rtol=1e-14)
    np.testing.assert_allclose(matrix, (0.5 * x @ y.T + 0.25) ** 2, rtol=1e-12)


def test_polynomial_dtype_from_parameters():
    assert InhomogeneousPolynomial(scale=np.float64(1.0), offset=np.float64(1.0)).dtype == tf.float64
    assert InhomogeneousPolynomial().dtype == tf.float32


def test_polynomial_needs_scale_or_samples():
    with pytest.raises(ValueError, match="needs `scale` or samples `x`"):
        make_kernel("polynomial")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"degree": 0}, "`degree` must be at least 1"),
        ({"scale": -1.0}, "`scale` must be positive"),
        ({"offset": -0.5}, "`offset` must be at least 0.0"),
    ],
)
def test_polynomial_invalid_parameters(options, message):
    with pytest.raises(ValueError, match=message):
        make_kernel("polynomial", x=tf.constant(points(5)), **options)


def test_rational_quadratic_alpha_invalid():
    with pytest.raises(ValueError, match="`alpha` must be positive"):
        make_kernel("rational-quadratic", bandwidth=1.0, alpha=0.0)


# --- kernel names and instances -------------------------------------------------------


def test_make_kernel_unknown_name():
    with pytest.raises(ValueError, match="`kernel` must be one of 'gaussian'.*'polynomial'; got 'rbf'"):
        make_kernel("rbf", bandwidth=1.0)


def test_make_kernel_rejects_non_kernel():
    with pytest.raises(TypeError, match="kernel name .* or a tfp.math.psd_kernels instance; got int"):
        make_kernel(3, bandwidth=1.0)


def test_make_kernel_instance_unchanged():
    kernel = tfpk.MaternFiveHalves(length_scale=np.float64(2.0))
    assert make_kernel(kernel, dtype=tf.float64) is kernel


def test_make_kernel_instance_dtype_mismatch():
    kernel = tfpk.MaternFiveHalves(length_scale=np.float32(2.0))
    with pytest.raises(TypeError, match="`kernel` has dtype float32 but the samples are float64"):
        make_kernel(kernel, dtype=tf.float64)


def test_translation_invariance_flags():
    assert is_translation_invariant(make_kernel("gaussian", bandwidth=1.0))
    assert is_translation_invariant(make_kernel("laplacian", bandwidth=1.0))
    assert is_translation_invariant(make_kernel("inverse-multiquadric", bandwidth=1.0))
    assert not is_translation_invariant(make_kernel("polynomial", scale=1.0))
    assert not is_translation_invariant(tfpk.Linear())


# --- bandwidth rules ----------------------------------------------------------------------


def test_median_hand_values():
    # 1-D points {0, 1, 3}: distances 1, 3, 2, median 2. Adding 7 gives
    # 1, 3, 7, 2, 6, 4, whose median is the midpoint (3 + 4) / 2.
    assert median_bandwidth(np.array([[0.0], [1.0], [3.0]])) == 2.0
    assert median_bandwidth(np.array([[0.0], [1.0]]), np.array([[3.0], [7.0]])) == 3.5


def test_median_skips_zero_distances():
    # {0, 0, 1, 3}: the zero distance is left out, leaving 1, 1, 3, 3, 2.
    assert median_bandwidth(np.array([[0.0], [0.0], [1.0], [3.0]])) == 2.0


@pytest.mark.parametrize("scale, num_features", [(1.0, 3), (1e3, 64), (1e4, 128), (1.0, 512)])
def test_median_ignores_duplicates(scale, num_features):
    # Six distinct points, each repeated 30 times. Every pair of distinct
    # points contributes 900 equal distances, so the median is that of the 15
    # distinct distances. Rounding noise between copies must not count.
    rng = np.random.default_rng(6)
    distinct = rng.normal(size=(6, num_features)) * scale + 3.0 * scale
    repeated = np.repeat(distinct, 30, axis=0)
    expected = np.median(pdist(distinct))
    np.testing.assert_allclose(median_bandwidth(repeated), expected, rtol=1e-9)


def test_median_all_identical_fallback():
    with pytest.warns(RuntimeWarning, match="All pairwise distances are zero"):
        value = median_bandwidth(np.full((5, 2), 0.1), np.full((3, 2), 0.1))
    assert value == 1.0


def test_median_pools_x_and_y():
    x, y = points(7), points(8, n=4)
    expected = np.median(pdist(np.concatenate([x, y])))
    np.testing.assert_allclose(median_bandwidth(x, y), expected, rtol=1e-12)


def test_median_subset_above_max_points():
    x = points(9, n=300)
    first = median_bandwidth(x, max_points=100, seed=1)
    second = median_bandwidth(x, max_points=100, seed=1)
    other = median_bandwidth(x, max_points=100, seed=2)
    assert first == second
    assert first != other
    # A median over 4950 of the 44850 pairs: within a few percent of the full one.
    np.testing.assert_allclose(first, np.median(pdist(x)), rtol=0.1)


def test_median_validates_samples():
    with pytest.raises(ValueError, match="`y` contains 1 non-finite"):
        median_bandwidth(points(10), np.array([[np.nan, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="same number of features"):
        median_bandwidth(points(10), points(11, d=2))


@pytest.mark.parametrize(
    "x",
    [
        np.array([[0.0], [1.0], [3.0], [7.0]]),
        np.repeat(points(12, n=4) * 1e3, 10, axis=0),
        np.full((5, 2), 0.1),
    ],
    ids=["hand", "duplicates", "identical"],
)
def test_median_inside_tf_function(x):
    # Below max_points the graph path follows the eager rule exactly,
    # including the fallback to 1.0 (silent in a graph).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eager = median_bandwidth(x)
    graph = tf.function(lambda samples: median_bandwidth(samples))(tf.constant(x))
    np.testing.assert_allclose(float(graph), eager, rtol=1e-12)


def test_make_kernel_median():
    x, y = points(13), points(14)
    kernel = make_kernel("gaussian", bandwidth="median", x=tf.constant(x), y=tf.constant(y), dtype=tf.float64)
    np.testing.assert_allclose(float(kernel.length_scale), median_bandwidth(x, y), rtol=1e-15)


def test_make_kernel_multiscale():
    x = points(15)
    kernel = make_kernel("laplacian", bandwidth="multiscale", x=tf.constant(x), dtype=tf.float64)
    expected = median_bandwidth(x) * np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(kernel.length_scale.numpy(), expected, rtol=1e-15)
    assert kernel.batch_shape == (5,)


def test_make_kernel_sequence():
    kernel = make_kernel("gaussian", bandwidth=[0.5, 2.0], dtype=tf.float64)
    np.testing.assert_array_equal(kernel.length_scale.numpy(), [0.5, 2.0])


def test_make_kernel_data_rule_needs_samples():
    with pytest.raises(ValueError, match="bandwidth='median' needs the samples `x`"):
        make_kernel("gaussian", bandwidth="median")


@pytest.mark.parametrize(
    "bandwidth, error, message",
    [
        (-1.0, ValueError, "`bandwidth` must be positive, got -1.0"),
        (0.0, ValueError, "`bandwidth` must be positive"),
        (float("inf"), ValueError, "`bandwidth` must be finite"),
        ("silverman", ValueError, "`bandwidth` must be one of 'median', 'multiscale'; got 'silverman'"),
        ([], ValueError, "non-empty 1-D sequence"),
        ([[1.0, 2.0]], ValueError, "non-empty 1-D sequence"),
        ([1.0, -2.0], ValueError, r"finite and positive; got \[1.0, -2.0\]"),
        ([1.0, float("nan")], ValueError, "finite and positive"),
        (True, TypeError, "`bandwidth` must be a real number"),
    ],
)
def test_make_kernel_invalid_bandwidth(bandwidth, error, message):
    x = tf.constant(points(16))
    with pytest.raises(error, match=message):
        make_kernel("gaussian", bandwidth=bandwidth, x=x)

"""Tests for the tiled k-NN core and the k-NN KL estimator."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.spatial.distance import cdist

from discrepancy.divergences import Estimate, knn_kl
from discrepancy.divergences._knn import ball_membership, knn_between, knn_kl_estimate, knn_within

DTYPES = [np.float32, np.float64]


# --- float64 NumPy references of the definitions -----------------------------


def reference_within(x, k):
    """k smallest distances to the other points, the point excluded by index."""
    distances = cdist(x.astype(np.float64), x.astype(np.float64))
    np.fill_diagonal(distances, np.inf)
    return np.sort(distances, axis=1)[:, :k]


def reference_between(x, y, k):
    distances = cdist(x.astype(np.float64), y.astype(np.float64))
    return np.sort(distances, axis=1)[:, :k]


def reference_knn_kl(x, y, k):
    """Wang, Kulkarni and Verdu (2009), zero distances skipped."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    within = cdist(x, x)
    np.fill_diagonal(within, np.inf)
    within[within == 0] = np.inf
    between = cdist(x, y)
    between[between == 0] = np.inf
    rho = np.sort(within, axis=1)[:, k - 1]
    nu = np.sort(between, axis=1)[:, k - 1]
    n, d = x.shape
    return d * np.mean(np.log(nu / rho)) + math.log(y.shape[0] / (n - 1))


def tolerance(dtype):
    # Deterministic float32 distances carry relative rounding of about 1e-6;
    # float64 of about 1e-14.
    return 2e-5 if dtype == np.float32 else 1e-10


# --- knn_within and knn_between ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_features", [1, 7, 300])
def test_within_matches_reference(dtype, num_features):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(37, num_features)).astype(dtype)
    # tile_size=8 forces several tiles and a padded last tile (37 = 4 * 8 + 5).
    result = knn_within(x, 4, tile_size=8)
    assert result.dtype == dtype
    np.testing.assert_allclose(result.numpy(), reference_within(x, 4), rtol=tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_features", [3, 300])
@pytest.mark.parametrize("tile_size", [8, 1024])
def test_within_duplicates_at_zero(dtype, num_features, tile_size):
    # Integer coordinates make every squared distance exact in both dtypes,
    # through direct differences (d = 3) and through the expansion (d = 300).
    # With the default tile size, the 128-row tile takes the chunked selection.
    rng = np.random.default_rng(2)
    base = rng.integers(-2, 3, size=(80, num_features))
    x = np.concatenate([base, base[:10], base[:5]]).astype(dtype)
    result = knn_within(x, 3, tile_size=tile_size).numpy()
    np.testing.assert_array_equal(result, reference_within(x, 3).astype(dtype))
    assert result[0, 0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_within_all_identical(dtype):
    x = np.full((9, 4), 3.25, dtype=dtype)
    np.testing.assert_array_equal(knn_within(x, 8).numpy(), np.zeros((9, 8)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_between_matches_reference(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(29, 5)).astype(dtype)
    y = rng.normal(size=(41, 5)).astype(dtype)
    result = knn_between(x, y, 3, tile_size=16)
    np.testing.assert_allclose(result.numpy(), reference_between(x, y, 3), rtol=tolerance(dtype))


def test_within_tile_size_invariance():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6))
    small = knn_within(x, 5, tile_size=8).numpy()
    large = knn_within(x, 5, tile_size=1024).numpy()
    np.testing.assert_allclose(small, large, rtol=1e-12)


def test_within_large_offset_small_spread():
    # Means around 1e4 with spread 1e-2: without the shift to the origin the
    # float32 expansion |a|^2 + |b|^2 - 2 a.b loses every digit.
    rng = np.random.default_rng(5)
    x = (1e4 + 1e-2 * rng.normal(size=(200, 8))).astype(np.float32)
    result = knn_within(x, 2).numpy()
    expected = reference_within(x, 2)
    # The shift is exact, so only float32 rounding of values near 1e-2 remains.
    np.testing.assert_allclose(result, expected, rtol=1e-4)


def test_within_k_too_large():
    with pytest.raises(ValueError, match="at least 4 samples"):
        knn_within(np.zeros((3, 2)), 3)


def test_between_k_too_large():
    with pytest.raises(ValueError, match="exceeds the number of samples in `references`"):
        knn_between(np.zeros((3, 2)), np.ones((2, 2)), 3)


# --- ball_membership -----------------------------------------------------------


def test_ball_membership_closed_rule_ties():
    # Radii equal to exact distances: the boundary point belongs to the ball.
    references = np.array([[0.0, 0.0], [10.0, 0.0]])
    queries = np.array([[3.0, 4.0], [10.0, 0.0], [20.0, 0.0], [5.0, 0.0]])
    radii = np.array([5.0, 0.0])
    result = ball_membership(queries, references, radii, query_radii=[0.0, 0.0, 0.0, 5.0])
    np.testing.assert_array_equal(result.counts.numpy(), [1, 1, 0, 1])
    np.testing.assert_array_equal(result.reference_covered.numpy(), [True, True])
    np.testing.assert_array_equal(result.reference_in_query_ball.numpy(), [True, True])


@pytest.mark.parametrize("dtype", DTYPES)
def test_ball_membership_matches_reference(dtype):
    rng = np.random.default_rng(6)
    queries = rng.integers(-4, 5, size=(45, 2)).astype(dtype)
    references = rng.integers(-4, 5, size=(23, 2)).astype(dtype)
    radii = rng.integers(0, 4, size=23).astype(np.float64)
    query_radii = rng.integers(0, 3, size=45).astype(np.float64)

    result = ball_membership(queries, references, radii, query_radii=query_radii, tile_size=8)

    distances = cdist(queries.astype(np.float64), references.astype(np.float64))
    inside = distances <= radii[None, :]
    np.testing.assert_array_equal(result.counts.numpy(), inside.sum(axis=1))
    np.testing.assert_array_equal(result.reference_covered.numpy(), inside.any(axis=0))
    in_query_ball = (distances <= query_radii[:, None]).any(axis=0)
    np.testing.assert_array_equal(result.reference_in_query_ball.numpy(), in_query_ball)


def test_ball_membership_negative_radius():
    with pytest.raises(ValueError, match="non-negative"):
        ball_membership(np.zeros((2, 1)), np.zeros((2, 1)), [1.0, -1.0])


# --- knn_kl --------------------------------------------------------------------


def gaussian_pair(num_features, seed):
    rng = np.random.default_rng(seed)
    mean = np.linspace(0.5, 1.0, num_features)
    scale = np.linspace(1.0, 1.5, num_features)
    x = rng.normal(size=(3000, num_features))
    y = rng.normal(size=(2500, num_features)) * scale + mean
    p = tfp.distributions.MultivariateNormalDiag(
        loc=tf.zeros(num_features, tf.float64), scale_diag=tf.ones(num_features, tf.float64)
    )
    q = tfp.distributions.MultivariateNormalDiag(
        loc=tf.constant(mean), scale_diag=tf.constant(scale)
    )
    return x, y, float(tfp.distributions.kl_divergence(p, q))


@pytest.mark.parametrize("num_features", [1, 2])
def test_knn_kl_gaussian_closed_form(num_features):
    x, y, truth = gaussian_pair(num_features, seed=7)
    estimate = knn_kl(x, y, k=5, return_estimate=True)
    # Monte Carlo error: 4 reported standard errors, plus 0.03 nats for the
    # estimator's finite-sample bias at n = 3000 in d <= 2.
    assert abs(estimate.value - truth) < 4 * estimate.standard_error + 0.03


def test_knn_kl_matches_reference_with_duplicates():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(60, 3))
    y = rng.normal(size=(50, 3)) + 0.5
    x = np.concatenate([x, x[:20]])  # 25 % duplicates within x
    y = np.concatenate([y, x[:10]])  # points of x also in y
    value = knn_kl(x, y, k=2, tile_size=16)
    np.testing.assert_allclose(float(value), reference_knn_kl(x, y, 2), rtol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_knn_kl_dtype(dtype):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(50, 2)).astype(dtype)
    y = rng.normal(size=(40, 2)).astype(dtype)
    value = knn_kl(x, y, k=3)
    assert value.dtype == dtype
    np.testing.assert_allclose(float(value), reference_knn_kl(x, y, 3), rtol=tolerance(dtype) * 10)


def test_knn_kl_identical_sets():
    x = np.random.default_rng(10).normal(size=(100, 2))
    # With zero distances skipped, nu_k(i) = rho_k(i), leaving log(n / (n - 1)).
    np.testing.assert_allclose(float(knn_kl(x, x)), math.log(100 / 99), rtol=1e-12)


def test_knn_kl_zero_distance_raise():
    x = np.random.default_rng(11).normal(size=(20, 2))
    with pytest.raises(ValueError, match="zero_distance='skip'"):
        knn_kl(x, x, zero_distance="raise")


def test_knn_kl_all_identical_raises():
    x = np.ones((10, 2))
    with pytest.raises(ValueError, match="fewer than k=1 points"):
        knn_kl(x, np.random.default_rng(12).normal(size=(10, 2)))


def test_knn_kl_estimate_fields():
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(80, 2)), rng.normal(size=(70, 2))
    estimate = knn_kl(x, y, k=2, return_estimate=True)
    assert isinstance(estimate, Estimate)
    assert estimate.num_x == 80
    assert estimate.num_y == 70
    assert estimate.standard_error > 0
    assert estimate.value == pytest.approx(float(knn_kl(x, y, k=2)), rel=1e-12)


def test_knn_kl_estimate_confidence_level():
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(80, 2)), rng.normal(size=(70, 2)) + 0.3
    narrow = knn_kl_estimate(x, y, k=2, confidence_level=0.5, seed=3)
    wide = knn_kl_estimate(x, y, k=2, confidence_level=0.99)
    assert narrow.value == wide.value
    assert narrow.confidence_level == 0.5
    low, high = narrow.confidence_interval
    wide_low, wide_high = wide.confidence_interval
    assert wide_low < low < narrow.value < high < wide_high
    with pytest.raises(ValueError, match="confidence_level"):
        knn_kl_estimate(x, y, confidence_level=1.0)


def test_knn_kl_k_bounds():
    x, y = np.random.default_rng(14).normal(size=(2, 5, 2))
    with pytest.raises(ValueError, match="smaller than the number of samples in `x`"):
        knn_kl(x, y, k=5)
    with pytest.raises(ValueError, match="exceeds the number of samples in `y`"):
        knn_kl(x, y[:2], k=3)
    assert math.isfinite(float(knn_kl(x, y, k=4)))


def test_knn_kl_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same number of features"):
        knn_kl(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        knn_kl(np.full((5, 2), np.nan), x)
    with pytest.raises(ValueError, match="zero_distance"):
        knn_kl(x, x, zero_distance="clip")
    with pytest.raises(ValueError, match="shape"):
        knn_kl(np.zeros(5), x)

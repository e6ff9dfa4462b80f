"""Tests for fid: the Frechet Inception Distance from features or statistics."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf

from discrepancy.divergences import frechet_distance
from discrepancy.metrics import FeatureStatistics, FIDResult, fid

EPS64 = np.finfo(np.float64).eps


def reference_fid(real, fake):
    """Float64 NumPy FID: np.cov (ddof = 1), then Tr sqrt(C_g^1/2 C_r C_g^1/2) by eigh."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    cov_r, cov_g = np.cov(real, rowvar=False, ddof=1), np.cov(fake, rowvar=False, ddof=1)
    cov_r, cov_g = np.atleast_2d(cov_r), np.atleast_2d(cov_g)
    values, vectors = np.linalg.eigh(cov_g)
    root_g = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_g @ cov_r @ root_g
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (product + product.T)), 0.0, None)).sum()
    difference = real.mean(0) - fake.mean(0)
    return float(difference @ difference + np.trace(cov_r) + np.trace(cov_g) - 2.0 * trace_sqrt)


def features(rng, n, d, shift=0.0, dtype=np.float64):
    mixing = rng.standard_normal((d, d)) / math.sqrt(d)
    return (rng.standard_normal((n, d)) @ mixing + shift).astype(dtype)


# --- values -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, m, d", [(200, 150, 1), (300, 120, 16), (64, 500, 32)])
def test_fid_matches_reference(dtype, n, m, d):
    rng = np.random.default_rng(d)
    real, fake = features(rng, n, d, dtype=dtype), features(rng, m, d, shift=0.3, dtype=dtype)
    result = fid(real, fake)
    expected = reference_fid(real, fake)
    # Full-rank covariances of condition below 1e3 and a float64 pipeline on
    # both sides; the float32 inputs are exact in float64.
    assert float(result) == pytest.approx(expected, rel=1e-10)
    assert result.num_real == n
    assert result.num_fake == m


def test_fid_identical_sets_zero():
    rng = np.random.default_rng(1)
    x = features(rng, 400, 24, shift=5.0)
    result = fid(x, x)
    trace = np.trace(np.cov(x, rowvar=False))
    # Zero up to rounding of the traces.
    assert 0.0 <= float(result) <= 16 * 24 * EPS64 * trace


def test_fid_gaussian_closed_form():
    # Real statistics with known parameters; FID from the statistics alone
    # equals the Frechet distance of those parameters exactly.
    mean_r, cov_r = np.array([1.0, 0.0]), np.array([[2.0, 0.3], [0.3, 0.5]])
    mean_g, cov_g = np.array([0.0, -1.0]), np.array([[1.0, -0.2], [-0.2, 1.5]])
    real = FeatureStatistics.from_moments(1000, mean_r, cov_r)
    fake = FeatureStatistics.from_moments(500, mean_g, cov_g)
    expected = float(frechet_distance(mean_r, cov_r, mean_g, cov_g))
    assert float(fid(real, fake)) == pytest.approx(expected, rel=1e-14)


def test_fid_input_forms_agree(tmp_path):
    rng = np.random.default_rng(2)
    real, fake = features(rng, 130, 6), features(rng, 90, 6, shift=1.0)
    expected = float(fid(real, fake))

    dataset = tf.data.Dataset.from_tensor_slices(fake).batch(7)
    assert float(fid(real, dataset)) == pytest.approx(expected, rel=1e-12)

    statistics = FeatureStatistics.from_features(real)
    assert float(fid(statistics, fake)) == pytest.approx(expected, rel=1e-12)

    statistics.save(tmp_path / "real.npz")
    assert float(fid(tmp_path / "real.npz", fake)) == pytest.approx(expected, rel=1e-12)
    assert float(fid(str(tmp_path / "real.npz"), tf.constant(fake))) == pytest.approx(expected, rel=1e-12)


def test_fid_batch_size_invariance():
    rng = np.random.default_rng(3)
    real, fake = features(rng, 101, 5, shift=1e4), features(rng, 77, 5, shift=1e4 + 0.1)
    reference = float(fid(real, fake, batch_size=101))
    for batch_size in (1, 13):
        assert float(fid(real, fake, batch_size=batch_size)) == pytest.approx(reference, rel=1e-10)


def test_fid_result_attributes():
    rng = np.random.default_rng(4)
    result = fid(features(rng, 50, 3), features(rng, 40, 3))
    assert isinstance(result, FIDResult)
    assert isinstance(float(result), float)
    assert result.clipped_eigenvalue_mass >= 0.0
    assert result.fid_infinity is None
    assert set(result.diagnostics) >= {"mean_term", "trace_p", "trace_q", "trace_sqrt_product"}
    assert "fid = " in str(result)


# --- sample counts around the dimension ---------------------------------------------------


@pytest.mark.parametrize("n", [2, 8, 15, 16])
def test_fid_few_samples_warns(n):
    rng = np.random.default_rng(n)
    d = 16
    with pytest.warns(UserWarning, match=f"`fake` has {n} samples for {d} features"):
        result = fid(features(rng, 200, d), features(rng, n, d))
    assert math.isfinite(float(result))
    assert float(result) >= 0.0


@pytest.mark.parametrize("n", [17, 160])
def test_fid_enough_samples_silent(n):
    rng = np.random.default_rng(n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid(features(rng, 200, 16), features(rng, n, 16))


def test_fid_rank_deficient_features():
    # Features confined to a 3-dimensional subspace of 10 dimensions.
    rng = np.random.default_rng(5)
    basis = rng.standard_normal((3, 10))
    real, fake = rng.standard_normal((500, 3)) @ basis, rng.standard_normal((400, 3)) @ basis + 0.5
    result = fid(real, fake)
    assert float(result) >= 0.0
    assert float(result) == pytest.approx(reference_fid(real, fake), rel=1e-6)


# --- FID infinity ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_fid_infinity_reduces_bias(seed):
    # Real statistics are the exact population, and the generated set is a
    # sample of a known Gaussian with the same mean, so the true FID is the
    # closed form and the sampling error is mostly bias, not noise.
    d, num_fake = 32, 2000
    scales = np.linspace(0.5, 2.0, d)
    true_fid = float(frechet_distance(np.zeros(d), np.eye(d), np.zeros(d), np.diag(scales)))
    real = FeatureStatistics.from_moments(10**9, np.zeros(d), np.eye(d))
    fake = np.random.default_rng(seed).standard_normal((num_fake, d)) * np.sqrt(scales)

    result = fid(real, fake, infinity=True, seed=seed)
    bias = float(result) - true_fid
    # Measured over four seeds: FID is 0.13 to 0.18 too high, FID_infinity
    # within 0.04 of the truth.
    assert bias > 0.05
    assert abs(result.fid_infinity - true_fid) < 0.5 * bias
    assert result.diagnostics["infinity_slope"] > 0.0
    assert result.diagnostics["infinity_sizes"][0] == 200
    assert result.diagnostics["infinity_sizes"][-1] == num_fake
    assert len(result.diagnostics["infinity_sizes"]) == 15


def test_fid_infinity_intercept_is_fit():
    rng = np.random.default_rng(7)
    real, fake = features(rng, 300, 3), features(rng, 200, 3, shift=1.0)
    result = fid(real, fake, infinity=True, infinity_num_points=5, seed=1)
    inverse = 1.0 / np.array(result.diagnostics["infinity_sizes"], dtype=np.float64)
    values = np.array(result.diagnostics["infinity_values"])
    # Ordinary least squares for values = intercept + slope * inverse, by hand.
    slope = np.sum((inverse - inverse.mean()) * (values - values.mean())) / np.sum((inverse - inverse.mean()) ** 2)
    intercept = values.mean() - slope * inverse.mean()
    assert result.fid_infinity == pytest.approx(intercept, rel=1e-10, abs=1e-12)
    assert result.diagnostics["infinity_slope"] == pytest.approx(slope, rel=1e-10)
    # The full-size subset is the whole set, so its FID is the plain FID.
    assert values[-1] == pytest.approx(float(result), rel=1e-12)


def test_fid_infinity_rejects_single_size():
    rng = np.random.default_rng(7)
    real, fake = features(rng, 100, 3), features(rng, 60, 3)
    with pytest.raises(ValueError, match="at least 2 distinct subset sizes"):
        fid(real, fake, infinity=True, infinity_min_size=60, seed=1)


def test_fid_infinity_seeded():
    rng = np.random.default_rng(8)
    real, fake = features(rng, 300, 4), features(rng, 300, 4, shift=0.5)
    first = fid(real, fake, infinity=True, infinity_num_points=4, seed=3)
    second = fid(real, fake, infinity=True, infinity_num_points=4, seed=3)
    other = fid(real, fake, infinity=True, infinity_num_points=4, seed=4)
    assert first.fid_infinity == second.fid_infinity
    assert first.fid_infinity != other.fid_infinity
    assert first.diagnostics["seed"] == 3


def test_fid_infinity_needs_features():
    rng = np.random.default_rng(9)
    fake = FeatureStatistics.from_features(features(rng, 50, 3))
    with pytest.raises(ValueError, match="`fake` must be a feature array"):
        fid(features(rng, 50, 3), fake, infinity=True)


# --- validation ------------------------------------------------------------------------------


def test_fid_rejects_one_sample():
    with pytest.raises(ValueError, match="`real` has 1 sample"):
        fid(np.ones((1, 3)), np.ones((5, 3)))


def test_fid_rejects_dimension_mismatch():
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match="`real` has 3 features and `fake` has 4"):
        fid(features(rng, 10, 3), features(rng, 10, 4))


def test_fid_rejects_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        fid(tmp_path / "missing.npz", np.ones((5, 3)))


def test_fid_rejects_labelled_dataset():
    dataset = tf.data.Dataset.from_tensor_slices((np.ones((4, 2)), np.zeros(4))).batch(2)
    with pytest.raises(TypeError, match="Drop labels"):
        fid(dataset, np.ones((4, 2)))


def test_fid_rejects_nan():
    fake = np.ones((5, 2))
    fake[2, 1] = np.nan
    with pytest.raises(ValueError, match="`fake` contains 1 non-finite"):
        fid(np.ones((5, 2)), fake)

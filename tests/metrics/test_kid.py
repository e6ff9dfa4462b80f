"""Tests for kid: unbiased MMD^2 with the cubic kernel over random subsets."""

import warnings

import numpy as np
import pytest

from discrepancy.metrics import KIDResult, kid


def reference_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a . b / d + 1)^3, float64, diagonals excluded by mask."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    n, m = x.shape[0], y.shape[0]
    off_x = ~np.eye(n, dtype=bool)
    off_y = ~np.eye(m, dtype=bool)
    return k_xx[off_x].sum() / (n * (n - 1)) + k_yy[off_y].sum() / (m * (m - 1)) - 2.0 * k_xy.mean()


def reference_kid(real, fake, num_subsets, subset_size, seed):
    """The subset procedure of the kid docstring, with the float64 reference per subset."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        real_rows = rng.choice(real.shape[0], subset_size, replace=False)
        fake_rows = rng.choice(fake.shape[0], subset_size, replace=False)
        values.append(reference_mmd2(real[real_rows], fake[fake_rows]))
    return np.mean(values), np.std(values)


def features(rng, n, d, shift=0.0, dtype=np.float64):
    # Non-negative, like pooled ReLU activations.
    return (np.abs(rng.standard_normal((n, d))) + shift).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, m, d", [(60, 45, 1), (50, 70, 12)])
def test_kid_matches_reference(dtype, n, m, d):
    rng = np.random.default_rng(d)
    real, fake = features(rng, n, d, dtype=dtype), features(rng, m, d, shift=0.2, dtype=dtype)
    result = kid(real, fake, num_subsets=7, subset_size=30, seed=5)
    mean, std = reference_kid(real, fake, 7, 30, 5)
    # float32 kernel values round at 6e-8 of terms of order 10, and the sums
    # are float64: errors stay near 1e-6 of the kernel mean.
    tolerance = 1e-5 if dtype == np.float32 else 1e-11
    assert result.mean == pytest.approx(mean, rel=tolerance, abs=tolerance)
    assert result.std == pytest.approx(std, rel=1e-3 if dtype == np.float32 else 1e-9, abs=tolerance)


def test_kid_whole_sets():
    # With subset_size = n = m every subset is the whole set (reordered), so
    # each value is the full U-statistic and the spread is rounding.
    rng = np.random.default_rng(1)
    real, fake = features(rng, 40, 5), features(rng, 40, 5, shift=0.1)
    result = kid(real, fake, num_subsets=3, subset_size=40, seed=0)
    assert result.mean == pytest.approx(reference_mmd2(real, fake), rel=1e-11)
    assert result.std <= 1e-13


def test_kid_unpacks_and_converts():
    rng = np.random.default_rng(2)
    result = kid(features(rng, 30, 3), features(rng, 30, 3), num_subsets=4, subset_size=10, seed=1)
    mean, std = result
    assert isinstance(result, KIDResult)
    assert mean == result.mean
    assert std == result.std
    assert float(result) == result.mean
    assert result.values.shape == (4,)
    assert result.subset_size == 10
    assert result.num_subsets == 4
    assert result.num_real == 30


def test_kid_seeded():
    rng = np.random.default_rng(3)
    real, fake = features(rng, 80, 4), features(rng, 90, 4, shift=0.1)
    first = kid(real, fake, num_subsets=5, subset_size=20, seed=7)
    second = kid(real, fake, num_subsets=5, subset_size=20, seed=7)
    other = kid(real, fake, num_subsets=5, subset_size=20, seed=8)
    assert first.mean == second.mean
    assert first.std == second.std
    assert first.mean != other.mean


def test_kid_negative_when_equal():
    # Unbiased: under P = Q the subset estimates scatter around 0 with both
    # signs, and they are not clipped.
    rng = np.random.default_rng(4)
    x = features(rng, 400, 6)
    real, fake = x[:200], x[200:]
    result = kid(real, fake, num_subsets=40, subset_size=50, seed=0)
    assert (result.values < 0).any()
    assert (result.values > 0).any()
    # Under P = Q the U-statistic's spread falls like 1/n, so the mean has a
    # spread of about std * (1/sqrt(40) + 50/200) = 0.41 std; allow 2.4 of those.
    assert abs(result.mean) < result.std


def test_kid_detects_shift():
    rng = np.random.default_rng(5)
    result = kid(features(rng, 200, 6), features(rng, 200, 6, shift=0.5), num_subsets=10, subset_size=50, seed=0)
    assert result.mean > 5 * result.std


def test_kid_caps_subset_size():
    rng = np.random.default_rng(6)
    real, fake = features(rng, 30, 3), features(rng, 20, 3)
    with pytest.warns(UserWarning, match="using subset_size=20"):
        result = kid(real, fake, num_subsets=2, subset_size=1000, seed=0)
    assert result.subset_size == 20


def test_kid_default_size_silent_when_large():
    rng = np.random.default_rng(7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kid(features(rng, 40, 2), features(rng, 40, 2), num_subsets=2, subset_size=40, seed=0)


def test_kid_rejects_bad_input():
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="`real` has 1 sample"):
        kid(np.ones((1, 3)), features(rng, 5, 3))
    with pytest.raises(ValueError, match="same number of features"):
        kid(features(rng, 5, 3), features(rng, 5, 4))
    with pytest.raises(ValueError, match="`num_subsets` must be at least 1"):
        kid(features(rng, 5, 3), features(rng, 5, 3), num_subsets=0)
    with pytest.raises(ValueError, match="`subset_size` must be at least 2"):
        kid(features(rng, 5, 3), features(rng, 5, 3), subset_size=1)

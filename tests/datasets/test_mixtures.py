"""Tests of the ring, grid and 1200-D ring mixtures."""

import itertools

import numpy as np
import pytest

from discrepancy import datasets
from discrepancy.datasets import _mixtures


# Ring.


def test_ring_pacgan_preset():
    data = datasets.ring(100, seed=0)
    assert data.settings["radius"] == 1.0
    assert data.settings["std"] == 0.01
    assert data.num_modes == 8
    np.testing.assert_array_equal(data.stds, np.full(8, 0.01, dtype=np.float32))
    assert data.high_quality_threshold == 3.0


@pytest.mark.parametrize("num_modes", [1, 3, 8, 10])
def test_ring_means_equally_spaced(num_modes):
    means = _mixtures.ring_means(num_modes, 2.0)
    angles = np.arctan2(means[:, 1], means[:, 0]) % (2 * np.pi)
    expected = 2 * np.pi * np.arange(num_modes) / num_modes

    # Pure float64 trigonometry: rounding only.
    np.testing.assert_allclose(angles, expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 2.0, rtol=1e-14)


def test_ring_means_distinct():
    means = _mixtures.ring_means(8, 1.0)
    gaps = [np.linalg.norm(means[i] - means[j]) for i, j in itertools.combinations(range(8), 2)]
    # The closest pair is two neighbours, 2 sin(pi / 8) apart.
    assert min(gaps) == pytest.approx(2 * np.sin(np.pi / 8), rel=1e-12)


def test_ring_samples_match_modes():
    data = datasets.ring(20000, seed=1, dtype="float64")
    offsets = data.samples - data.means[data.labels]

    # 40000 offset coordinates with std 0.01: the sample std has relative
    # standard error 1 / sqrt(2 * 40000) = 0.0035; allow 5 standard errors.
    assert np.std(offsets) == pytest.approx(0.01, rel=0.02)
    # Mean offset: standard error 0.01 / sqrt(20000) = 7e-5 per coordinate.
    np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=4e-4)
    # Modes are uniform: each count is Binomial(20000, 1/8), sd 47.
    counts = np.bincount(data.labels, minlength=8)
    np.testing.assert_allclose(counts, 2500, atol=250)


def test_ring_nearest_mode_is_label():
    data = datasets.ring(2000, seed=2)
    distances = np.linalg.norm(data.samples[:, None, :] - data.means[None], axis=-1)
    np.testing.assert_array_equal(distances.argmin(axis=1), data.labels)


def test_ring_overrides_preset():
    data = datasets.ring(50, num_modes=5, radius=3.0, std=0.5, seed=0)
    assert data.means.shape == (5, 2)
    np.testing.assert_allclose(np.linalg.norm(data.means, axis=1), 3.0, rtol=1e-6)
    np.testing.assert_array_equal(data.stds, np.full(5, 0.5, dtype=np.float32))
    assert data.settings["num_modes"] == 5


# Grid.


def test_grid_pacgan_means():
    data = datasets.grid(10, seed=0)
    expected = {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(point) for point in data.means.astype(int).tolist()} == expected
    np.testing.assert_array_equal(data.means, np.round(data.means))
    assert data.num_modes == 25
    np.testing.assert_array_equal(data.stds, np.full(25, 0.05, dtype=np.float32))


def test_grid_samples_match_modes():
    data = datasets.grid(25000, seed=3, dtype="float64")
    offsets = data.samples - data.means[data.labels]

    # 50000 coordinates: relative standard error of the std is 0.0032.
    assert np.std(offsets) == pytest.approx(0.05, rel=0.02)
    counts = np.bincount(data.labels, minlength=25)
    # Binomial(25000, 1/25): sd 31; allow 6 sd.
    np.testing.assert_allclose(counts, 1000, atol=190)


def test_grid_overrides_preset():
    data = datasets.grid(10, side=3, spacing=1.0, seed=0)
    np.testing.assert_array_equal(np.unique(data.means), [-1.0, 0.0, 1.0])
    assert data.num_modes == 9


# High-dimensional ring.


def test_high_dim_ring_shapes():
    data = datasets.high_dim_ring(300, seed=0)
    assert data.samples.shape == (300, 1200)
    assert data.means.shape == (10, 1200)
    assert data.settings["mode_dimension"] == 700


def test_high_dim_ring_threshold_keeps_real_samples():
    # The threshold is the 0.999 quantile of a real sample's distance to its
    # mean in std units, so about 0.1 % of 5000 real samples fall outside.
    data = datasets.high_dim_ring(5000, seed=1, dtype="float64")
    distances = np.linalg.norm(data.samples - data.means[data.labels], axis=1) / data.stds[data.labels]
    outside = np.mean(distances > data.high_quality_threshold)
    assert 28.0 < data.high_quality_threshold < 29.5
    assert outside < 0.004
    # Below half the spacing of neighbouring means, so no sample is near two modes.
    spacing = np.linalg.norm(data.means[0] - data.means[1]) / data.stds[0]
    assert data.high_quality_threshold < spacing / 2


def test_high_dim_ring_geometry_preserved():
    data = datasets.high_dim_ring(10, seed=0, dtype="float64")
    expected = _mixtures.ring_means(10, 1.0)
    pairwise = np.linalg.norm(data.means[:, None] - data.means[None], axis=-1)
    reference = np.linalg.norm(expected[:, None] - expected[None], axis=-1)

    # The embedding has orthonormal columns, so distances are kept to rounding.
    np.testing.assert_allclose(pairwise, reference, atol=1e-12)


def test_high_dim_ring_offsets_in_subspace():
    data = datasets.high_dim_ring(400, seed=4, dtype="float64")
    offsets = data.samples - data.means[data.labels]
    embedding = _mixtures._orthonormal_embedding(1200, 700)
    outside = offsets - (offsets @ embedding) @ embedding.T

    np.testing.assert_allclose(outside, 0.0, atol=1e-12)
    # Squared norm / std^2 is chi-squared with 700 degrees of freedom:
    # its mean over 400 samples has relative sd sqrt(2 / 700 / 400) = 0.0027.
    mean_square = np.mean(np.sum(offsets**2, axis=1)) / 0.01**2
    assert mean_square == pytest.approx(700, rel=0.015)


def test_high_dim_ring_modes_fixed_across_seeds():
    first = datasets.high_dim_ring(5, seed=0)
    second = datasets.high_dim_ring(5, seed=99)
    np.testing.assert_array_equal(first.means, second.means)


# Shared behaviour.

_MAKERS = [datasets.ring, datasets.grid, datasets.high_dim_ring]


@pytest.mark.parametrize("make", _MAKERS)
def test_mixture_seed_reproducible(make):
    first = make(64, seed=7)
    second = make(64, seed=7)
    np.testing.assert_array_equal(first.samples, second.samples)
    np.testing.assert_array_equal(first.labels, second.labels)


@pytest.mark.parametrize("make", _MAKERS)
def test_mixture_seeds_differ(make):
    first = make(64, seed=7)
    second = make(64, seed=8)
    assert not np.array_equal(first.samples, second.samples)


@pytest.mark.parametrize("make", _MAKERS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mixture_dtype(make, dtype):
    data = make(8, seed=0, dtype=dtype)
    assert data.samples.dtype == np.dtype(dtype)
    assert data.means.dtype == np.dtype(dtype)
    assert data.stds.dtype == np.dtype(dtype)
    assert data.labels.dtype == np.int64


@pytest.mark.parametrize("make", _MAKERS)
def test_mixture_rejects_bad_arguments(make):
    with pytest.raises(ValueError, match="num_samples"):
        make(0)
    with pytest.raises(ValueError, match="preset"):
        make(10, preset="unknown")
    with pytest.raises(ValueError, match="dtype"):
        make(10, dtype="float16")
    with pytest.raises(ValueError, match="std"):
        make(10, std=-1.0)
    with pytest.raises(ValueError, match="seed"):
        make(10, seed=-3)

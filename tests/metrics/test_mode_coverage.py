"""Tests for mode coverage on constructed samples with exact expected values."""

import math

import numpy as np
import pytest
from scipy import stats

from discrepancy.metrics import _mode_coverage, mode_coverage

NUM_MODES = 8
STD = 0.05


def ring_means(num_modes=NUM_MODES, radius=2.0):
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def samples_on_modes(counts, means, std=STD, seed=0):
    """Samples within 2 std of their mode (so all high quality), `counts[k]` per mode."""
    rng = np.random.default_rng(seed)
    pieces = []
    for mode, count in enumerate(counts):
        offsets = rng.uniform(-1.0, 1.0, size=(count, means.shape[1])) * std
        pieces.append(means[mode] + offsets)
    return np.concatenate(pieces)


def expected_divergences(histogram, weights):
    p = histogram / histogram.sum()
    middle = (p + weights) / 2
    return stats.entropy(p, weights), (stats.entropy(p, middle) + stats.entropy(weights, middle)) / 2


@pytest.mark.parametrize("dropped", [0, 1, 3, 7])
def test_drop_modes_exact(dropped):
    means = ring_means()
    counts = [50] * (NUM_MODES - dropped) + [0] * dropped
    result = mode_coverage(samples_on_modes(counts, means), means=means, stds=STD)
    assert result.modes_captured == NUM_MODES - dropped
    np.testing.assert_array_equal(result.histogram, counts)
    assert result.high_quality_fraction == 1.0
    # Uniform mass on the K - k remaining modes: KL = log(K / (K - k)).
    assert result.kl == pytest.approx(math.log(NUM_MODES / (NUM_MODES - dropped)), abs=1e-15)


def test_kl_and_js_against_scipy():
    means = ring_means()
    counts = np.array([5, 40, 0, 17, 3, 0, 60, 1])
    weights = np.array([0.1, 0.2, 0.05, 0.15, 0.1, 0.1, 0.2, 0.1])
    result = mode_coverage(samples_on_modes(counts, means), means=means, stds=STD, weights=weights)
    kl, js = expected_divergences(counts, weights)
    assert result.kl == pytest.approx(kl, rel=1e-12)
    assert result.js == pytest.approx(js, rel=1e-12)
    assert 0.0 <= result.js <= math.log(2.0)


def test_low_quality_samples_excluded():
    means = ring_means()
    good = samples_on_modes([10] * NUM_MODES, means)
    # Points at the centre of the ring are 40 std from every mode.
    outliers = np.zeros((20, 2))
    result = mode_coverage(np.concatenate([good, outliers]), means=means, stds=STD)
    assert result.num_high_quality == 80
    assert result.high_quality_fraction == 80 / 100
    assert result.kl == pytest.approx(0.0, abs=1e-15)
    assert result.js == pytest.approx(0.0, abs=1e-15)


def test_threshold_boundary_is_inside():
    means = np.array([[0.0, 0.0], [100.0, 0.0]])
    samples = np.array([[3.0, 0.0], [0.0, -3.0 - 1e-9], [100.0, 3.0]])
    result = mode_coverage(samples, means=means, stds=1.0, threshold=3.0)
    np.testing.assert_array_equal(result.histogram, [1, 1])
    assert result.num_high_quality == 2


def test_per_mode_and_per_feature_stds():
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    samples = np.array([[0.0, 5.0], [10.0, 5.0]])
    # Mode 0 is wide along the second feature, mode 1 is not.
    stds = np.array([[1.0, 2.0], [1.0, 1.0]])
    result = mode_coverage(samples, means=means, stds=stds, threshold=3.0)
    np.testing.assert_array_equal(result.histogram, [1, 0])
    np.testing.assert_allclose(result.distances, [2.5, 5.0])
    per_mode = mode_coverage(samples, means=means, stds=[2.0, 1.0], threshold=3.0)
    np.testing.assert_array_equal(per_mode.histogram, [1, 0])


def test_nearest_mode_uses_normalised_distance():
    means = np.array([[0.0], [4.0]])
    # Closer to mode 1 in raw distance, but mode 0 is ten times wider.
    result = mode_coverage(np.array([[2.5]]), means=means, stds=[10.0, 0.5])
    np.testing.assert_array_equal(result.assignments, [0])


def test_min_count_and_fraction():
    means = ring_means()
    counts = [30, 30, 30, 30, 5, 2, 1, 0]
    samples = samples_on_modes(counts, means)
    assert mode_coverage(samples, means=means, stds=STD).modes_captured == 7
    assert mode_coverage(samples, means=means, stds=STD, min_count=5).modes_captured == 5
    # 0.05 of 128 samples is 6.4, so modes need at least 7 samples.
    assert mode_coverage(samples, means=means, stds=STD, min_fraction=0.05).modes_captured == 4


def test_no_high_quality_samples():
    means = ring_means()
    with pytest.warns(RuntimeWarning, match="No sample is high quality"):
        result = mode_coverage(np.zeros((10, 2)), means=means, stds=STD)
    assert result.modes_captured == 0
    assert result.kl == math.inf
    assert result.js == math.log(2.0)


def test_labels_stacked_digits():
    rng = np.random.default_rng(1)
    num_classes = 1000
    kept_classes = rng.permutation(num_classes)[:873]
    labels = np.concatenate([kept_classes, rng.choice(kept_classes, size=4000)])
    result = mode_coverage(labels=labels, num_modes=num_classes)
    assert result.modes_captured == 873
    assert result.high_quality_fraction == 1.0
    histogram = np.bincount(labels, minlength=num_classes)
    np.testing.assert_array_equal(result.histogram, histogram)
    kl, js = expected_divergences(histogram, np.full(num_classes, 1 / num_classes))
    assert result.kl == pytest.approx(kl, rel=1e-12)
    assert result.js == pytest.approx(js, rel=1e-12)


def test_high_dimensional_modes():
    rng = np.random.default_rng(2)
    means = rng.normal(size=(5, 100)) * 100
    samples = means[[0, 1, 1, 2]] + rng.normal(size=(4, 100))
    # A sample of a 100-dimensional unit Gaussian lies about 10 std from its
    # mean, so threshold 3 rejects it and threshold 15 accepts it.
    assert mode_coverage(samples, means=means, stds=1.0, threshold=15.0).modes_captured == 3
    with pytest.warns(RuntimeWarning):
        assert mode_coverage(samples, means=means, stds=1.0, threshold=3.0).modes_captured == 0


def test_chunking_invariance(monkeypatch):
    means = ring_means()
    rng = np.random.default_rng(3)
    samples = means[rng.integers(0, NUM_MODES, size=103)] + rng.normal(size=(103, 2)) * 0.1
    whole = mode_coverage(samples, means=means, stds=STD)
    # 10 elements per chunk: 5 two-feature samples, so 21 chunks, the last partial.
    monkeypatch.setattr(_mode_coverage, "_CHUNK_ELEMENTS", 10)
    chunked = mode_coverage(samples, means=means, stds=STD)
    np.testing.assert_array_equal(chunked.assignments, whole.assignments)
    np.testing.assert_array_equal(chunked.distances, whole.distances)
    np.testing.assert_array_equal(chunked.histogram, whole.histogram)


def test_bad_input():
    means = ring_means()
    samples = samples_on_modes([2] * NUM_MODES, means)
    with pytest.raises(ValueError, match="positive"):
        mode_coverage(samples, means=means, stds=0.0)
    with pytest.raises(ValueError, match="`stds` must be a scalar"):
        mode_coverage(samples, means=means, stds=np.ones(3))
    with pytest.raises(ValueError, match="same number of features"):
        mode_coverage(samples, means=np.zeros((3, 3)), stds=1.0)
    with pytest.raises(ValueError, match="zero target weight"):
        mode_coverage(samples, means=means, stds=STD, weights=[0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="sums to"):
        mode_coverage(samples, means=means, stds=STD, weights=np.ones(NUM_MODES))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        mode_coverage(labels=[0, 10], num_modes=10)
    with pytest.raises(TypeError, match="integers"):
        mode_coverage(labels=[0.5, 1.0], num_modes=10)
    with pytest.raises(ValueError, match="`num_modes` is required"):
        mode_coverage(labels=[0, 1])
    with pytest.raises(ValueError, match="not both"):
        mode_coverage(samples, labels=[0, 1], num_modes=2)
    with pytest.raises(ValueError, match="all required"):
        mode_coverage(samples)
    with pytest.raises(ValueError, match="threshold"):
        mode_coverage(samples, means=means, stds=STD, threshold=-1.0)

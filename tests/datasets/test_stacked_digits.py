"""Tests of the stacked-digits dataset."""

import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from discrepancy import datasets
from discrepancy.datasets import _stacked_digits


def test_stacked_digits_shape_and_range():
    data = datasets.stacked_digits(500, seed=0)
    assert data.samples.shape == (500, 8, 8, 3)
    assert data.samples.dtype == np.float32
    assert data.samples.min() >= 0.0
    assert data.samples.max() <= 1.0
    assert data.num_modes == 1000


def test_stacked_digits_channels_are_scans():
    data = datasets.stacked_digits(50, seed=1, dtype="float64")
    bunch = load_digits()
    for channel in range(3):
        expected = bunch.images[data.source_indices[:, channel]] / 16.0
        np.testing.assert_array_equal(data.samples[..., channel], expected)
        np.testing.assert_array_equal(
            data.digits[:, channel], bunch.target[data.source_indices[:, channel]]
        )


def test_stacked_digits_label_formula():
    data = datasets.stacked_digits(200, seed=2)
    expected = 100 * data.digits[:, 0] + 10 * data.digits[:, 1] + data.digits[:, 2]
    np.testing.assert_array_equal(data.labels, expected)
    assert data.labels.min() >= 0
    assert data.labels.max() <= 999


def test_stacked_digits_covers_modes():
    data = datasets.stacked_digits(20000, seed=3)
    # Each mode has probability >= 0.000908, so a given mode is missing from
    # 20000 draws with probability <= exp(-18), and any of the 1000 with
    # probability <= 2e-5.
    assert np.unique(data.labels).size == 1000


def test_stacked_digits_mode_probabilities():
    probabilities = _stacked_digits.mode_probabilities()
    assert probabilities.shape == (1000,)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    # Class counts 174..183 out of 1797 give these bounds.
    assert probabilities.min() == pytest.approx((174 / 1797) ** 3, rel=1e-12)
    assert probabilities.max() == pytest.approx((183 / 1797) ** 3, rel=1e-12)


def test_stacked_digits_seed_reproducible():
    first = datasets.stacked_digits(64, seed=5)
    second = datasets.stacked_digits(64, seed=5)
    third = datasets.stacked_digits(64, seed=6)
    np.testing.assert_array_equal(first.samples, second.samples)
    assert not np.array_equal(first.labels, third.labels)


def test_stacked_digits_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_samples"):
        datasets.stacked_digits(0)
    with pytest.raises(ValueError, match="dtype"):
        datasets.stacked_digits(10, dtype="int8")


def test_stacked_digits_missing_sklearn(monkeypatch):
    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"discrepancy\[test\]"):
        datasets.stacked_digits(10)


def _digit_shares():
    return np.bincount(load_digits().target, minlength=10) / 1797


def test_mode_kl_parts_sum_to_mode_kl():
    # Labels drawn from a skewed, dependent law over the 1000 modes.
    generator = np.random.default_rng(7)
    law = generator.dirichlet(np.full(1000, 0.3))
    labels = generator.choice(1000, size=5000, p=law)
    channel_kl, total_correlation = datasets.mode_kl_parts(labels)

    histogram = np.bincount(labels, minlength=1000) / labels.size
    target = _stacked_digits.mode_probabilities()
    seen = histogram > 0
    mode_kl = np.sum(histogram[seen] * np.log(histogram[seen] / target[seen]))
    assert channel_kl + total_correlation == pytest.approx(mode_kl, rel=1e-10)
    assert channel_kl > 0.0
    assert total_correlation > 0.0


def test_mode_kl_parts_hand_computed():
    # Channel 1 repeats channel 0's digit, which is uniform, and channel 2 is
    # always 0. Total correlation = mutual information of a digit with itself = log 10.
    digits = np.repeat(np.arange(10), 30)
    labels = 100 * digits + 10 * digits
    channel_kl, total_correlation = datasets.mode_kl_parts(labels)

    shares = _digit_shares()
    uniform_kl = np.sum(0.1 * np.log(0.1 / shares))
    assert channel_kl == pytest.approx(2 * uniform_kl - np.log(shares[0]), rel=1e-10)
    assert total_correlation == pytest.approx(np.log(10.0), rel=1e-10)


def test_mode_kl_parts_independent_channels():
    # Every one of the 1000 triples once: a product of uniform channels.
    channel_kl, total_correlation = datasets.mode_kl_parts(np.arange(1000))
    assert total_correlation == pytest.approx(0.0, abs=1e-12)
    assert channel_kl == pytest.approx(3 * np.sum(0.1 * np.log(0.1 / _digit_shares())), rel=1e-10)


@pytest.mark.parametrize("labels, match", [
    (np.array([], dtype=np.int64), "non-empty"),
    (np.array([0.0, 1.0]), "integer"),
    (np.array([[1, 2]]), "1-D"),
    (np.array([3, 1000]), "0..999"),
    (np.array([-1, 5]), "0..999"),
])
def test_mode_kl_parts_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        datasets.mode_kl_parts(labels)

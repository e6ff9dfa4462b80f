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

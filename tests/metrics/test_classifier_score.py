"""Tests for classifier_score: the Inception Score from class probabilities."""

import math

import numpy as np
import pytest
from scipy import special

from discrepancy.metrics import ClassifierScore, classifier_score


def reference_score(probabilities):
    """exp(mean KL(p(y|x) || p(y))) in float64 over one split, by explicit loops."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    marginal = probabilities.mean(axis=0)
    total = 0.0
    for row in probabilities:
        total += sum(p * math.log(p / q) for p, q in zip(row, marginal) if p > 0)
    return math.exp(total / probabilities.shape[0])


def test_score_confident_uniform_is_num_classes():
    # One-hot predictions spread evenly over K classes give exactly K.
    probabilities = np.eye(5)[np.arange(50) % 5]
    result = classifier_score(probabilities, splits=1)
    assert float(result) == pytest.approx(5.0, rel=1e-14)


def test_score_identical_predictions_is_one():
    probabilities = np.tile([0.2, 0.5, 0.3], (40, 1))
    assert float(classifier_score(probabilities, splits=4)) == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_score_matches_reference(dtype):
    rng = np.random.default_rng(0)
    probabilities = special.softmax(3 * rng.standard_normal((103, 7)), axis=1).astype(dtype)
    result = classifier_score(probabilities, splits=5)
    parts = np.array_split(probabilities.astype(np.float64), 5)
    expected = [reference_score(part / part.sum(axis=1, keepdims=True)) for part in parts]
    np.testing.assert_allclose(result.values, expected, rtol=1e-12)
    assert result.mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert result.std == pytest.approx(np.std(expected), rel=1e-9)


def test_score_unpacks():
    rng = np.random.default_rng(1)
    probabilities = special.softmax(rng.standard_normal((20, 3)), axis=1)
    result = classifier_score(probabilities, splits=2)
    mean, std = result
    assert isinstance(result, ClassifierScore)
    assert mean == result.mean
    assert std == result.std
    assert result.splits == 2
    assert result.num_samples == 20
    assert result.num_classes == 3


def test_score_zero_probabilities():
    # Classes never predicted contribute 0, not NaN.
    probabilities = np.zeros((4, 6))
    probabilities[:, :2] = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    assert float(classifier_score(probabilities, splits=1)) == pytest.approx(2.0, rel=1e-14)


def test_score_rejects_logits():
    with pytest.raises(ValueError, match="negative value"):
        classifier_score(np.array([[2.0, -1.0], [0.5, 0.5]]), splits=1)
    with pytest.raises(ValueError, match="sums to 3.0"):
        classifier_score(np.array([[2.0, 1.0], [0.5, 0.5]]), splits=1)


def test_score_rejects_too_many_splits():
    with pytest.raises(ValueError, match="larger than the number of samples"):
        classifier_score(np.eye(3), splits=4)

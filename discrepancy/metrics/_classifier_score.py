"""The classifier score (Inception Score) from any classifier's class probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from discrepancy import _validation
from discrepancy.metrics._results import MeanStdResult

__all__ = ["classifier_score", "ClassifierScore"]

# Rows of float32 softmax outputs sum to 1 within about 1e-6; a larger gap
# means the input is not a probability vector (for example logits).
_ROW_SUM_TOLERANCE = 1e-3


class ClassifierScore(MeanStdResult):
    """Classifier score over splits; unpacks as (mean, std), and `float(result)` is the mean.

    Attributes:
      mean: mean of the per-split scores.
      std: standard deviation of the per-split scores (ddof = 0, as in the
        original Inception Score code).
      values: float64 NumPy array [splits] of per-split scores.
      num_samples: number of samples n.
      num_classes: number of classes K.
      splits: number of splits.
    """

    def __repr__(self) -> str:
        return (
            f"ClassifierScore(mean={self.mean!r}, std={self.std!r}, splits={self.splits}, "
            f"num_samples={self.num_samples}, num_classes={self.num_classes})"
        )


def _as_probabilities(value: Any) -> np.ndarray:
    """Validates class probabilities [n, K] and returns them in float64."""
    probabilities = _validation.as_samples(value, "probabilities").numpy().astype(np.float64)
    if (probabilities < 0).any():
        row, column = (int(i) for i in np.argwhere(probabilities < 0)[0])
        raise ValueError(
            f"`probabilities` contains a negative value {float(probabilities[row, column])!r} at row "
            f"{row}, column {column}; pass softmax outputs, not logits."
        )
    sums = probabilities.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"Row {worst} of `probabilities` sums to {float(sums[worst])!r}, expected 1. Pass class "
            "probabilities (softmax outputs); for logits use scipy.special.softmax(logits, axis=1)."
        )
    return probabilities / sums[:, None]


def classifier_score(probabilities: Any, *, splits: int = 10) -> ClassifierScore:
    """Computes the classifier score (Inception Score) from class probabilities p(y | x).

        score = exp( E_x KL( p(y | x) || p(y) ) ),   p(y) = E_x p(y | x)

    computed in float64 on each of `splits` consecutive, nearly equal parts
    of the samples, with p(y) the mean over that part. The parts come from
    `numpy.array_split`, so all n samples are used, whereas the original
    code drops the last n mod splits samples. Terms with p(y | x) = 0 contribute 0. The score lies in
    [1, K]: 1 when every sample has the same prediction and K when the
    predictions are confident and the classes equally used.

    With Inception-v3 probabilities this is the Inception Score of Salimans
    et al.; any classifier works, for example `DigitsClassifier` for digits.
    Scores are comparable only for the same classifier and the same split size.

    Bias: the plug-in estimate of p(y) from n / splits samples makes the
    score biased downwards for small splits (its expectation grows with the
    split size), so report the split size with the score.

    Variance: `std` is the spread of the per-split scores (ddof = 0, as in the
    original code). Splits are disjoint, so std / sqrt(splits) estimates the
    standard error of one split's score.

    Cost: O(n K) time and memory.

    Args:
      probabilities: class probabilities, shape [n, K], rows summing to 1
        within 1e-3 (they are renormalised exactly in float64).
      splits: number of parts; 10 as in the original Inception Score code.

    Returns:
      A `ClassifierScore` that unpacks as (mean, std), with the per-split
      values as an attribute.

    Raises:
      ValueError: negative entries, rows not summing to 1 (logits passed by
        mistake), NaN or inf, or fewer samples than splits.

    References:
      T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford and X. Chen,
      "Improved techniques for training GANs", NeurIPS 2016.
    """
    probabilities = _as_probabilities(probabilities)
    splits = _validation.as_int(splits, "splits", minimum=1)
    num_samples, num_classes = probabilities.shape
    if splits > num_samples:
        raise ValueError(
            f"`splits`={splits} is larger than the number of samples ({num_samples}); "
            "each split needs at least one sample (use far more, since small splits bias "
            "the score downwards)."
        )

    values = np.empty(splits, dtype=np.float64)
    for index, part in enumerate(np.array_split(probabilities, splits)):
        marginal = part.mean(axis=0)
        divergences = special.xlogy(part, part).sum(axis=1) - special.xlogy(part, marginal).sum(axis=1)
        values[index] = np.exp(divergences.mean())

    return ClassifierScore(
        values.mean(),
        values.std(),
        values=values,
        num_samples=num_samples,
        num_classes=num_classes,
        splits=splits,
    )

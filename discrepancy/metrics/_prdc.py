"""Precision/recall and density/coverage of generated samples from k-NN balls.

Both pairs of metrics approximate the support of a distribution by the union
of balls around its samples, each ball reaching the k-th nearest neighbour of
its centre within the same set. Balls are closed (distance <= radius), so a
generated set identical to the real set has precision, recall and coverage 1.
Duplicates count as neighbours at distance 0, so a point with k or more exact
copies has a ball of radius 0 that still contains those copies.

Distances are Euclidean and computed in tiles by `discrepancy.divergences._knn`,
so memory stays O(tile_size^2 + (n + m) d) for any n and m.

Conventions compared with the `prdc` package (Naeem et al.'s reference code,
version 0.2): `prdc` uses open balls (distance < radius), so the two agree
whenever no distance equals a radius exactly, which is the usual case for
continuous features. Both exclude the centre by index when finding the radius.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences import _knn

__all__ = ["precision_recall", "density_coverage", "PrecisionRecall", "DensityCoverage"]


def _attach(result, **attributes):
    """Sets diagnostic attributes on a pair result and returns it."""
    for name, value in attributes.items():
        setattr(result, name, value)
    return result


def _pair_repr(result) -> str:
    values = ", ".join(f"{name}={getattr(result, name)!r}" for name in result._fields)
    return (
        f"{type(result).__name__}({values}, k={result.k}, num_real={result.num_real}, "
        f"num_fake={result.num_fake})"
    )


class _PrecisionRecallPair(NamedTuple):
    precision: float
    recall: float


class PrecisionRecall(_PrecisionRecallPair):
    """Improved precision and recall; unpacks as (precision, recall).

    Attributes:
      precision: fraction of fake samples inside the union of real k-NN balls.
      recall: fraction of real samples inside the union of fake k-NN balls.
      k: neighbour order of the balls.
      num_real: number of real samples, n.
      num_fake: number of fake samples, m.
      fake_in_real_balls: [m] bool NumPy array, per fake sample.
      real_in_fake_balls: [n] bool NumPy array, per real sample.
    """

    def __new__(cls, precision, recall, **attributes):
        return _attach(super().__new__(cls, float(precision), float(recall)), **attributes)

    __repr__ = _pair_repr


class _DensityCoveragePair(NamedTuple):
    density: float
    coverage: float


class DensityCoverage(_DensityCoveragePair):
    """Density and coverage; unpacks as (density, coverage).

    Attributes:
      density: mean number of real k-NN balls containing a fake sample, over k.
      coverage: fraction of real k-NN balls that contain at least one fake sample.
      k: neighbour order of the balls.
      num_real: number of real samples, n.
      num_fake: number of fake samples, m.
      ball_counts: [m] int NumPy array, real balls containing each fake sample.
      real_covered: [n] bool NumPy array, per real ball.
    """

    def __new__(cls, density, coverage, **attributes):
        return _attach(super().__new__(cls, float(density), float(coverage)), **attributes)

    __repr__ = _pair_repr


def _validate(real, fake, k, tile_size):
    real = _validation.as_samples(real, "real")
    fake = _validation.as_samples(fake, "fake")
    _validation.check_same_dimension(real, fake, "real", "fake")
    dtype = _validation.result_dtype(real, fake)
    k = _validation.as_int(k, "k", minimum=1)
    tile_size = _validation.as_int(tile_size, "tile_size", minimum=8)
    return tf.cast(real, dtype), tf.cast(fake, dtype), k, tile_size


def precision_recall(*, real, fake, k: int = 3, tile_size: int = _knn.DEFAULT_TILE_SIZE) -> PrecisionRecall:
    """Computes improved precision and recall (Kynkaanniemi et al. 2019).

    With real samples r_1..r_n, fake samples f_1..f_m, and R_k(z, S) the
    distance from z to its k-th nearest neighbour in S (z itself excluded):

        precision = (1/m) sum_j [exists i: |f_j - r_i| <= R_k(r_i, real)]
        recall    = (1/n) sum_i [exists j: |r_i - f_j| <= R_k(f_j, fake)]

    Precision measures how much of the fake set lies on the estimated real
    support (fidelity), recall how much of the real set lies on the estimated
    fake support (diversity). Swapping `real` and `fake` swaps the two.

    Bias: both are biased upwards for small sets and outliers, because k-NN
    balls around isolated points are large; the paper uses k = 3 and
    n = m = 50,000. No standard error is given: the values are deterministic
    given the samples; repeat on fresh samples for their spread.

    Cost: (n^2 + m^2 + n m) d multiply-adds in tiles (with half the n^2 and
    m^2 terms for d >= 256), memory
    O(tile_size^2 + (n + m) d).

    Args:
      real: real samples (features), shape [n, d], n >= k + 1.
      fake: generated samples, shape [m, d], m >= k + 1.
      k: neighbour order of the ball radii.
      tile_size: rows per distance tile.

    Returns:
      A `PrecisionRecall`, which unpacks as (precision, recall).

    Raises:
      ValueError: k >= n or k >= m, mismatched dimensions, non-finite values.

    References:
      T. Kynkaanniemi, T. Karras, S. Laine, J. Lehtinen and T. Aila, "Improved
      precision and recall metric for assessing generative models", NeurIPS 2019.
    """
    real, fake, k, tile_size = _validate(real, fake, k, tile_size)
    num_real, num_fake = int(real.shape[0]), int(fake.shape[0])
    # Each ball's radius is the distance to the k-th nearest other sample.
    _knn.check_k_within(k, num_real, "real")
    _knn.check_k_within(k, num_fake, "fake")

    real_tiles, fake_tiles = _knn.prepare_tiles([real, fake], tile_size)
    real_radii_sq = _knn.knn_within_tiled(real_tiles, k)[:, k - 1]
    fake_radii_sq = _knn.knn_within_tiled(fake_tiles, k)[:, k - 1]
    membership = _knn.ball_membership_tiled(
        fake_tiles, real_tiles, real_radii_sq, query_radii_sq=fake_radii_sq
    )

    fake_inside = membership.counts.numpy() > 0
    real_inside = membership.reference_in_query_ball.numpy()
    return PrecisionRecall(
        np.mean(fake_inside),
        np.mean(real_inside),
        k=k,
        num_real=num_real,
        num_fake=num_fake,
        fake_in_real_balls=fake_inside,
        real_in_fake_balls=real_inside,
    )


def density_coverage(*, real, fake, k: int = 5, tile_size: int = _knn.DEFAULT_TILE_SIZE) -> DensityCoverage:
    """Computes density and coverage (Naeem et al. 2020).

    With B_i the closed ball around real sample r_i of radius R_k(r_i, real),
    the distance to its k-th nearest other real sample:

        density  = (1 / (k m)) sum_j #{i : f_j in B_i}
        coverage = (1/n) sum_i [exists j : f_j in B_i]

    Density is a fidelity score that, unlike precision, counts how many real
    balls contain each fake sample, so it is robust to real outliers. It is
    not bounded by 1: fake samples packed where the real data are dense give
    density above 1, and for fake = real it is about (k + 1) / k.
    Coverage is a diversity score in [0, 1] that uses real balls only, so it
    is robust to fake outliers.

    Bias: for fake and real from the same distribution, the expected density
    is 1 and the expected coverage is 1 - (1/2)^k for large n = m (the paper's
    analysis), so coverage below 1 is expected even for a perfect model.
    No standard error is given; repeat on fresh samples for the spread.

    Cost: (n^2 + n m) d multiply-adds in tiles (half the n^2 term for
    d >= 256), memory
    O(tile_size^2 + (n + m) d).

    Args:
      real: real samples (features), shape [n, d], n >= k + 1.
      fake: generated samples, shape [m, d], m >= 1.
      k: neighbour order of the ball radii (the paper recommends 5).
      tile_size: rows per distance tile.

    Returns:
      A `DensityCoverage`, which unpacks as (density, coverage).

    Raises:
      ValueError: k >= n, mismatched dimensions, non-finite values.

    References:
      M. F. Naeem, S. J. Oh, Y. Uh, Y. Choi and J. Yoo, "Reliable fidelity and
      diversity metrics for generative models", ICML 2020.
    """
    real, fake, k, tile_size = _validate(real, fake, k, tile_size)
    num_real, num_fake = int(real.shape[0]), int(fake.shape[0])
    _knn.check_k_within(k, num_real, "real")

    real_tiles, fake_tiles = _knn.prepare_tiles([real, fake], tile_size)
    real_radii_sq = _knn.knn_within_tiled(real_tiles, k)[:, k - 1]
    membership = _knn.ball_membership_tiled(fake_tiles, real_tiles, real_radii_sq)

    counts = membership.counts.numpy()
    covered = membership.reference_covered.numpy()
    # Counts are exact integers; the sum is taken in int64 before dividing.
    density = np.sum(counts, dtype=np.int64) / (k * num_fake)
    return DensityCoverage(
        density,
        np.mean(covered),
        k=k,
        num_real=num_real,
        num_fake=num_fake,
        ball_counts=counts,
        real_covered=covered,
    )

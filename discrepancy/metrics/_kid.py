"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic kernel, over random subsets."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.metrics._results import MeanStdResult
from discrepancy.divergences import _tiled
from discrepancy.divergences._mmd import mmd2

__all__ = ["kid", "KIDResult"]


class KIDResult(MeanStdResult):
    """KID over random subsets; unpacks as (mean, std), and `float(result)` is the mean.

    Attributes:
      mean: mean of the unbiased MMD^2 estimates over the subsets.
      std: standard deviation of those estimates (ddof = 0, as Binkowski et
        al.'s code reports it). The subsets overlap, so this is the spread of
        one subset's estimate, not the standard error of `mean`.
      values: float64 NumPy array [num_subsets] of the per-subset estimates.
      num_real: number of real samples, n.
      num_fake: number of fake samples, m.
      subset_size: samples drawn from each set per subset, after capping.
      num_subsets: number of subsets.
      seed: the seed of the subset draws.
    """

    def __repr__(self) -> str:
        return (
            f"KIDResult(mean={self.mean!r}, std={self.std!r}, subset_size={self.subset_size}, "
            f"num_subsets={self.num_subsets}, num_real={self.num_real}, num_fake={self.num_fake})"
        )


def kid(
    real: Any,
    fake: Any,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int | None = None,
    *,
    tile_size: int = _tiled.DEFAULT_TILE_SIZE,
) -> KIDResult:
    """Computes the Kernel Inception Distance between real and generated features.

    For each of `num_subsets` subsets, `subset_size` real features x and
    `subset_size` generated features y are drawn without replacement, and
    the unbiased MMD^2 U-statistic with the cubic polynomial kernel

        k(a, b) = (a . b / d + 1)^3

    is computed (`discrepancy.divergences.mmd2` with estimator="unbiased"):

        1/(s(s-1)) sum_{i != j} k(x_i, x_j) + 1/(s(s-1)) sum_{i != j} k(y_i, y_j)
        - 2/s^2 sum_{i, j} k(x_i, y_j).

    KID is the mean over subsets, reported with the standard deviation.

    Bias and sign: each subset estimate is unbiased for MMD^2, so KID is
    unbiased and, unlike FID, comparable across sample sizes. For the same
    reason it is negative about half the time when the two distributions
    are equal or very close. Negative values are legitimate and are never
    clipped: report them as they are.

    Variance: `std` is the spread of the single-subset estimates (ddof = 0,
    as in Binkowski et al.'s code). Subsets of one finite set overlap, so
    std / sqrt(num_subsets) understates the standard error of the mean.

    Cost: O(num_subsets * subset_size^2 * d) time in XLA-compiled tiles with
    float64 accumulation, memory O(tile_size^2 + subset_size * d).

    Args:
      real: real features, shape [n, d].
      fake: generated features, shape [m, d]; m may differ from n.
      num_subsets: number of random subsets.
      subset_size: samples per set in each subset. A value above min(n, m)
        is capped at min(n, m) with a warning, which makes every subset the
        whole of the smaller set.
      seed: seed of the subset draws (NumPy `default_rng`); the same seed
        gives the same result. None draws a fresh seed.
      tile_size: rows per tile of the kernel sums.

    Returns:
      A `KIDResult` that unpacks as (mean, std), with per-subset values and
      sizes as attributes. Values are Python floats computed from estimates
      in the input dtype.

    Raises:
      ValueError: fewer than 2 samples in a set, different feature
        dimensions, NaN or inf features, or invalid counts.

    References:
      M. Binkowski, D. J. Sutherland, M. Arbel and A. Gretton, "Demystifying
      MMD GANs", ICLR 2018.
    """
    real = _validation.as_samples(real, "real", min_samples=2)
    fake = _validation.as_samples(fake, "fake", min_samples=2)
    _validation.check_same_dimension(real, fake, "real", "fake")
    dtype = _validation.result_dtype(real, fake)
    real, fake = tf.cast(real, dtype), tf.cast(fake, dtype)
    num_subsets = _validation.as_int(num_subsets, "num_subsets", minimum=1)
    subset_size = _validation.as_int(subset_size, "subset_size", minimum=2)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed = _validation.as_int(seed, "seed", minimum=0)

    num_real, num_fake = int(real.shape[0]), int(fake.shape[0])
    num_features = int(real.shape[1])
    if subset_size > min(num_real, num_fake):
        warnings.warn(
            f"subset_size={subset_size} is larger than the smaller set (num_real="
            f"{num_real}, num_fake={num_fake}); using subset_size={min(num_real, num_fake)}. "
            "Every subset is then the whole of the smaller set.",
            UserWarning,
            stacklevel=2,
        )
        subset_size = min(num_real, num_fake)

    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for index in range(num_subsets):
        real_rows = rng.choice(num_real, subset_size, replace=False)
        fake_rows = rng.choice(num_fake, subset_size, replace=False)
        values[index] = float(
            mmd2(
                tf.gather(real, real_rows),
                tf.gather(fake, fake_rows),
                kernel="polynomial",
                estimator="unbiased",
                degree=3,
                scale=1.0 / num_features,
                offset=1.0,
                tile_size=tile_size,
            )
        )

    return KIDResult(
        values.mean(),
        values.std(),
        values=values,
        num_real=num_real,
        num_fake=num_fake,
        subset_size=subset_size,
        num_subsets=num_subsets,
        seed=seed,
    )

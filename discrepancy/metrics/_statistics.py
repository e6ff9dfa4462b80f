"""Streaming float64 mean and covariance of feature vectors.

The statistics are held as (count, mean, scatter matrix), where the scatter
matrix (centred co-moment) is M = sum_i (x_i - mean)(x_i - mean)^T. Two sets
merge exactly through the pairwise update of Chan, Golub and LeVeque:

    n = n_a + n_b,   delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    M = M_a + M_b + delta delta^T * n_a n_b / n

This never forms raw sums of x x^T, whose cancellation destroys the
covariance of features with large means and small spread.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf

from discrepancy import _validation

__all__ = ["FeatureStatistics"]

_FORMAT_VERSION = 1
_DEFAULT_BATCH_SIZE = 4096


@tf.function(reduce_retracing=True)
def _batch_moments(batch):
    """Returns (count, mean, scatter) of one batch in float64; an empty batch gives zeros."""
    batch = tf.cast(batch, tf.float64)
    count = tf.cast(tf.shape(batch)[0], tf.float64)

    # Shifting by the first row (zeros for an empty batch) cancels large
    # offsets exactly before the sums.
    reference = tf.reduce_sum(batch[:1], axis=0)
    shifted = batch - reference
    offset = tf.reduce_sum(shifted, axis=0) / tf.maximum(count, 1.0)
    centred = shifted - offset
    scatter = tf.matmul(centred, centred, transpose_a=True)
    return count, reference + offset, scatter


class FeatureStatistics:
    """Streaming mean and covariance of features, accumulated in float64.

    Batches of any size arrive in any order through `update`, and whole sets
    combine through `merge`. The result equals the two-pass float64 mean and
    covariance of all samples to about 1e-12 relative whatever the batching.
    The same is true for features with means around 1e4 and spread around
    1e-2, because the running mean is kept relative to a shift (the mean of
    the first batch), so those offsets cancel exactly before any product.

    `covariance` is the unbiased sample covariance, scatter / (count - 1)
    (ddof = 1, as `numpy.cov` by default and as FID implementations use).

    Cost: `update` with a batch of b rows takes O(b d^2 + d^2) time in NumPy
    float64 (the scatter of a centred batch is one symmetric matrix product)
    and memory O(b d + d^2). Large batches are faster per sample, since the
    merge itself costs O(d^2) per call.

    Across `tf.distribute` replicas or workers, compute per-replica moments
    with `FeatureStatistics.batch_moments` inside `strategy.run` and combine
    them with `FeatureStatistics.reduce_replicas`, or call `update_distributed`
    on a distributed batch.

    Example:
      statistics = FeatureStatistics()
      for batch in feature_batches:
          statistics.update(batch)
      statistics.save("real_statistics.npz")

    References:
      T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a
      pairwise algorithm for computing sample variances", COMPSTAT 1982
      (Stanford report STAN-CS-79-773, 1979).
    """

    def __init__(self, num_features: int | None = None):
        """Creates empty statistics, for `num_features` features or for the first batch's."""
        if num_features is not None:
            num_features = _validation.as_int(num_features, "num_features", minimum=1)
        self._num_features = num_features
        self._count = 0
        self._shift: np.ndarray | None = None
        self._offset: np.ndarray | None = None  # mean - shift
        self._scatter: np.ndarray | None = None

    # --- construction -----------------------------------------------------------

    @classmethod
    def from_features(cls, features: Any, batch_size: int = _DEFAULT_BATCH_SIZE) -> "FeatureStatistics":
        """Computes the statistics of a feature array [n, d], `batch_size` rows at a time.

        The rows are processed in chunks only to bound the float64 copy in
        memory; the result does not depend on `batch_size`.
        """
        batch_size = _validation.as_int(batch_size, "batch_size", minimum=1)
        features = _validation.as_samples(_eager(features, "features"), "features", min_samples=0).numpy()
        statistics = cls(features.shape[1])
        for start in range(0, features.shape[0], batch_size):
            statistics._add(features[start : start + batch_size].astype(np.float64))
        return statistics

    @classmethod
    def from_moments(cls, count: int, mean: Any, covariance: Any) -> "FeatureStatistics":
        """Builds statistics from a sample count, a mean [d] and a covariance [d, d] with ddof = 1.

        Use this to import reference statistics saved by other tools, which
        usually store the mean and covariance but not the count.
        """
        count = _validation.as_int(count, "count", minimum=2)
        mean, covariance = _validation.as_mean_covariance(mean, covariance, "mean", "covariance")
        mean = mean.numpy().astype(np.float64)
        scatter = covariance.numpy().astype(np.float64) * (count - 1)
        return cls._from_scatter(count, mean, scatter)

    @classmethod
    def _from_scatter(cls, count: int, mean: np.ndarray, scatter: np.ndarray) -> "FeatureStatistics":
        statistics = cls(int(mean.shape[0]))
        if count > 0:
            statistics._count = int(count)
            statistics._shift = np.array(mean, dtype=np.float64)
            statistics._offset = np.zeros_like(statistics._shift)
            statistics._scatter = np.array(scatter, dtype=np.float64)
        return statistics

    def copy(self) -> "FeatureStatistics":
        """Returns an independent copy."""
        other = FeatureStatistics(self._num_features)
        other._count = self._count
        if self._count:
            other._shift = self._shift.copy()
            other._offset = self._offset.copy()
            other._scatter = self._scatter.copy()
        return other

    # --- accumulation -------------------------------------------------------------

    def update(self, batch: Any) -> "FeatureStatistics":
        """Adds a batch of features of shape [b, d] (b may be 0) and returns self.

        Accepts NumPy arrays, tensors and nested lists of any float or integer
        dtype; values are converted to float64 before any arithmetic. Runs
        eagerly on the host: inside `tf.function` use `batch_moments`.

        Raises:
          ValueError: a batch of the wrong rank or feature dimension, or with
            NaN or inf values.
        """
        batch = _validation.as_samples(_eager(batch, "batch"), "batch", min_samples=0)
        self._check_dimension(batch.shape[1], "batch")
        self._add(np.asarray(batch.numpy(), dtype=np.float64))
        return self

    def _add(self, batch: np.ndarray) -> None:
        """Merges a validated float64 batch [b, d] into the statistics."""
        if batch.shape[0] == 0:
            return

        if self._count == 0:
            self._shift = batch.mean(axis=0)
            self._offset = np.zeros_like(self._shift)
            self._scatter = np.zeros((batch.shape[1], batch.shape[1]))

        shifted = batch - self._shift
        batch_offset = shifted.mean(axis=0)
        centred = shifted - batch_offset
        batch_scatter = centred.T @ centred
        self._merge_centred(batch.shape[0], batch_offset, batch_scatter)

    def merge(self, other: "FeatureStatistics") -> "FeatureStatistics":
        """Adds the samples summarised by `other` (left unchanged) and returns self."""
        if not isinstance(other, FeatureStatistics):
            raise TypeError(
                f"`other` must be a FeatureStatistics, got {type(other).__name__}; build "
                "one with FeatureStatistics.from_features(features)."
            )
        if other._num_features is not None:
            self._check_dimension(other._num_features, "other")
        if other._count == 0:
            return self
        if self._count == 0:
            self._shift = other._shift.copy()
            self._offset = other._offset.copy()
            self._scatter = other._scatter.copy()
            self._count = other._count
            return self

        # The shifts are close for samples of one distribution, so their
        # difference is exact and the offsets stay small.
        offset = (other._shift - self._shift) + other._offset
        self._merge_centred(other._count, offset, other._scatter)
        return self

    def _merge_centred(self, count: int, offset: np.ndarray, scatter: np.ndarray) -> None:
        """Chan et al.'s pairwise update with a set given relative to this set's shift."""
        total = self._count + count
        delta = offset - self._offset
        self._offset = self._offset + delta * (count / total)
        self._scatter = self._scatter + scatter + np.outer(delta, delta) * (self._count * count / total)
        self._count = total

    def _check_dimension(self, num_features: int, name: str) -> None:
        if self._num_features is None:
            self._num_features = int(num_features)
        elif num_features != self._num_features:
            raise ValueError(
                f"`{name}` has {num_features} features, but these statistics contain "
                f"{self._num_features}; every batch must come from the same feature extractor."
            )

    # --- tf.distribute ----------------------------------------------------------------

    @staticmethod
    def batch_moments(batch: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns (count, mean, scatter) of a batch [b, d] as float64 tensors.

        Pure TensorFlow, so it runs inside `strategy.run` and `tf.function` on
        any device. An empty batch gives count 0 and zero mean and scatter.
        """
        return _batch_moments(batch)

    @classmethod
    def reduce_replicas(
        cls, strategy: tf.distribute.Strategy, count: Any, mean: Any, scatter: Any
    ) -> "FeatureStatistics":
        """Combines per-replica moments from `batch_moments` into one set of statistics.

        Call it in cross-replica context with the per-replica values returned
        by `strategy.run(FeatureStatistics.batch_moments, args=(batch,))`.
        Two all-reduces (sums) give the pooled count and mean. A third sums
        M_r + n_r (mean_r - mean)(mean_r - mean)^T over replicas r, which is
        the pooled scatter matrix exactly by the parallel-axis theorem (the
        many-set form of the pairwise update). Every worker of a multi-worker
        strategy receives the same result. Call it eagerly.
        """
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None)
        weighted = strategy.run(lambda c, m: c * m, args=(count, mean))
        pooled_mean = strategy.reduce(tf.distribute.ReduceOp.SUM, weighted, axis=None) / tf.maximum(
            total, 1.0
        )

        def corrected_scatter(c, m, s):
            delta = m - pooled_mean
            return s + c * delta[:, None] * delta[None, :]

        corrected = strategy.run(corrected_scatter, args=(count, mean, scatter))
        pooled_scatter = strategy.reduce(tf.distribute.ReduceOp.SUM, corrected, axis=None)

        total = float(total.numpy())
        if total != int(total):
            raise ValueError(f"replica counts sum to {total}, which is not an integer.")
        return cls._from_scatter(int(total), pooled_mean.numpy(), pooled_scatter.numpy())

    def update_distributed(self, strategy: tf.distribute.Strategy, batch: Any) -> "FeatureStatistics":
        """Adds a distributed batch (per-replica values from a distributed dataset) and returns self."""
        count, mean, scatter = strategy.run(_batch_moments, args=(batch,))
        return self.merge(self.reduce_replicas(strategy, count, mean, scatter))

    # --- results --------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of samples accumulated."""
        return self._count

    @property
    def num_features(self) -> int | None:
        """Feature dimension d, or None before the first batch."""
        return self._num_features

    @property
    def mean(self) -> np.ndarray:
        """Sample mean, float64 array of shape [d]."""
        self._require(1, "mean")
        return self._shift + self._offset

    @property
    def scatter(self) -> np.ndarray:
        """Scatter matrix sum_i (x_i - mean)(x_i - mean)^T, float64 array of shape [d, d]."""
        self._require(1, "scatter")
        return 0.5 * (self._scatter + self._scatter.T)

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased sample covariance scatter / (count - 1), float64 array of shape [d, d]."""
        self._require(2, "covariance")
        return self.scatter / (self._count - 1)

    def _require(self, minimum: int, what: str) -> None:
        if self._count < minimum:
            raise ValueError(
                f"FeatureStatistics contains {self._count} sample(s), but the {what} requires "
                f"at least {minimum}. Call update() with more feature batches first."
            )

    def __repr__(self) -> str:
        return f"FeatureStatistics(count={self._count}, num_features={self._num_features})"

    # --- files ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Writes the statistics to a `.npz` file at `path`, atomically.

        The file contains `count`, `mean`, `scatter`, `covariance` (when count
        >= 2), `format_version` and `mean_residual`, the part of the mean
        below the last bit of `mean` (mean = mean + mean_residual in double
        float64), so that statistics loaded and updated again lose nothing to
        the rounding of a large mean. It is written to a temporary file in the
        same folder and renamed over `path`, so readers never see a partial
        file. The name is used exactly as given (no suffix is added).
        """
        self._require(1, "file")
        path = os.fspath(path)
        mean = self.mean
        arrays = {
            "format_version": np.int64(_FORMAT_VERSION),
            "count": np.int64(self._count),
            "mean": mean,
            # Exact by Fast2Sum, because |shift| >= |offset| for all but
            # degenerate data (and then the residual is merely not exact).
            "mean_residual": (self._shift - mean) + self._offset,
            "scatter": self.scatter,
        }
        if self._count >= 2:
            arrays["covariance"] = self.covariance

        directory = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(
            dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **arrays)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStatistics":
        """Reads statistics written by `save` (never unpickling).

        Raises:
          FileNotFoundError: no file at `path`.
          ValueError: a file that is not such statistics. Files with only
            `mu` and `sigma` (the format of other FID tools) lack the sample
            count, so the message explains how to load them with
            `from_moments`.
        """
        path = os.fspath(path)
        contents = np.load(path, allow_pickle=False)
        if not isinstance(contents, np.lib.npyio.NpzFile):
            raise ValueError(
                f"{path!r} contains a single array, not FeatureStatistics (a .npz file "
                "written by FeatureStatistics.save). To use saved features, load them with "
                "np.load and pass the array."
            )
        with contents:
            keys = set(contents.files)
            if {"mu", "sigma"} <= keys and "count" not in keys:
                raise ValueError(
                    f"{path!r} contains `mu` and `sigma` but no sample count. Load it with "
                    "FeatureStatistics.from_moments(count=N, mean=data['mu'], "
                    "covariance=data['sigma']) where N is the number of samples behind it."
                )
            missing = {"format_version", "count", "mean", "scatter"} - keys
            if missing:
                raise ValueError(
                    f"{path!r} is not a FeatureStatistics file: missing {sorted(missing)}, "
                    f"found {sorted(keys)}."
                )
            version = int(contents["format_version"])
            if version != _FORMAT_VERSION:
                raise ValueError(
                    f"{path!r} has format_version {version}; this version of discrepancy "
                    f"reads version {_FORMAT_VERSION}."
                )
            count = int(contents["count"])
            mean = np.asarray(contents["mean"], dtype=np.float64)
            scatter = np.asarray(contents["scatter"], dtype=np.float64)
            residual = (
                np.asarray(contents["mean_residual"], dtype=np.float64)
                if "mean_residual" in keys
                else np.zeros_like(mean)
            )

        if (
            count < 1
            or mean.ndim != 1
            or residual.shape != mean.shape
            or scatter.shape != (mean.shape[0], mean.shape[0])
        ):
            raise ValueError(
                f"{path!r} is inconsistent: count={count}, mean shape {list(mean.shape)}, "
                f"mean_residual shape {list(residual.shape)}, scatter shape "
                f"{list(scatter.shape)}."
            )
        if not all(np.isfinite(a).all() for a in (mean, residual, scatter)):
            raise ValueError(f"{path!r} contains NaN or inf values.")
        statistics = cls._from_scatter(count, mean, scatter)
        statistics._offset = residual
        return statistics


def _eager(value: Any, name: str) -> Any:
    """Rejects symbolic tensors, since the statistics accumulate eagerly on the host."""
    if isinstance(value, tf.Tensor) and not tf.executing_eagerly():
        raise TypeError(
            f"`{name}` is a symbolic tensor: FeatureStatistics accumulates eagerly on the "
            "host. Inside tf.function, use FeatureStatistics.batch_moments and "
            "reduce_replicas instead."
        )
    return value

"""Kernels by name and bandwidth rules for MMD, built on `tfp.math.psd_kernels`.

Named kernels, with r = |x - y| and bandwidth sigma:

  gaussian              exp(-r^2 / (2 sigma^2))            ExponentiatedQuadratic
  laplacian             exp(-r / sigma)                    MaternOneHalf
  rational-quadratic    (1 + r^2 / (2 alpha sigma^2))^-alpha   RationalQuadratic
  inverse-multiquadric  (1 + r^2 / sigma^2)^(-1/2)         RationalQuadratic, alpha = 1/2
  polynomial            (scale x . y + offset)^degree      InhomogeneousPolynomial (below)

Bandwidth rules: a positive float; "median", the median of the nonzero pairwise
Euclidean distances of the pooled samples (Gretton et al. 2012); a sequence of
floats, or "multiscale" (the median times 2^-2, 2^-1, 1, 2, 4), either of which
gives the sum of the kernels at those bandwidths. A sum is one kernel with batch
shape [B], which evaluates the pairwise distances once for all B bandwidths.

Any `tfp.math.psd_kernels` instance is accepted as is. A kernel with a batch
shape stands for the sum of its batch members.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
# `tfp.internal` is not an attribute of the public module, so import it directly.
from tensorflow_probability.python.internal import dtype_util

from discrepancy import _validation

tfpk = tfp.math.psd_kernels

__all__ = [
    "KERNEL_NAMES",
    "InhomogeneousPolynomial",
    "make_kernel",
    "median_bandwidth",
    "is_translation_invariant",
]

KERNEL_NAMES = (
    "gaussian",
    "laplacian",
    "rational-quadratic",
    "inverse-multiquadric",
    "polynomial",
)

# Kernels that depend on x - y only, so centring the samples changes nothing.
# The tiled core centres the pooled samples for these, which removes the
# cancellation in |x|^2 + |y|^2 - 2 x.y when the data sit far from the origin.
_TRANSLATION_INVARIANT = (
    tfpk.ExponentiatedQuadratic,
    tfpk.MaternOneHalf,
    tfpk.MaternThreeHalves,
    tfpk.MaternFiveHalves,
    tfpk.GeneralizedMatern,
    tfpk.RationalQuadratic,
    tfpk.GammaExponential,
)

_MULTISCALE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)

# Largest number of pooled points that the median heuristic looks at. Above it,
# a seeded random subset of this size is used: 2048 points give about 2.1
# million pairs, whose sample median is within about 0.1 % of the full one for
# continuous data.
MEDIAN_MAX_POINTS = 2048


class InhomogeneousPolynomial(tfpk.AutoCompositeTensorPsdKernel):
    """The polynomial kernel k(x, y) = (scale * x . y + offset)^degree.

    With degree 3, scale 1/d and offset 1 this is the kernel of the Kernel
    Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", ICLR).
    TFP's `Polynomial` kernel adds its bias outside the power, so it cannot
    express this one. It is positive semidefinite for scale > 0, offset >= 0
    and a positive integer degree.
    """

    def __init__(
        self,
        degree=3,
        scale=1.0,
        offset=1.0,
        feature_ndims=1,
        validate_args=False,
        name="InhomogeneousPolynomial",
    ):
        parameters = dict(locals())
        with tf.name_scope(name):
            dtype = dtype_util.common_dtype([scale, offset], tf.float32)
            self._degree = tf.convert_to_tensor(degree, dtype=dtype, name="degree")
            self._scale = tf.convert_to_tensor(scale, dtype=dtype, name="scale")
            self._offset = tf.convert_to_tensor(offset, dtype=dtype, name="offset")
            super().__init__(
                feature_ndims,
                dtype=dtype,
                name=name,
                validate_args=validate_args,
                parameters=parameters,
            )

    @property
    def degree(self):
        return self._degree

    @property
    def scale(self):
        return self._scale

    @property
    def offset(self):
        return self._offset

    @classmethod
    def _parameter_properties(cls, dtype):
        return dict(
            degree=tfp.util.ParameterProperties(),
            scale=tfp.util.ParameterProperties(),
            offset=tfp.util.ParameterProperties(),
        )

    def _polynomial(self, dot_product, example_ndims):
        pad = lambda value: tf.reshape(  # noqa: E731
            value, tf.concat([tf.shape(value), tf.ones([example_ndims], tf.int32)], 0)
        )
        return (pad(self._scale) * dot_product + pad(self._offset)) ** pad(self._degree)

    def _apply(self, x1, x2, example_ndims=0):
        dot_product = tf.reduce_sum(x1 * x2, axis=-1)
        return self._polynomial(dot_product, example_ndims)

    def _matrix(self, x1, x2):
        dot_product = tf.linalg.matmul(x1, x2, transpose_b=True)
        return self._polynomial(dot_product, 2)


def is_translation_invariant(kernel: Any) -> bool:
    """Whether `kernel` depends on x - y only, so the samples may be centred."""
    return isinstance(kernel, _TRANSLATION_INVARIANT)


def _pairwise_distances_host(points: np.ndarray) -> np.ndarray:
    """Returns the upper-triangle pairwise Euclidean distances in float64."""
    points = points.astype(np.float64)
    points = points - points.mean(axis=0)
    squared_norms = np.einsum("ij,ij->i", points, points)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * points @ points.T
    # Rounding in the matrix product leaves small nonzero values between
    # duplicated points, so pairs of identical rows are set to exactly 0.
    _, row_ids = np.unique(points, axis=0, return_inverse=True)
    row_ids = row_ids.reshape(-1)
    squared[row_ids[:, None] == row_ids[None, :]] = 0.0
    upper = np.triu_indices(points.shape[0], k=1)
    return np.sqrt(np.maximum(squared[upper], 0.0))


def median_bandwidth(x, y=None, *, max_points: int = MEDIAN_MAX_POINTS, seed: int = 0) -> float:
    """Computes the median heuristic: the median nonzero pairwise distance of the pooled samples.

    Formula: sigma = median{ |z_i - z_j| : i < j, |z_i - z_j| > 0 } over the pooled
    samples z = [x; y] (Gretton et al. 2012, "A kernel two-sample test", JMLR).
    Zero distances from duplicated points are left out, so duplicates cannot
    drive the bandwidth to 0. When every distance is zero (all points
    identical) the bandwidth falls back to 1.0 with a warning: every
    translation-invariant MMD is then 0 whatever the bandwidth.

    Cost: O(p^2 d) time and O(p^2) memory for p = min(n + m, max_points). Above
    `max_points` pooled points, a random subset drawn with `seed` is used, so
    the result is an estimate of the full median.

    Args:
      x: samples of shape [n, d].
      y: optional samples of shape [m, d], pooled with `x`.
      max_points: largest number of pooled points used.
      seed: seed of the subset draw when there are more than `max_points`.

    Returns:
      The bandwidth as a Python float. Inside `tf.function`, where the samples
      are symbolic, a float64 scalar tensor (see `_median_bandwidth_graph`).
    """
    if not tf.executing_eagerly():
        return _median_bandwidth_graph(x, y, max_points=max_points, seed=seed)

    x = _validation.as_samples(x, "x", min_samples=1)
    pooled = x.numpy().astype(np.float64)
    if y is not None:
        y = _validation.as_samples(y, "y", min_samples=1)
        _validation.check_same_dimension(x, y)
        pooled = np.concatenate([pooled, y.numpy().astype(np.float64)])
    max_points = _validation.as_int(max_points, "max_points", minimum=2)

    if pooled.shape[0] > max_points:
        rng = np.random.default_rng(seed)
        pooled = pooled[rng.choice(pooled.shape[0], size=max_points, replace=False)]

    distances = _pairwise_distances_host(pooled)
    nonzero = distances[distances > 0]
    if nonzero.size == 0:
        warnings.warn(
            "All pairwise distances are zero (every sample is identical), so the "
            "median heuristic is undefined; using bandwidth 1.0. Pass a bandwidth "
            "explicitly to silence this warning.",
            RuntimeWarning,
            stacklevel=2,
        )
        return 1.0
    return float(np.median(nonzero))


def _median_bandwidth_graph(x, y=None, *, max_points: int = MEDIAN_MAX_POINTS, seed: int = 0):
    """Computes `median_bandwidth` with TensorFlow ops, for symbolic samples in `tf.function`.

    It follows the eager rule, but it draws a different random subset above
    `max_points`, and it treats the result as a constant for gradients, as the
    eager Python float is.

    NOTE: a graph cannot warn at run time, so the all-identical fallback to
    1.0 happens silently here.
    """
    x = _validation.as_samples(x, "x", min_samples=1)
    pooled = tf.cast(x, tf.float64)
    if y is not None:
        y = _validation.as_samples(y, "y", min_samples=1)
        _validation.check_same_dimension(x, y)
        pooled = tf.concat([pooled, tf.cast(y, tf.float64)], axis=0)
    max_points = _validation.as_int(max_points, "max_points", minimum=2)

    keys = tf.random.stateless_uniform([tf.shape(pooled)[0]], seed=[seed, 0])
    pooled = tf.gather(pooled, tf.argsort(keys)[:max_points])
    pooled = tf.stop_gradient(pooled - tf.reduce_mean(pooled, axis=0))

    squared_norms = tf.reduce_sum(pooled * pooled, axis=1)
    squared = (
        squared_norms[:, None]
        + squared_norms[None, :]
        - 2.0 * tf.linalg.matmul(pooled, pooled, transpose_b=True)
    )
    # As on the host: pairs of identical rows get exactly 0, not rounding noise.
    _, row_ids = tf.raw_ops.UniqueV2(x=pooled, axis=[0])
    distinct = tf.not_equal(row_ids[:, None], row_ids[None, :])
    upper = tf.linalg.band_part(tf.ones_like(squared), 0, -1) > tf.linalg.band_part(
        tf.ones_like(squared), 0, 0
    )
    distances = tf.sqrt(tf.maximum(tf.boolean_mask(squared, upper & distinct), 0.0))
    nonzero = tf.sort(tf.boolean_mask(distances, distances > 0))

    # The appended 1.0 is the fallback: it is the element read when no
    # distance is nonzero, and it lies past the middle otherwise.
    count = tf.shape(nonzero)[0]
    padded = tf.concat([nonzero, tf.ones([1], tf.float64)], axis=0)
    lower_middle = tf.gather(padded, tf.maximum((count - 1) // 2, 0))
    upper_middle = tf.gather(padded, count // 2)
    return 0.5 * (lower_middle + upper_middle)


def _resolve_bandwidths(bandwidth, x, y):
    """Turns a bandwidth rule into a 1-D array of positive bandwidths (a tensor inside tf.function)."""
    if isinstance(bandwidth, str):
        _validation.check_option(bandwidth, "bandwidth", ("median", "multiscale"))
        median = median_bandwidth(x, y)
        factors = (1.0,) if bandwidth == "median" else _MULTISCALE_FACTORS
        if isinstance(median, tf.Tensor):
            return median * tf.constant(factors, tf.float64)
        return median * np.array(factors)

    if np.ndim(bandwidth) == 0:
        return np.array([_validation.as_float(bandwidth, "bandwidth", positive=True)])

    values = np.asarray(bandwidth, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"`bandwidth` must be a positive float, 'median', 'multiscale' or a "
            f"non-empty 1-D sequence of positive floats; got shape {list(values.shape)}."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"`bandwidth` values must be finite and positive; got {values.tolist()}.")
    return values


def make_kernel(
    kernel: Any = "gaussian",
    *,
    bandwidth: float | str | Sequence[float] = "median",
    x=None,
    y=None,
    dtype=tf.float32,
    alpha: float = 1.0,
    degree: int = 3,
    scale: float | None = None,
    offset: float = 1.0,
):
    """Builds a `tfp.math.psd_kernels` kernel from a name and a bandwidth rule.

    Args:
      kernel: one of KERNEL_NAMES, or a `tfp.math.psd_kernels` instance, which
        is returned unchanged (its dtype must match `dtype`).
      bandwidth: a positive float, "median", "multiscale" or a sequence of
        floats (the sum of kernels at those bandwidths). Data-dependent rules
        need `x` (and optionally `y`). Ignored by the polynomial kernel.
      x, y: samples for data-dependent bandwidths.
      dtype: dtype of the kernel parameters, which must match the samples.
      alpha: mixture rate of the rational-quadratic kernel.
      degree, scale, offset: parameters of the polynomial kernel; `scale`
        defaults to 1/d, which needs `x`.

    Returns:
      A `tfp.math.psd_kernels.PositiveSemidefiniteKernel`.
    """
    dtype = tf.as_dtype(dtype)
    if isinstance(kernel, tfpk.PositiveSemidefiniteKernel):
        if kernel.dtype is not None and tf.as_dtype(kernel.dtype) != dtype:
            raise TypeError(
                f"`kernel` has dtype {tf.as_dtype(kernel.dtype).name} but the samples "
                f"are {dtype.name}; build the kernel with {dtype.name} parameters."
            )
        return kernel
    if not isinstance(kernel, str):
        raise TypeError(
            f"`kernel` must be a kernel name ({', '.join(KERNEL_NAMES)}) or a "
            f"tfp.math.psd_kernels instance; got {type(kernel).__name__}."
        )
    _validation.check_option(kernel, "kernel", KERNEL_NAMES)

    if kernel == "polynomial":
        degree = _validation.as_int(degree, "degree", minimum=1)
        if scale is None:
            if x is None:
                raise ValueError("The polynomial kernel needs `scale` or samples `x` to set scale = 1/d.")
            scale = 1.0 / int(x.shape[-1])
        scale = _validation.as_float(scale, "scale", positive=True)
        offset = _validation.as_float(offset, "offset", minimum=0.0)
        return InhomogeneousPolynomial(
            degree=tf.constant(float(degree), dtype),
            scale=tf.constant(scale, dtype),
            offset=tf.constant(offset, dtype),
        )

    if isinstance(bandwidth, str) and x is None:
        raise ValueError(f"bandwidth={bandwidth!r} needs the samples `x` (and `y`) to compute it.")
    length_scale = tf.cast(_resolve_bandwidths(bandwidth, x, y), dtype)
    if length_scale.shape[0] == 1:
        length_scale = length_scale[0]

    if kernel == "gaussian":
        return tfpk.ExponentiatedQuadratic(length_scale=length_scale)
    if kernel == "laplacian":
        return tfpk.MaternOneHalf(length_scale=length_scale)
    if kernel == "rational-quadratic":
        alpha = _validation.as_float(alpha, "alpha", positive=True)
        return tfpk.RationalQuadratic(
            length_scale=length_scale, scale_mixture_rate=tf.constant(alpha, dtype)
        )
    # inverse-multiquadric: the rational quadratic with alpha = 1/2, for which
    # (1 + r^2 / (2 alpha sigma^2))^-alpha = (1 + r^2 / sigma^2)^(-1/2).
    return tfpk.RationalQuadratic(
        length_scale=length_scale, scale_mixture_rate=tf.constant(0.5, dtype)
    )

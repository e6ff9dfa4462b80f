"""The energy distance between two sample sets."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences import _tiled

__all__ = ["energy_distance", "ENERGY_ESTIMATORS"]

ENERGY_ESTIMATORS = ("biased", "unbiased")


def _prepare(x, y, estimator, exponent, tile_size):
    _validation.check_option(estimator, "estimator", ENERGY_ESTIMATORS)
    minimum = 2 if estimator == "unbiased" else 1
    x, y = _validation.as_sample_pair(x, y, min_samples=minimum)
    exponent = _validation.as_float(exponent, "exponent", positive=True, maximum=2.0)
    if exponent == 2.0:
        raise ValueError(
            "`exponent` must be in (0, 2): with exponent 2 the energy distance only "
            "compares means (it equals 2 |mean(x) - mean(y)|^2) and is not a metric."
        )
    tile_size = _validation.as_int(tile_size, "tile_size", minimum=8)
    distance = _tiled.Distance(exponent=tf.constant(exponent, x.dtype))
    x, y = _tiled.center_pooled(distance, x, y)
    return x, y, distance, tile_size


def _energy_from_sums(sum_xy, sum_xx, sum_yy, n, m, unbiased):
    if unbiased:
        return 2.0 * sum_xy / (n * m) - sum_xx / (n * (n - 1.0)) - sum_yy / (m * (m - 1.0))
    value = 2.0 * sum_xy / (n * m) - sum_xx / (n * n) - sum_yy / (m * m)
    # The V-statistic is non-negative for exponents in (0, 2), so a negative
    # value is rounding (about -1e-13 when y is a permutation of x).
    return tf.maximum(value, tf.zeros([], tf.float64))


def energy_distance(
    x,
    y,
    estimator: str = "biased",
    *,
    exponent: float = 1.0,
    tile_size: int = _tiled.DEFAULT_TILE_SIZE,
) -> tf.Tensor:
    """Estimates the energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'|.

    Convention: this is the energy distance itself, the squared form, not its
    square root. For X, X' ~ P (real, `x`) and Y, Y' ~ Q (generated, `y`) it is
    non-negative and zero only when P = Q (Szekely and Rizzo 2013). With
    |.|^exponent for exponent in (0, 2) it stays a metric's square.

    Estimators:
      "biased" (V-statistic, default): 2/(n m) sum_ij |x_i - y_j|
        - 1/n^2 sum_ij |x_i - x_j| - 1/m^2 sum_ij |y_i - y_j|. Non-negative
        (rounding below 0 is returned as 0); biased upwards by
        E|X - X'|/n + E|Y - Y'|/m.
      "unbiased" (U-statistic): the within-set sums leave out i = j and are
        divided by n(n-1) and m(m-1). Unbiased, may be negative when P = Q.

    Relations:
      * `scipy.stats.energy_distance(u, v)` (one-dimensional samples) returns
        the square root of the V-statistic: ours equals its square.
      * It is MMD^2 with the distance kernel: with
        k(x, y) = (|x| + |y| - |x - y|)/2, MMD^2_k = energy / 2 (Sejdinovic
        et al. 2013), and the V- and U-statistics correspond.
      * It is translation and rotation invariant.

    Cost: O((n + m)^2 d) time in XLA-compiled tiles; memory
    O(tile_size^2 + (n + m) d). Sums accumulate in float64.

    Args:
      x: samples of P (real data), shape [n, d].
      y: samples of Q (generated data), shape [m, d].
      estimator: "biased" (V-statistic) or "unbiased" (U-statistic).
      exponent: power of the distance, in (0, 2).
      tile_size: rows per tile of the pairwise computation.

    Returns:
      A scalar tensor in the dtype of the inputs, differentiable in `x` and
      `y` (the gradient of |x - y| at x = y is taken as 0).

    References:
      Szekely and Rizzo (2013). Energy statistics: a class of statistics based
      on distances. Journal of Statistical Planning and Inference 143(8).
      Sejdinovic, Sriperumbudur, Gretton and Fukumizu (2013). Equivalence of
      distance-based and RKHS-based statistics in hypothesis testing. Annals
      of Statistics 41(5).
    """
    x, y, distance, tile_size = _prepare(x, y, estimator, exponent, tile_size)
    unbiased = estimator == "unbiased"
    n = tf.cast(tf.shape(x)[0], tf.float64)
    m = tf.cast(tf.shape(y)[0], tf.float64)

    sum_xy = _tiled.pair_sum(distance, x, y, tile_size=tile_size)
    sum_xx = _tiled.pair_sum(distance, x, exclude_diagonal=unbiased, tile_size=tile_size)
    sum_yy = _tiled.pair_sum(distance, y, exclude_diagonal=unbiased, tile_size=tile_size)
    return tf.cast(_energy_from_sums(sum_xy, sum_xx, sum_yy, n, m, unbiased), x.dtype)


def energy_estimate_parts(x, y, estimator, exponent, tile_size):
    """Returns (value, standard_error, diagnostics) as Python floats, for `estimate()`.

    The standard error is the first-order U-statistic term
    4 Var(g_x)/n + 4 Var(g_y)/m with g_x(i) = mean_j |x_i - y_j|
    - mean_{j != i} |x_i - x_j| and g_y alike; see `mmd2_estimate_parts`.
    It vanishes when P = Q, where the true standard deviation is O(1/n).
    """
    x, y, distance, tile_size = _prepare(x, y, estimator, exponent, tile_size)
    unbiased = estimator == "unbiased"
    n, m = int(x.shape[0]), int(y.shape[0])

    rows_xx = _tiled.pair_row_sums(distance, x, exclude_diagonal=unbiased, tile_size=tile_size).numpy()
    rows_yy = _tiled.pair_row_sums(distance, y, exclude_diagonal=unbiased, tile_size=tile_size).numpy()
    rows_xy = _tiled.pair_row_sums(distance, x, y, tile_size=tile_size).numpy()
    rows_yx = _tiled.pair_row_sums(distance, y, x, tile_size=tile_size).numpy()
    value = float(_energy_from_sums(rows_xy.sum(), rows_xx.sum(), rows_yy.sum(), n, m, unbiased))

    g_x = rows_xy / m - rows_xx / max(n - 1, 1)
    g_y = rows_yx / n - rows_yy / max(m - 1, 1)
    standard_error = None
    if min(n, m) > 1:
        standard_error = float(np.sqrt(4.0 * np.var(g_x, ddof=1) / n + 4.0 * np.var(g_y, ddof=1) / m))
    diagnostics = {
        "exponent": float(distance.exponent.numpy()),
        "standard_error_method": "first-order U-statistic (Hoeffding) variance",
    }
    return value, standard_error, diagnostics

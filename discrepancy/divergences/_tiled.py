"""Tiled sums of pairwise kernel values and distances, compiled with XLA.

The samples are cut into tiles of `tile_size` rows; the last tile is padded
with zeros and its padding masked out. One XLA program per (tile size,
feature dimension, dtype, kernel type) evaluates a tile pair, so every n and m
reuse it, and peak memory is O(tile_size^2 + (n + m) d) instead of O(n m).
The loops over tiles are `tf.while_loop`s in a plain `tf.function`, so the
same code runs eagerly, inside a user's `tf.function`, and under a
`tf.GradientTape`.

Precision: each tile's values are converted to float64 before they are
summed, and tile sums are accumulated in float64, because XLA's float32
reductions on CPU sum sequentially (about 1e-4 relative error on 25 million
terms, measured on this project's 2-core test machine).

Translation-invariant kernels and distances are evaluated on samples centred
at the pooled mean, which removes the cancellation in
|x|^2 + |y|^2 - 2 x . y when the data lie far from the origin relative to
their spread (for example means around 1e4 with spread 1e-2).
"""

from __future__ import annotations

import tensorflow as tf

from discrepancy.divergences import _kernels

__all__ = ["DEFAULT_TILE_SIZE", "Distance", "pair_sum", "pair_row_sums", "center_pooled"]

# A 512 x 512 float32 tile takes 1 MiB, so a tile and its operands stay in a
# typical CPU's L2 or L3 cache. Measured on a 2-core x86-64 machine, 512 beat
# 1024 and 2048 at d = 64 and at d = 2048 (benchmarks/kernel_sums.py).
DEFAULT_TILE_SIZE = 512


class Distance(tf.experimental.ExtensionType):
    """The pairwise function |x - y|^exponent, as used by the energy distance.

    Its square root is safe at zero: the gradient of |x - y| at x = y is taken
    as 0 (a subgradient), never NaN.
    """

    exponent: tf.Tensor


def _squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Returns the [T, T] squared Euclidean distances through one matrix product."""
    a_norms = tf.reduce_sum(a * a, axis=1)
    b_norms = tf.reduce_sum(b * b, axis=1)
    squared = a_norms[:, None] + b_norms[None, :] - 2.0 * tf.linalg.matmul(a, b, transpose_b=True)
    # Rounding can leave tiny negative values where points coincide.
    return tf.maximum(squared, tf.zeros([], squared.dtype))


def _pair_values(pair, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Evaluates the pairwise function on two tiles; a batched kernel is summed over its batch."""
    if isinstance(pair, Distance):
        squared = _squared_distances(a, b)
        positive = squared > 0
        # Double `where` keeps the gradient finite where the distance is zero.
        safe = tf.where(positive, squared, tf.ones_like(squared))
        powered = tf.where(positive, safe ** (pair.exponent / 2.0), tf.zeros_like(squared))
        return powered

    values = pair.matrix(a, b)
    if values.shape.rank != 2:
        # The rank is unknown when `reduce_retracing` has relaxed the kernel's
        # parameter shapes (after a scalar and a batched bandwidth), so the
        # batch axes are flattened by a reshape, not counted.
        values = tf.reduce_sum(tf.reshape(values, [-1, tf.shape(a)[0], tf.shape(b)[0]]), axis=0)
    return values


def _masked_tile(pair, a, b, a_count, b_count, exclude_diagonal):
    """Returns the tile's values with padding (and optionally the diagonal) zeroed, in float64."""
    tile_size = tf.shape(a)[0]
    values = _pair_values(pair, a, b)

    indices = tf.range(tile_size)
    mask = (indices < a_count)[:, None] & (indices < b_count)[None, :]
    diagonal = tf.eye(tile_size, dtype=tf.bool)
    mask = mask & ~(exclude_diagonal & diagonal)

    values = tf.where(mask, values, tf.zeros_like(values))
    return tf.cast(values, tf.float64)


@tf.function(jit_compile=True, reduce_retracing=True)
def _tile_total(pair, a, b, a_count, b_count, exclude_diagonal):
    return tf.reduce_sum(_masked_tile(pair, a, b, a_count, b_count, exclude_diagonal))


@tf.function(jit_compile=True, reduce_retracing=True)
def _tile_row_sums(pair, a, b, a_count, b_count, exclude_diagonal):
    return tf.reduce_sum(_masked_tile(pair, a, b, a_count, b_count, exclude_diagonal), axis=1)


def _to_tiles(samples: tf.Tensor, tile_size: int):
    """Pads [n, d] samples to whole tiles; returns ([num_tiles, T, d], n, num_tiles, max_tiles).

    `max_tiles` is the number of tiles as a Python int when n is static, else
    the tensor `num_tiles`. Loops over tiles pass it as `maximum_iterations`,
    which XLA needs to differentiate a while loop inside a compiled program
    (for example a GAN train step with an MMD loss).
    """
    count = tf.shape(samples)[0]
    num_tiles = (count + tile_size - 1) // tile_size
    padding = num_tiles * tile_size - count
    padded = tf.pad(samples, [[0, padding], [0, 0]])
    tiles = tf.reshape(padded, [num_tiles, tile_size, tf.shape(samples)[1]])
    static_count = samples.shape[0]
    max_tiles = num_tiles if static_count is None else max(-(-static_count // tile_size), 1)
    return tiles, count, num_tiles, max_tiles


def _tile_pair(x, y, symmetric: bool, tile_size: int):
    """Returns the tiles of x and of y (x again when symmetric), as two `_to_tiles` tuples."""
    x_tiled = _to_tiles(x, tile_size)
    return x_tiled, (x_tiled if symmetric else _to_tiles(y, tile_size))


def _valid_count(total, tile_index, tile_size):
    return tf.minimum(tile_size, total - tile_index * tile_size)


@tf.function(reduce_retracing=True)
def _pair_sum_loop(pair, x, y, symmetric: bool, exclude_diagonal: bool, tile_size: int, inline: bool = False):
    tile_total_of = _fresh(_tile_total) if inline else _tile_total
    (x_tiles, n, num_x_tiles, max_x_tiles), (y_tiles, m, num_y_tiles, max_y_tiles) = _tile_pair(
        x, y, symmetric, tile_size
    )

    def row_body(i, total):
        a = x_tiles[i]
        a_count = _valid_count(n, i, tile_size)
        start = i if symmetric else 0

        def column_body(j, row_total):
            b = y_tiles[j]
            b_count = _valid_count(m, j, tile_size)
            on_diagonal = tf.logical_and(tf.constant(exclude_diagonal), tf.equal(i, j))
            tile_total = tile_total_of(pair, a, b, a_count, b_count, on_diagonal)
            # In a symmetric sum each off-diagonal tile stands for itself and
            # its transpose.
            weight = tf.where(
                tf.logical_and(tf.constant(symmetric), tf.not_equal(i, j)),
                tf.constant(2.0, tf.float64),
                tf.constant(1.0, tf.float64),
            )
            return j + 1, row_total + weight * tile_total

        _, row_total = tf.while_loop(
            lambda j, _: j < num_y_tiles,
            column_body,
            [start, tf.constant(0.0, tf.float64)],
            maximum_iterations=max_y_tiles,
        )
        return i + 1, total + row_total

    _, total = tf.while_loop(
        lambda i, _: i < num_x_tiles,
        row_body,
        [tf.constant(0), tf.constant(0.0, tf.float64)],
        maximum_iterations=max_x_tiles,
    )
    return total


@tf.function(reduce_retracing=True)
def _row_sums_loop(pair, x, y, symmetric: bool, exclude_diagonal: bool, tile_size: int, inline: bool = False):
    tile_row_sums_of = _fresh(_tile_row_sums) if inline else _tile_row_sums
    (x_tiles, n, num_x_tiles, max_x_tiles), (y_tiles, m, num_y_tiles, max_y_tiles) = _tile_pair(
        x, y, symmetric, tile_size
    )

    rows = tf.TensorArray(tf.float64, size=num_x_tiles, element_shape=[tile_size])

    def row_body(i, rows):
        a = x_tiles[i]
        a_count = _valid_count(n, i, tile_size)

        def column_body(j, row_sums):
            b = y_tiles[j]
            b_count = _valid_count(m, j, tile_size)
            on_diagonal = tf.logical_and(tf.constant(exclude_diagonal), tf.equal(i, j))
            return j + 1, row_sums + tile_row_sums_of(pair, a, b, a_count, b_count, on_diagonal)

        _, row_sums = tf.while_loop(
            lambda j, _: j < num_y_tiles,
            column_body,
            [tf.constant(0), tf.zeros([tile_size], tf.float64)],
            maximum_iterations=max_y_tiles,
        )
        return i + 1, rows.write(i, row_sums)

    _, rows = tf.while_loop(
        lambda i, _: i < num_x_tiles, row_body, [tf.constant(0), rows], maximum_iterations=max_x_tiles
    )
    return tf.reshape(rows.stack(), [-1])[:n]


def center_pooled(pair, x: tf.Tensor, y: tf.Tensor):
    """Centres x and y at their pooled mean when `pair` is translation invariant.

    The mean is computed in float64 and treated as a constant for gradients,
    which is exact because the result does not depend on a common shift.
    """
    if not (isinstance(pair, Distance) or _kernels.is_translation_invariant(pair)):
        return x, y
    pooled = tf.concat([tf.cast(x, tf.float64), tf.cast(y, tf.float64)], axis=0)
    mean = tf.stop_gradient(tf.cast(tf.reduce_mean(pooled, axis=0), x.dtype))
    return x - mean, y - mean


def _run_loop(loop, *args):
    """Calls a tile loop: its shared `tf.function` in eager mode, inline inside a caller's graph.

    Inline, the loop is traced with the caller's static shapes, so its tile
    bound is a constant and its tile functions are traced afresh. An
    XLA-compiled caller (a GAN train step) needs both to differentiate them. The
    shared functions relax shapes after a few sizes (`reduce_retracing`),
    and a relaxed trace would fail to compile there.
    """
    if tf.executing_eagerly():
        return loop(*args)
    return loop.python_function(*args, inline=True)


def _fresh(tile_function):
    """Returns a new XLA function with the body of `tile_function`, traced for this call site only.

    The shared tile functions relax their input shapes after a few traces, and
    a relaxed trace (unknown kernel parameter rank) cannot be differentiated
    inside an XLA-compiled caller. A fresh function keeps the exact shapes.
    """
    return tf.function(tile_function.python_function, jit_compile=True)


def pair_sum(pair, x, y=None, *, exclude_diagonal=False, tile_size=DEFAULT_TILE_SIZE):
    """Returns sum_{i, j} k(x_i, y_j) in float64, tiled.

    With `y=None` the sum runs over pairs of `x` with itself, using symmetry
    (only tiles on or above the diagonal are evaluated), and
    `exclude_diagonal=True` leaves out the terms i = j, as a U-statistic needs.
    Samples are expected centred (see `center_pooled`) where that matters.
    """
    tile_size = int(tile_size)
    if y is None:
        return _run_loop(_pair_sum_loop, pair, x, x, True, bool(exclude_diagonal), tile_size)
    return _run_loop(_pair_sum_loop, pair, x, y, False, False, tile_size)


def pair_row_sums(pair, x, y=None, *, exclude_diagonal=False, tile_size=DEFAULT_TILE_SIZE):
    """Returns the row sums r_i = sum_j k(x_i, y_j), shape [n], in float64, tiled.

    With `y=None` the rows of k(x_i, x_j) are summed, optionally without the
    diagonal. Every tile is evaluated (no symmetry), so this costs twice
    `pair_sum` on a symmetric sum.
    """
    tile_size = int(tile_size)
    if y is None:
        return _run_loop(_row_sums_loop, pair, x, x, True, bool(exclude_diagonal), tile_size)
    return _run_loop(_row_sums_loop, pair, x, y, False, False, tile_size)

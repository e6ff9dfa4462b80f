"""Tiled k-nearest-neighbour core and the k-NN estimator of KL(P || Q).

The core answers three questions about Euclidean distances between sample sets
without ever holding an n x m distance matrix:

  1. `knn_within`: the k smallest distances from each point of a set to the
     other points of the same set. The point itself is excluded by index, not
     by distance, so an exact duplicate is a neighbour at distance 0.
  2. `knn_between`: the k smallest distances from each query point to a
     reference set.
  3. `ball_membership`: for query points and reference points with radii,
     closed-ball membership (distance <= radius) counted both ways.

Distances are computed in square tiles of fixed shape. The last tile of each
set is padded with zero rows, and padded rows and columns are masked, so one
compiled program per (tile shape, feature count, k, dtype) serves every sample
count. Peak memory is O(tile^2 + (n + m) d).

The loops over tiles are `tf.while_loop`s in a plain `tf.function` that calls
the XLA-compiled tile functions, so a whole pass costs one Python dispatch.
A Python loop over the tiles paid one eager dispatch per tile pair, measured
at up to about 5 ms on a heavily loaded 2-core CPU against about 20 ms of work
for a 1024-row tile at d = 64; the graph loop made the n = 10,000, d = 64
passes about 30 % faster on the same machine. The exception is the
within-set pass for d >= 256, where each off-diagonal distance block serves
both of its tiles: a Python loop drives it, because its dispatch cost is small
next to a block's matmul.

Numerics: with more than 8 features, squared distances come from the
expansion |a|^2 + |b|^2 - 2 a.b (one matmul per tile), which loses accuracy
when the data sit far from the origin relative to their spread (means around
1e4 with spread 1e-2 lose every digit in float32). The data are therefore shifted first, per feature, by the pooled mean rounded to a
multiple of a power of two no larger than that feature's standard deviation
(see `_shift_to_origin`). Each shifted value is rounded at most once, by
half a unit in its last place, and integer-valued data are shifted exactly,
so their distances and ties stay exact. Squared
distances at or below the rounding error of the expansion, about
8 * sqrt(d) * eps * (|a|^2 + |b|^2), are set to exactly 0, because such pairs
are indistinguishable from duplicates at this precision. The rule also clamps
the small negative values that cancellation produces. With 8 features or fewer,
distances come from direct differences, which are accurate to rounding of
each distance; this matters most there, because nearest-neighbour distances
in few dimensions are small compared with the norms.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences._result import Estimate

__all__ = [
    "knn_kl",
    "knn_kl_estimate",
    "knn_within",
    "knn_between",
    "ball_membership",
    "BallMembership",
    "DEFAULT_TILE_SIZE",
]

DEFAULT_TILE_SIZE = 1024
_MIN_TILE_SIZE = 8

# Squared distances below this many units of eps * sqrt(d) * (|a|^2 + |b|^2)
# are rounding noise of the matmul expansion and are set to 0. Measured on
# identical rows of random normal float32 data: at most about 0.7 units for d
# from 1 to 4096, so 8 units leaves a wide margin.
_ROUNDING_UNITS = 8.0

# Columns per chunk in the two-stage k-smallest selection of
# `_merge_smallest`. Measured on a shared 2-core CPU for a [1024, 1024] block
# with k = 5: 2.3 ms with chunks of 16 against 3.7 ms for one top-k.
_CHUNK_WIDTH = 16

# From this many features on, one distance block serves both tiles of an
# off-diagonal pair within a set, halving the matmul work. Below it the
# transposed top-k costs more than the saved matmul (measured on a shared
# 2-core CPU: at d = 64 a pair update took about 65 ms against 2 x 22 ms for
# two one-sided updates, at d = 2048 about 200 ms against 2 x 170 ms).
# NOTE: the crossover between d = 64 and d = 2048 was not measured finely.
_SYMMETRIC_MIN_FEATURES = 256

# Up to this many features, distances come from direct differences rather
# than the expansion; the [tile, tile, d] intermediate then stays small.
_DIRECT_MAX_FEATURES = 8


# ---------------------------------------------------------------------------
# Preparation: shifting and tiling.
# ---------------------------------------------------------------------------


def _shift_to_origin(*sets: tf.Tensor) -> list[tf.Tensor]:
    """Shifts every set by one per-feature offset, exactly, towards the origin.

    The offset of feature j is the pooled mean rounded to a multiple of
    2^floor(log2(std_j)), computed in float64. The shifted data have a mean
    within half a standard deviation of 0, which is all that the
    squared-distance expansion needs. The coarse offset keeps the shift exact
    for integer-valued data and for data whose resolution is coarse next to
    their spread. Otherwise the cast back to the input dtype rounds each
    value by at most half a unit in its last place. Constant features are
    shifted by their value, so they become exactly 0.
    """
    pooled = tf.concat([tf.cast(s, tf.float64) for s in sets], axis=0)
    mean = tf.reduce_mean(pooled, axis=0)
    std = tf.math.reduce_std(pooled, axis=0)

    positive = std > 0
    exponent = tf.floor(tf.math.log(tf.where(positive, std, 1.0)) / math.log(2.0))
    quantum = tf.pow(tf.constant(2.0, tf.float64), exponent)
    offset = tf.where(positive, tf.round(mean / quantum) * quantum, pooled[0])

    return [tf.cast(tf.cast(s, tf.float64) - offset, s.dtype) for s in sets]


def _tile_rows(num_rows: int, tile_size: int) -> int:
    """Returns `tile_size`, or the next power of two >= num_rows when that is smaller.

    Small sets get small tiles, so a set of 5 points is not padded to 1024
    rows. Powers of two keep the number of compiled shapes logarithmic.
    """
    fitted = max(_MIN_TILE_SIZE, 1 << max(0, (num_rows - 1).bit_length()))
    return min(tile_size, fitted)


class Tiles(NamedTuple):
    """A sample set cut into zero-padded tiles of equal height."""

    points: list[tf.Tensor]  # each [tile, d]
    norms: list[tf.Tensor]  # each [tile], squared Euclidean norms
    offsets: list[tf.Tensor]  # each a scalar int32: index of the tile's first row
    count: tf.Tensor  # scalar int32: number of real (unpadded) rows
    num_rows: int
    tile: int
    padded: tf.Tensor  # [num_tiles * tile, d], the tiles stacked
    padded_norms: tf.Tensor  # [num_tiles * tile]


def _make_tiles(points: tf.Tensor, tile_size: int) -> Tiles:
    num_rows = int(points.shape[0])
    tile = _tile_rows(num_rows, tile_size)
    num_tiles = -(-num_rows // tile)
    padded = tf.pad(points, [[0, num_tiles * tile - num_rows], [0, 0]])
    norms = tf.reduce_sum(tf.square(padded), axis=1)
    return Tiles(
        points=[padded[i * tile : (i + 1) * tile] for i in range(num_tiles)],
        norms=[norms[i * tile : (i + 1) * tile] for i in range(num_tiles)],
        offsets=[tf.constant(i * tile, tf.int32) for i in range(num_tiles)],
        count=tf.constant(num_rows, tf.int32),
        num_rows=num_rows,
        tile=tile,
        padded=padded,
        padded_norms=norms,
    )


def prepare_tiles(sets: list[tf.Tensor], tile_size: int) -> list[Tiles]:
    """Shifts the sets by one common offset and cuts each into padded tiles."""
    _validation.as_int(tile_size, "tile_size", minimum=_MIN_TILE_SIZE)
    shifted = _shift_to_origin(*sets)
    return [_make_tiles(s, tile_size) for s in shifted]


# ---------------------------------------------------------------------------
# XLA-compiled tile functions. Shapes are fixed per tile size, and offsets and
# counts are tensors, so these trace once per shape and dtype.
# ---------------------------------------------------------------------------


def _squared_distances(a, a_norms, b, b_norms):
    """Squared distances between rows of a [p, d] and b [q, d], rounding noise set to 0."""
    num_features = a.shape[1]
    if num_features <= _DIRECT_MAX_FEATURES:
        # Few features: direct differences cost no more than the matmul, are
        # accurate to rounding of each distance, and give exact zeros for
        # duplicates.
        return tf.reduce_sum(tf.square(a[:, None, :] - b[None, :, :]), axis=2)

    dtype = a.dtype
    norm_sums = a_norms[:, None] + b_norms[None, :]
    squared = norm_sums - 2.0 * tf.matmul(a, b, transpose_b=True)

    eps = np.finfo(dtype.as_numpy_dtype).eps
    noise_floor = (_ROUNDING_UNITS * eps * math.sqrt(num_features)) * norm_sums
    return tf.where(squared <= noise_floor, tf.zeros_like(squared), squared)


def _row_indices(size, offset):
    return offset + tf.range(size, dtype=tf.int32)


def _smallest(values, k):
    """Returns the k smallest values of each row, ascending, and their column indices."""
    if values.dtype == tf.float32:
        negated, indices = tf.math.top_k(-values, k=k, sorted=True)
        return -negated, indices

    # XLA's CPU top-k has a fast path for float32 only. For a [1024, 1029]
    # float64 block it took about 350 ms against 26 ms for k rounds of
    # argmin and masking (k = 5, measured on a shared 2-core CPU).
    columns = tf.range(values.shape[1], dtype=tf.int32)[None, :]
    infinity = tf.constant(np.inf, values.dtype)
    smallest, indices = [], []
    for _ in range(k):
        index = tf.argmin(values, axis=1, output_type=tf.int32)
        smallest.append(tf.reduce_min(values, axis=1))
        indices.append(index)
        values = tf.where(columns == index[:, None], infinity, values)
    return tf.stack(smallest, axis=1), tf.stack(indices, axis=1)


def _merge_smallest(best, candidates):
    """Keeps the k smallest of each row of concat(best [p, k], candidates [p, q])."""
    k = best.shape[1]
    num_rows, width = candidates.shape
    if width % _CHUNK_WIDTH == 0 and width >= 2 * k * _CHUNK_WIDTH:
        # The k smallest values of a row lie in the k chunks with the smallest
        # minima (ties included: any k chunks of smallest minima hold k values
        # no larger than the k-th smallest). Selecting over those k chunks is
        # cheaper than a selection over the whole row.
        chunks = tf.reshape(candidates, [num_rows, width // _CHUNK_WIDTH, _CHUNK_WIDTH])
        _, chosen = _smallest(tf.reduce_min(chunks, axis=2), k)
        candidates = tf.reshape(tf.gather(chunks, chosen, batch_dims=1), [num_rows, k * _CHUNK_WIDTH])
    smallest, _ = _smallest(tf.concat([best, candidates], axis=1), k)
    return smallest


@tf.function(jit_compile=True)
def _knn_tile(queries, query_norms, query_offset, references, reference_norms,
              reference_offset, reference_count, best, exclude_self, skip_zero):
    """Merges one reference tile into the running k smallest squared distances."""
    squared = _squared_distances(queries, query_norms, references, reference_norms)
    infinity = tf.constant(np.inf, squared.dtype)

    query_index = _row_indices(tf.shape(queries)[0], query_offset)
    reference_index = _row_indices(tf.shape(references)[0], reference_offset)
    invalid = (reference_index >= reference_count)[None, :]
    invalid = invalid | (exclude_self & (query_index[:, None] == reference_index[None, :]))
    invalid = invalid | (skip_zero & (squared == 0))

    return _merge_smallest(best, tf.where(invalid, infinity, squared))


@tf.function(jit_compile=True)
def _knn_tile_pair(a, a_norms, a_offset, b, b_norms, b_offset, count, best_a, best_b, skip_zero):
    """Updates both tiles of a disjoint pair within one set from one distance block."""
    squared = _squared_distances(a, a_norms, b, b_norms)
    infinity = tf.constant(np.inf, squared.dtype)
    zero_invalid = skip_zero & (squared == 0)

    a_invalid = (_row_indices(tf.shape(a)[0], a_offset) >= count)[:, None]
    b_invalid = (_row_indices(tf.shape(b)[0], b_offset) >= count)[None, :]
    new_a = _merge_smallest(best_a, tf.where(b_invalid | zero_invalid, infinity, squared))
    new_b = _merge_smallest(
        best_b, tf.transpose(tf.where(a_invalid | zero_invalid, infinity, squared))
    )
    return new_a, new_b


@tf.function(jit_compile=True)
def _ball_tile(queries, query_norms, query_offset, query_count, query_radii_sq,
               references, reference_norms, reference_offset, reference_count,
               reference_radii_sq):
    """Closed-ball membership between one query tile and one reference tile.

    Returns:
      counts: [p] int32, reference balls of this tile that contain each query.
      reference_covered: [q] bool, whether each reference ball contains a query.
      reference_in_query_ball: [q] bool, whether each reference point lies in
        the ball of some query of this tile.
    """
    squared = _squared_distances(queries, query_norms, references, reference_norms)
    valid = (_row_indices(tf.shape(queries)[0], query_offset) < query_count)[:, None]
    valid = valid & (_row_indices(tf.shape(references)[0], reference_offset) < reference_count)[None, :]

    in_reference_ball = valid & (squared <= reference_radii_sq[None, :])
    in_query_ball = valid & (squared <= query_radii_sq[:, None])
    counts = tf.reduce_sum(tf.cast(in_reference_ball, tf.int32), axis=1)
    return counts, tf.reduce_any(in_reference_ball, axis=0), tf.reduce_any(in_query_ball, axis=0)


# ---------------------------------------------------------------------------
# Drivers: loops over tiles, for use inside the package on data from
# `prepare_tiles`. They work on squared distances, so that radii and distances
# compared under the closed-ball rule come from the same arithmetic.
#
# A graph driver is a plain `tf.function` whose `tf.while_loop`s call the
# XLA-compiled tile functions, so Python dispatch is paid once per pass. Each
# is traced once per (tile shapes, d, dtype, k) with the sample axis left
# unknown, so one trace serves every n.
# ---------------------------------------------------------------------------

_DRIVERS: dict[tuple, tf.types.experimental.GenericFunction] = {}


def _tile_slice(padded, norms, index, tile, num_features):
    start = index * tile
    return (
        tf.slice(padded, [start, 0], [tile, num_features]),
        tf.slice(norms, [start], [tile]),
        start,
    )


def _knn_driver(query_tile: int, reference_tile: int, num_features: int, dtype, k: int):
    key = ("knn", query_tile, reference_tile, num_features, dtype, k)
    if key in _DRIVERS:
        return _DRIVERS[key]

    matrix = tf.TensorSpec([None, num_features], dtype)
    vector = tf.TensorSpec([None], dtype)
    scalar_int = tf.TensorSpec([], tf.int32)
    flag = tf.TensorSpec([], tf.bool)

    @tf.function(input_signature=[matrix, vector, matrix, vector, scalar_int, flag, flag])
    def knn_pass(queries, query_norms, references, reference_norms, reference_count,
                 exclude_self, skip_zero):
        num_query_tiles = tf.shape(queries)[0] // query_tile
        num_reference_tiles = tf.shape(references)[0] // reference_tile
        infinity = tf.constant(np.inf, dtype)

        def query_step(i, results):
            query, query_norm, query_offset = _tile_slice(
                queries, query_norms, i, query_tile, num_features
            )

            def reference_step(j, best):
                reference, reference_norm, reference_offset = _tile_slice(
                    references, reference_norms, j, reference_tile, num_features
                )
                best = _knn_tile(
                    query, query_norm, query_offset, reference, reference_norm,
                    reference_offset, reference_count, best, exclude_self, skip_zero,
                )
                return j + 1, best

            _, best = tf.while_loop(
                lambda j, _: j < num_reference_tiles,
                reference_step,
                (tf.constant(0), tf.fill([query_tile, k], infinity)),
            )
            return i + 1, results.write(i, best)

        results = tf.TensorArray(dtype, size=num_query_tiles, element_shape=[query_tile, k])
        _, results = tf.while_loop(lambda i, _: i < num_query_tiles, query_step, (tf.constant(0), results))
        return tf.reshape(results.stack(), [-1, k])

    _DRIVERS[key] = knn_pass
    return knn_pass


def _knn_pass(queries: Tiles, references: Tiles, k: int, exclude_self: bool, skip_zero: bool):
    """Returns [n_queries, k] ascending squared distances through one graph call."""
    num_features = int(queries.padded.shape[1])
    driver = _knn_driver(queries.tile, references.tile, num_features, queries.padded.dtype, k)
    best = driver(
        queries.padded, queries.padded_norms, references.padded, references.padded_norms,
        references.count, tf.constant(exclude_self), tf.constant(skip_zero),
    )
    return best[: queries.num_rows]


def _ball_driver(query_tile: int, reference_tile: int, num_features: int, dtype):
    key = ("ball", query_tile, reference_tile, num_features, dtype)
    if key in _DRIVERS:
        return _DRIVERS[key]

    matrix = tf.TensorSpec([None, num_features], dtype)
    vector = tf.TensorSpec([None], dtype)
    scalar_int = tf.TensorSpec([], tf.int32)

    @tf.function(
        input_signature=[matrix, vector, vector, scalar_int, matrix, vector, vector, scalar_int]
    )
    def ball_pass(queries, query_norms, query_radii_sq, query_count,
                  references, reference_norms, reference_radii_sq, reference_count):
        num_query_tiles = tf.shape(queries)[0] // query_tile
        num_reference_tiles = tf.shape(references)[0] // reference_tile

        def query_step(i, counts, covered, in_query_ball):
            query, query_norm, query_offset = _tile_slice(
                queries, query_norms, i, query_tile, num_features
            )
            query_radii = tf.slice(query_radii_sq, [query_offset], [query_tile])

            def reference_step(j, tile_counts, covered, in_query_ball):
                reference, reference_norm, reference_offset = _tile_slice(
                    references, reference_norms, j, reference_tile, num_features
                )
                reference_radii = tf.slice(reference_radii_sq, [reference_offset], [reference_tile])
                step_counts, step_covered, step_in_query_ball = _ball_tile(
                    query, query_norm, query_offset, query_count, query_radii,
                    reference, reference_norm, reference_offset, reference_count,
                    reference_radii,
                )
                # Row j of the [reference tiles, tile] flags belongs to this tile.
                row = [[j]]
                covered = tf.tensor_scatter_nd_update(covered, row, (covered[j] | step_covered)[None])
                in_query_ball = tf.tensor_scatter_nd_update(
                    in_query_ball, row, (in_query_ball[j] | step_in_query_ball)[None]
                )
                return j + 1, tile_counts + step_counts, covered, in_query_ball

            _, tile_counts, covered, in_query_ball = tf.while_loop(
                lambda j, *_: j < num_reference_tiles,
                reference_step,
                (tf.constant(0), tf.zeros([query_tile], tf.int32), covered, in_query_ball),
            )
            return i + 1, counts.write(i, tile_counts), covered, in_query_ball

        flags = tf.zeros([num_reference_tiles, reference_tile], tf.bool)
        counts = tf.TensorArray(tf.int32, size=num_query_tiles, element_shape=[query_tile])
        _, counts, covered, in_query_ball = tf.while_loop(
            lambda i, *_: i < num_query_tiles,
            query_step,
            (tf.constant(0), counts, flags, flags),
        )
        return tf.reshape(counts.stack(), [-1]), tf.reshape(covered, [-1]), tf.reshape(in_query_ball, [-1])

    _DRIVERS[key] = ball_pass
    return ball_pass


def _initial_best(tiles: Tiles, k: int, dtype) -> list[tf.Tensor]:
    return [tf.fill([tiles.tile, k], tf.constant(np.inf, dtype)) for _ in tiles.points]


def knn_within_tiled(tiles: Tiles, k: int, skip_zero: bool = False) -> tf.Tensor:
    """Returns [n, k] ascending squared distances to the k nearest other points."""
    if tiles.points[0].shape[1] < _SYMMETRIC_MIN_FEATURES:
        # The point itself is masked by index in the diagonal blocks.
        return _knn_pass(tiles, tiles, k, exclude_self=True, skip_zero=skip_zero)

    # Large d: each off-diagonal distance block serves both of its tiles. The
    # Python loop costs one dispatch per block, small next to a block's matmul.
    dtype = tiles.points[0].dtype
    best = _initial_best(tiles, k, dtype)
    skip = tf.constant(skip_zero)
    num_tiles = len(tiles.points)
    for i in range(num_tiles):
        best[i] = _knn_tile(
            tiles.points[i], tiles.norms[i], tiles.offsets[i],
            tiles.points[i], tiles.norms[i], tiles.offsets[i], tiles.count,
            best[i], tf.constant(True), skip,
        )
        for j in range(i + 1, num_tiles):
            best[i], best[j] = _knn_tile_pair(
                tiles.points[i], tiles.norms[i], tiles.offsets[i],
                tiles.points[j], tiles.norms[j], tiles.offsets[j], tiles.count,
                best[i], best[j], skip,
            )
    return tf.concat(best, axis=0)[: tiles.num_rows]


def knn_between_tiled(queries: Tiles, references: Tiles, k: int, skip_zero: bool = False) -> tf.Tensor:
    """Returns [n_queries, k] ascending squared distances to the k nearest references."""
    return _knn_pass(queries, references, k, exclude_self=False, skip_zero=skip_zero)


def _pad_rows(values: tf.Tensor, tiles: Tiles) -> tf.Tensor:
    return tf.pad(values, [[0, int(tiles.padded.shape[0]) - tiles.num_rows]])


def ball_membership_tiled(queries: Tiles, references: Tiles, reference_radii_sq: tf.Tensor,
                          query_radii_sq: tf.Tensor | None = None) -> "BallMembership":
    """Returns closed-ball memberships, radii given as squared distances."""
    dtype = queries.padded.dtype
    if query_radii_sq is None:
        # A negative radius makes every query ball empty.
        query_radii_sq = -tf.ones([queries.num_rows], dtype)

    num_features = int(queries.padded.shape[1])
    driver = _ball_driver(queries.tile, references.tile, num_features, dtype)
    counts, covered, in_query_ball = driver(
        queries.padded, queries.padded_norms, _pad_rows(tf.cast(query_radii_sq, dtype), queries),
        queries.count,
        references.padded, references.padded_norms,
        _pad_rows(tf.cast(reference_radii_sq, dtype), references), references.count,
    )
    return BallMembership(
        counts=counts[: queries.num_rows],
        reference_covered=covered[: references.num_rows],
        reference_in_query_ball=in_query_ball[: references.num_rows],
    )


# ---------------------------------------------------------------------------
# Public core functions (validated).
# ---------------------------------------------------------------------------


def _as_pair(x, y, x_name: str, y_name: str):
    x = _validation.as_samples(x, x_name)
    y = _validation.as_samples(y, y_name)
    _validation.check_same_dimension(x, y, x_name, y_name)
    dtype = _validation.result_dtype(x, y)
    return tf.cast(x, dtype), tf.cast(y, dtype)


def check_k_within(k, num_rows: int, name: str) -> int:
    """Validates k for neighbours within a set of `num_rows` points, the point itself excluded."""
    k = _validation.as_int(k, "k", minimum=1)
    if k >= num_rows:
        raise ValueError(
            f"`k`={k} must be smaller than the number of samples in `{name}` "
            f"({num_rows}), because each point's k nearest neighbours exclude the point "
            f"itself. Pass at least {k + 1} samples or use k <= {num_rows - 1}."
        )
    return k


def knn_within(x, k: int, *, tile_size: int = DEFAULT_TILE_SIZE) -> tf.Tensor:
    """Computes the distances from each point of `x` to its k nearest other points.

    The point itself is excluded by index, so an exact duplicate of x_i is a
    neighbour at distance 0.

    Args:
      x: samples, shape [n, d], float32 or float64.
      k: number of neighbours, 1 <= k <= n - 1.
      tile_size: rows per tile; memory is O(tile_size^2 + n d).

    Returns:
      Tensor of shape [n, k] in the input dtype, ascending along the last axis.
      Column k - 1 is the k-th nearest-neighbour distance.

    Raises:
      ValueError: k >= n, or invalid samples.

    Cost: n^2 d multiply-adds, or n^2 d / 2 for d >= 256, where each distance
    block serves both of its tiles.
    """
    x = _validation.as_samples(x, "x")
    k = check_k_within(k, int(x.shape[0]), "x")
    (tiles,) = prepare_tiles([x], tile_size)
    return tf.sqrt(knn_within_tiled(tiles, k))


def knn_between(queries, references, k: int, *, tile_size: int = DEFAULT_TILE_SIZE) -> tf.Tensor:
    """Computes the distances from each query point to its k nearest reference points.

    Args:
      queries: shape [n, d].
      references: shape [m, d], with 1 <= k <= m.
      k: number of neighbours.
      tile_size: rows per tile; memory is O(tile_size^2 + (n + m) d).

    Returns:
      Tensor [n, k] in the wider input dtype, ascending along the last axis.

    Cost: n m d multiply-adds.
    """
    queries, references = _as_pair(queries, references, "queries", "references")
    num_references = int(references.shape[0])
    k = _validation.as_int(k, "k", minimum=1)
    if k > num_references:
        raise ValueError(
            f"`k`={k} exceeds the number of samples in `references` "
            f"({num_references}); use k <= {num_references} or pass more samples."
        )
    query_tiles, reference_tiles = prepare_tiles([queries, references], tile_size)
    return tf.sqrt(knn_between_tiled(query_tiles, reference_tiles, k))


class BallMembership(NamedTuple):
    """Closed-ball membership between query points and reference balls.

    Attributes:
      counts: [n] int32, the number of reference balls that contain query j
        (distance <= radius). `counts > 0` marks the queries inside any ball.
      reference_covered: [m] bool, whether reference ball i contains at least
        one query point.
      reference_in_query_ball: [m] bool, whether reference point i lies in the
        ball of at least one query point (all False without query radii).
    """

    counts: tf.Tensor
    reference_covered: tf.Tensor
    reference_in_query_ball: tf.Tensor


def ball_membership(queries, references, reference_radii, *, query_radii=None,
                    tile_size: int = DEFAULT_TILE_SIZE) -> BallMembership:
    """Counts closed-ball memberships between query points and reference balls.

    Ball i is {z : |z - references[i]| <= reference_radii[i]}; the boundary
    belongs to the ball, so a radius of 0 contains exact duplicates of the
    centre. One pass over the query-reference distance blocks gives all three
    outputs of `BallMembership`.

    Args:
      queries: shape [n, d].
      references: shape [m, d].
      reference_radii: shape [m], non-negative.
      query_radii: optional shape [n], non-negative, for
        `reference_in_query_ball`.
      tile_size: rows per tile; memory is O(tile_size^2 + (n + m) d).

    Returns:
      A `BallMembership`.

    Cost: n m d multiply-adds.
    """
    queries, references = _as_pair(queries, references, "queries", "references")
    reference_radii = _as_radii(reference_radii, int(references.shape[0]), "reference_radii")
    if query_radii is not None:
        query_radii = _as_radii(query_radii, int(queries.shape[0]), "query_radii")
    query_tiles, reference_tiles = prepare_tiles([queries, references], tile_size)
    return ball_membership_tiled(
        query_tiles, reference_tiles, _radii_squared(reference_radii, queries.dtype),
        None if query_radii is None else _radii_squared(query_radii, queries.dtype),
    )


def _as_radii(value, num_rows: int, name: str) -> np.ndarray:
    radii = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)
    if radii.shape != (num_rows,):
        raise ValueError(f"`{name}` must have shape [{num_rows}], got shape {list(radii.shape)}.")
    if not np.all(np.isfinite(radii)) or np.any(radii < 0):
        raise ValueError(
            f"`{name}` must be finite and non-negative; got minimum {radii.min()!r} and "
            f"maximum {radii.max()!r}."
        )
    return radii


def _radii_squared(radii: np.ndarray, dtype) -> tf.Tensor:
    # Squaring in float64 and rounding once keeps r^2 consistent with squared
    # distances that were themselves computed in `dtype`.
    return tf.constant(np.square(radii), dtype=dtype)


# ---------------------------------------------------------------------------
# The k-NN estimator of KL(P || Q).
# ---------------------------------------------------------------------------

_ZERO_DISTANCE_RULES = ("skip", "raise")


def knn_kl(
    x,
    y,
    k: int = 1,
    *,
    zero_distance: str = "skip",
    return_estimate: bool = False,
    confidence_level: float = 0.95,
    tile_size: int = DEFAULT_TILE_SIZE,
):
    """Estimates KL(P || Q) from samples with the k-nearest-neighbour estimator.

    With x (real, P) of shape [n, d] and y (generated, Q) of shape [m, d]:

        KL ~= (d / n) * sum_i log(nu_k(i) / rho_k(i)) + log(m / (n - 1))

    where rho_k(i) is the distance from x_i to its k-th nearest neighbour in x
    (x_i itself excluded) and nu_k(i) the distance from x_i to its k-th nearest
    neighbour in y (Wang, Kulkarni and Verdu 2009).

    Zero distances: the estimator assumes continuous distributions, where two
    samples coincide with probability 0. Duplicated points make rho or nu
    zero and a term infinite. With `zero_distance="skip"` (the default), points
    at distance exactly 0 are not counted as neighbours, so rho_k(i) and nu_k(i)
    are the k-th smallest positive distances. This leaves the estimate
    unchanged for data without duplicates, and for x == y it gives
    log(n / (n - 1)), close to 0. A point with fewer than k positive-distance
    neighbours in x or in y (for example when all points coincide) raises
    ValueError. With `zero_distance="raise"`, any zero distance raises
    ValueError. Distances below the rounding error of float arithmetic count
    as 0 (see the module docstring).

    Bias: consistent (asymptotically unbiased) as n, m -> infinity for fixed k.
    In finite samples it is biased, typically downwards for large divergences
    and in higher dimensions, because nu_k(i) overestimates the distance scale
    of Q where Q has little mass. Larger k lowers the variance and raises the
    bias.

    Standard error: from the spread of the per-point terms
    d * log(nu_k(i) / rho_k(i)), as their sample standard deviation over
    sqrt(n). The terms are weakly dependent through shared neighbours, so this
    is an approximation that tends to be slightly low.

    Cost: (n^2 + n m) d multiply-adds in tiles (n^2 / 2 for d >= 256); memory
    O(tile_size^2 + (n + m) d).

    Args:
      x: samples of P (real), shape [n, d], with n >= k + 1.
      y: samples of Q (generated), shape [m, d], with m >= k.
      k: neighbour order, at least 1.
      zero_distance: "skip" or "raise", the rule for zero distances above.
      return_estimate: if True, return an `Estimate` with a standard error and
        a normal confidence interval instead of a scalar tensor.
      confidence_level: coverage of that interval.
      tile_size: rows per tile.

    Returns:
      A scalar tensor in the input dtype (float64 if either input is float64),
      or an `Estimate` when `return_estimate` is True.

    Raises:
      ValueError: k >= n or k > m, mismatched dimensions, non-finite values,
        or zero distances that the chosen rule cannot resolve.

    References:
      Q. Wang, S. R. Kulkarni and S. Verdu, "Divergence estimation for
      multidimensional densities via k-nearest-neighbor distances", IEEE
      Transactions on Information Theory 55(5), 2009.
    """
    x, y = _as_pair(x, y, "x", "y")
    zero_distance = _validation.check_option(zero_distance, "zero_distance", _ZERO_DISTANCE_RULES)
    confidence_level = _validation.as_float(confidence_level, "confidence_level", positive=True)
    if confidence_level >= 1.0:
        raise ValueError(
            f"`confidence_level` must lie strictly between 0 and 1, got {confidence_level!r}."
        )
    num_x, num_features = int(x.shape[0]), int(x.shape[1])
    num_y = int(y.shape[0])
    k = check_k_within(k, num_x, "x")
    if k > num_y:
        raise ValueError(
            f"`k`={k} exceeds the number of samples in `y` ({num_y}); pass at least "
            f"{k} samples of `y` or use k <= {num_y}."
        )

    x_tiles, y_tiles = prepare_tiles([x, y], tile_size)
    skip = zero_distance == "skip"
    rho_sq = knn_within_tiled(x_tiles, k, skip_zero=skip)[:, k - 1]
    nu_sq = knn_between_tiled(x_tiles, y_tiles, k, skip_zero=skip)[:, k - 1]
    rho_sq, nu_sq = rho_sq.numpy().astype(np.float64), nu_sq.numpy().astype(np.float64)
    _check_distances(rho_sq, "x", "rho_k", k, skip)
    _check_distances(nu_sq, "y", "nu_k", k, skip)

    # Per-point terms d * log(nu / rho) = (d / 2) * log(nu^2 / rho^2), in float64.
    terms = 0.5 * num_features * (np.log(nu_sq) - np.log(rho_sq))
    value = float(np.mean(terms) + math.log(num_y / (num_x - 1)))

    if not return_estimate:
        return tf.constant(value, dtype=x.dtype)
    # n >= k + 1 >= 2, so the sample standard deviation is defined.
    standard_error = float(np.std(terms, ddof=1) / math.sqrt(num_x))
    return Estimate.from_normal(
        value,
        standard_error,
        num_x=num_x,
        num_y=num_y,
        divergence="kl",
        method="knn",
        confidence_level=confidence_level,
        diagnostics={
            "k": k,
            "zero_distance": zero_distance,
            "standard_error_method": "per-point terms, sample standard deviation / sqrt(n)",
        },
    )


def knn_kl_estimate(
    x,
    y,
    k: int = 1,
    *,
    zero_distance: str = "skip",
    confidence_level: float = 0.95,
    seed=None,
    tile_size: int = DEFAULT_TILE_SIZE,
) -> Estimate:
    """Estimates KL(P || Q) with `knn_kl` and returns an `Estimate`.

    This is the entry point of `estimate(..., method="knn")`. The estimator is
    deterministic, so `seed` is accepted for that interface and unused.
    See `knn_kl` for the formula, the zero-distance rule and the standard error.
    """
    del seed  # Deterministic: no random draws.
    return knn_kl(
        x, y, k, zero_distance=zero_distance, return_estimate=True,
        confidence_level=confidence_level, tile_size=tile_size,
    )


def _check_distances(squared: np.ndarray, set_name: str, symbol: str, k: int, skip: bool) -> None:
    """Raises ValueError when a k-th neighbour distance is 0 or missing."""
    if skip:
        missing = ~np.isfinite(squared)
        if missing.any():
            index = int(np.argmax(missing))
            raise ValueError(
                f"{int(missing.sum())} point(s) of `x` (the first at row {index}) have fewer "
                f"than k={k} points of `{set_name}` at a positive distance, so {symbol} is "
                "undefined: the data are (nearly) all duplicates. The k-NN estimator assumes "
                "continuous distributions; remove duplicates, add noise below the data's "
                "resolution, or lower k."
            )
        return
    zero = squared == 0
    if zero.any():
        index = int(np.argmax(zero))
        raise ValueError(
            f"{int(zero.sum())} point(s) of `x` (the first at row {index}) have {symbol} = 0 "
            f"because of duplicated points in `{set_name}`, which would make log({symbol}) "
            "infinite. Pass zero_distance='skip' to use the k-th smallest positive distance, "
            "or remove duplicates."
        )

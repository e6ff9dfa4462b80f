"""The debiased Sinkhorn divergence between two weighted sample sets.

Entropic transport between P_n = sum_i a_i delta(x_i) (x: real samples) and
Q_m = sum_j b_j delta(y_j) (y: generated samples) with cost c(x, y) = |x - y|^p:

  OT_eps(a, b) = min over plans pi of <pi, C> + eps KL(pi | a (x) b),

whose dual, at the optimal potentials f and g, gives OT_eps(a, b) =
<a, f> + <b, g>. The potentials are fixed points of the soft c-transforms

  f_i = -eps log sum_j b_j exp((g_j - c(x_i, y_j)) / eps)   (written f = T_y(g))
  g_j = -eps log sum_i a_i exp((f_i - c(x_i, y_j)) / eps)   (written g = T_x(f)).

The debiased divergence subtracts the self-transport terms:

  S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2.

Numerics, in order of the computation:
  1. Solve (`_solve`, XLA, input dtype, after a float32 warm start for
     float64 samples): log-domain updates, so exp never overflows for
     small eps. Alternating Sinkhorn updates for the (a, b)
     problem, over-relaxed at the final eps once its convergence rate is
     known (see `_solve`), and symmetric averaged updates
     f <- (f + T(f)) / 2 for the two self-transport problems. eps starts at
     the cost scale (the diameter of the point cloud to the power p),
     shrinks by `scaling` per iteration, and then stays at `epsilon` until
     every marginal error is below `tolerance`.
  2. Evaluate (`_evaluate`, XLA, float64): each OT_eps term through its
     semi-dual, for example OT_eps(a, b) ~ <a, T_y(g)> + <b, g>. The
     semi-dual is stationary in g at the optimum, so a potential that is off
     by delta changes the value by O(delta^2) only, and float32 iterations
     still give values accurate to float32 potentials squared.
  3. Differentiate (`_gradients`, XLA, float64, only when a gradient is
     requested): by the envelope theorem, the gradient of the semi-dual at
     fixed g is sum_j pi_ij grad_x c(x_i, y_j) with the plan
     pi_ij = a_i b_j exp((T_y(g)_i + g_j - c(x_i, y_j)) / eps).

Pairwise work runs over row blocks of `tile_size` points against the whole
other set, so memory is O(tile_size * (n + m)) rather than O(n m).
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences._wasserstein import _as_sample_weights

__all__ = ["sinkhorn_divergence"]

DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_TOLERANCE = 1e-4
DEFAULT_SCALING = 0.5
DEFAULT_TILE_SIZE = 256

# From this many features on, cost blocks come from one matrix product
# (|x|^2 + |y|^2 - 2 x.y on centred data), which BLAS runs faster than
# explicit differences. Below it, explicit differences are cheap and exact.
_MATMUL_MIN_FEATURES = 9

# Iterations between two measurements of the convergence rate, which sets
# the over-relaxation of the (a, b) problem, and the largest relaxation used
# (2 is the limit beyond which the linearised iteration diverges).
_RATE_WINDOW = 10
_MAX_RELAXATION = 1.8

# The float32 warm start for float64 samples hands over to float64 once the
# largest marginal error shrinks by less than this factor over a window.
_WARM_START_STALL_RATIO = 0.9

# Epsilon below this fraction of the cost scale is rejected: 2,000 points in
# the unit square already need hundreds of iterations at a fraction of 1e-3
# (benchmarks/transport.py), and the count grows as the fraction shrinks.
_MIN_RELATIVE_EPSILON = 1e-12


# ---------------------------------------------------------------------------
# Numeric core.
# ---------------------------------------------------------------------------


def _squared_distances(rows, columns, use_matmul: bool):
    """Returns |rows_i - columns_j|^2 as [r, c]; the matmul form is clipped at 0."""
    if use_matmul:
        row_norms = tf.reduce_sum(tf.square(rows), axis=1)
        column_norms = tf.reduce_sum(tf.square(columns), axis=1)
        products = tf.matmul(rows, columns, transpose_b=True)
        squared = row_norms[:, None] + column_norms[None, :] - 2.0 * products
        return tf.maximum(squared, 0.0)
    return tf.reduce_sum(tf.math.squared_difference(rows[:, None, :], columns[None, :, :]), axis=2)


def _cost_and_distance(rows, columns, p: float, use_matmul: bool):
    """Returns (|x - y|^p, |x - y|) for a block; the distance is None when p == 2."""
    squared = _squared_distances(rows, columns, use_matmul)
    if p == 2:
        return squared, None
    distance = tf.sqrt(squared)
    cost = distance if p == 1 else distance**p
    return cost, distance


def _log_kernel(block, columns, column_log_weights, column_potential, epsilon, p, use_matmul):
    """Returns log b_j + (g_j - c(x_i, y_j)) / eps and the distances for a row block."""
    cost, distance = _cost_and_distance(block, columns, p, use_matmul)
    return column_log_weights[None, :] + (column_potential[None, :] - cost) / epsilon, distance


def _soft_c_transform(rows, columns, column_log_weights, column_potential, epsilon, p, tile, use_matmul):
    """Returns -eps log sum_j exp(log b_j + (g_j - c(x_i, y_j)) / eps) for every row i.

    `rows` has a multiple of `tile` rows (padding rows are ignored by the
    caller through their zero weight). Padded columns have log weight -inf
    and drop out of the log-sum-exp.
    """
    num_features = tf.shape(rows)[1]
    blocks = tf.reshape(rows, [-1, tile, num_features])

    def transform_block(block):
        log_kernel, _ = _log_kernel(
            block, columns, column_log_weights, column_potential, epsilon, p, use_matmul
        )
        return -epsilon * tf.reduce_logsumexp(log_kernel, axis=1)

    values = tf.map_fn(transform_block, blocks, fn_output_signature=rows.dtype)
    return tf.reshape(values, [-1])


def _marginal_error(weights, potential, transformed, epsilon):
    """Returns sum_i |a_i (exp((f_i - T(g)_i) / eps) - 1)|, the L1 marginal violation.

    For the plan built from (f, g), row i carries a_i exp((f_i - T(g)_i) / eps)
    mass instead of a_i. Zero-weight (padding) rows contribute 0, even where
    the exponential overflows.
    """
    ratio = tf.exp((potential - transformed) / epsilon)
    violation = tf.where(weights > 0, weights * tf.abs(ratio - 1.0), tf.zeros_like(weights))
    return tf.reduce_sum(tf.cast(violation, tf.float64))


@tf.function(jit_compile=True, reduce_retracing=True)
def _solve(
    x,
    y,
    x_log_weights,
    y_log_weights,
    epsilon,
    epsilon_start,
    scaling,
    tolerance,
    max_iterations,
    max_relaxation,
    stall_ratio,
    initial_potentials,
    p: float,
    tile: int,
    use_matmul: bool,
):
    """Runs the annealed log-domain Sinkhorn iterations in the dtype of x.

    Starts from `initial_potentials` (f_xy, g_xy, f_xx, g_yy) and returns
    the final ones, the number of iterations and the three marginal errors
    (float64, +inf until the schedule reaches `epsilon`). The loop also stops
    at the end of a window in which the largest error shrank by less than
    the factor `stall_ratio` (pass +inf to never stop that way).

    Over-relaxation of the (a, b) problem: at the final epsilon the updates
    are f <- (1 - w) f + w T_y(g) and g <- (1 - w) g + w T_x(f). With w = 1
    this is plain Sinkhorn, whose error shrinks by a rate r per iteration,
    and r approaches 1 as epsilon shrinks. Every `_RATE_WINDOW` iterations
    the rate is measured from the marginal errors; while w = 1, w is set to
    2 / (1 + sqrt(1 - r)), the optimal over-relaxation for a linear iteration
    of Gauss-Seidel rate r (Young's formula), capped at `max_relaxation`. If
    the error then fails to shrink over a window, w returns to 1 for good,
    so the iteration never ends up worse than plain Sinkhorn. At 2,000
    uniform points in 2-D and epsilon = 0.001 x the largest cost, this cut
    the iterations from 388 to 123 (Thibault et al. 2021 and Lehmann et al.
    2022 analyse over-relaxed Sinkhorn).
    """
    dtype = x.dtype
    x_weights = tf.exp(x_log_weights)
    y_weights = tf.exp(y_log_weights)
    infinity = tf.constant(np.inf, tf.float64)
    no_relaxation = tf.constant(1.0, tf.float64)

    def transform(rows, columns, column_log_weights, column_potential, eps):
        return _soft_c_transform(
            rows, columns, column_log_weights, column_potential, eps, p, tile, use_matmul
        )

    def epsilon_at(iteration):
        decay = tf.pow(scaling, tf.cast(iteration, dtype))
        return tf.maximum(epsilon, epsilon_start * decay)

    def symmetric_update(points, log_weights, weights, potential, error, eps, update):
        def step():
            transformed = transform(points, points, log_weights, potential, eps)
            new_error = _marginal_error(weights, potential, transformed, eps)
            return 0.5 * (potential + transformed), new_error

        # A self-transport problem that already meets the tolerance at the
        # final epsilon is left alone while the (a, b) problem converges.
        return tf.cond(update, step, lambda: (potential, error))

    def largest_error(state):
        return tf.maximum(state["error_xy"], tf.maximum(state["error_xx"], state["error_yy"]))

    def adapt_relaxation(relaxation, allowed, error, window_error):
        """Returns the relaxation and permission for the next window."""
        rate = tf.pow(error / window_error, 1.0 / _RATE_WINDOW)
        stalled = tf.logical_and(relaxation > 1.0, error >= window_error)
        allowed = tf.logical_and(allowed, tf.logical_not(stalled))
        optimal = 2.0 / (1.0 + tf.sqrt(tf.maximum(1.0 - rate, 0.0)))
        start = tf.logical_and(tf.equal(relaxation, 1.0), rate < 1.0)
        relaxation = tf.where(start, tf.minimum(optimal, max_relaxation), relaxation)
        relaxation = tf.where(allowed, relaxation, no_relaxation)
        return relaxation, allowed

    def body(state):
        iteration = state["iteration"]
        eps = epsilon_at(iteration)
        at_final_epsilon = eps <= epsilon
        weight = tf.cast(tf.where(at_final_epsilon, state["relaxation"], no_relaxation), dtype)

        f_old, g_old = state["f_xy"], state["g_xy"]
        f_target = transform(x, y, y_log_weights, g_old, eps)
        f_new = (1.0 - weight) * f_old + weight * f_target
        g_target = transform(y, x, x_log_weights, f_new, eps)
        g_new = (1.0 - weight) * g_old + weight * g_target
        # The plan built from (f_new, g_old): its row sums miss a by the
        # relaxation alone (0 when weight = 1), its column sums miss b.
        error_xy = tf.maximum(
            _marginal_error(x_weights, f_new, f_target, eps),
            _marginal_error(y_weights, g_old, g_target, eps),
        )

        update_xx = tf.logical_or(tf.logical_not(at_final_epsilon), state["error_xx"] > tolerance)
        update_yy = tf.logical_or(tf.logical_not(at_final_epsilon), state["error_yy"] > tolerance)
        f_xx, error_xx = symmetric_update(
            x, x_log_weights, x_weights, state["f_xx"], state["error_xx"], eps, update_xx
        )
        g_yy, error_yy = symmetric_update(
            y, y_log_weights, y_weights, state["g_yy"], state["error_yy"], eps, update_yy
        )

        # Errors measured at a larger epsilon of the schedule do not measure
        # convergence at the target epsilon.
        def reported(error):
            return tf.where(at_final_epsilon, error, infinity)

        new_state = {
            "iteration": iteration + 1,
            "f_xy": f_new,
            "g_xy": g_new,
            "f_xx": f_xx,
            "g_yy": g_yy,
            "error_xy": reported(error_xy),
            "error_xx": reported(error_xx),
            "error_yy": reported(error_yy),
        }

        # Once per window at the final epsilon: adapt the relaxation from the
        # (a, b) error and test all three errors for a stall.
        window_end = tf.logical_and(at_final_epsilon, tf.equal((iteration + 1) % _RATE_WINDOW, 0))
        adapted, allowed = adapt_relaxation(
            state["relaxation"], state["relaxation_allowed"], new_state["error_xy"], state["window_error"]
        )
        largest = largest_error(new_state)
        stalled = largest > stall_ratio * state["window_largest_error"]

        def at_window_end(new_value, old_value):
            return tf.where(window_end, new_value, old_value)

        new_state.update(
            relaxation=at_window_end(adapted, state["relaxation"]),
            relaxation_allowed=at_window_end(allowed, state["relaxation_allowed"]),
            window_error=at_window_end(new_state["error_xy"], state["window_error"]),
            window_largest_error=at_window_end(largest, state["window_largest_error"]),
            stalled=tf.logical_and(window_end, stalled),
        )
        return new_state

    def keep_going(state):
        return tf.logical_and(
            state["iteration"] < max_iterations,
            tf.logical_and(largest_error(state) > tolerance, tf.logical_not(state["stalled"])),
        )

    f_xy, g_xy, f_xx, g_yy = initial_potentials
    initial = {
        "iteration": tf.constant(0, tf.int32),
        "f_xy": f_xy,
        "g_xy": g_xy,
        "f_xx": f_xx,
        "g_yy": g_yy,
        "error_xy": infinity,
        "error_xx": infinity,
        "error_yy": infinity,
        "relaxation": no_relaxation,
        "relaxation_allowed": tf.greater(max_relaxation, 1.0),
        "window_error": infinity,
        "window_largest_error": infinity,
        "stalled": tf.constant(False),
    }
    (state,) = tf.while_loop(keep_going, lambda state: (body(state),), (initial,))
    potentials = (state["f_xy"], state["g_xy"], state["f_xx"], state["g_yy"])
    errors = (state["error_xy"], state["error_xx"], state["error_yy"])
    return potentials, state["iteration"], errors, state["relaxation"]


def _semi_dual(rows, columns, row_weights, column_log_weights, column_potential, epsilon, p, tile, use_matmul):
    """Returns <a, T(g)> + <b, g> in float64, the semi-dual value at potential g."""
    transformed = _soft_c_transform(
        rows, columns, column_log_weights, column_potential, epsilon, p, tile, use_matmul
    )
    column_weights = tf.exp(column_log_weights)
    return tf.reduce_sum(row_weights * transformed) + tf.reduce_sum(column_weights * column_potential)


@tf.function(jit_compile=True, reduce_retracing=True)
def _evaluate(x, y, x_log_weights, y_log_weights, g_xy, f_xx, g_yy, epsilon, p, tile, use_matmul):
    """Returns S_eps and its three OT_eps terms in float64 from the potentials."""
    x_weights = tf.exp(x_log_weights)
    y_weights = tf.exp(y_log_weights)
    cross = _semi_dual(x, y, x_weights, y_log_weights, g_xy, epsilon, p, tile, use_matmul)
    self_x = _semi_dual(x, x, x_weights, x_log_weights, f_xx, epsilon, p, tile, use_matmul)
    self_y = _semi_dual(y, y, y_weights, y_log_weights, g_yy, epsilon, p, tile, use_matmul)
    return cross - 0.5 * (self_x + self_y), cross, self_x, self_y


def _semi_dual_gradients(rows, columns, row_weights, column_log_weights, column_potential, epsilon, p, tile, use_matmul):
    """Returns the gradients of <a, T(g)> in rows and columns at fixed g, in float64.

    With the plan weights K_ij = a_i softmax_j(log kernel)_i * p |r_ij|^(p - 2)
    (and 0 where r_ij = 0, a subgradient), the gradients are
    sum_j K_ij (x_i - y_j) for row i and sum_i K_ij (y_j - x_i) for column j.
    """
    num_rows = tf.shape(rows)[0]
    num_features = rows.shape[1]

    def body(start, row_gradients, column_gradients):
        block = tf.slice(rows, [start, 0], [tile, num_features])
        block_weights = tf.slice(row_weights, [start], [tile])
        log_kernel, distance = _log_kernel(
            block, columns, column_log_weights, column_potential, epsilon, p, use_matmul
        )
        plan = block_weights[:, None] * tf.nn.softmax(log_kernel, axis=1)
        if p == 2:
            factor = 2.0 * plan
        else:
            positive = distance > 0
            safe_distance = tf.where(positive, distance, tf.ones_like(distance))
            factor = tf.where(positive, p * plan * safe_distance ** (p - 2.0), tf.zeros_like(plan))

        block_gradient = block * tf.reduce_sum(factor, axis=1)[:, None] - tf.matmul(factor, columns)
        column_gradients += columns * tf.reduce_sum(factor, axis=0)[:, None] - tf.matmul(
            factor, block, transpose_a=True
        )
        row_gradients = tf.tensor_scatter_nd_update(
            row_gradients, (start + tf.range(tile))[:, None], block_gradient
        )
        return start + tile, row_gradients, column_gradients

    _, row_gradients, column_gradients = tf.while_loop(
        lambda start, *_: start < num_rows,
        body,
        (
            tf.constant(0, tf.int32),
            tf.zeros([num_rows, num_features], rows.dtype),
            tf.zeros_like(columns),
        ),
    )
    return row_gradients, column_gradients


@tf.function(jit_compile=True, reduce_retracing=True)
def _gradients(x, y, x_log_weights, y_log_weights, g_xy, f_xx, g_yy, epsilon, p, tile, use_matmul):
    """Returns the gradients of S_eps in x and y (float64) at the given potentials."""
    x_weights = tf.exp(x_log_weights)
    y_weights = tf.exp(y_log_weights)
    arguments = (epsilon, p, tile, use_matmul)
    cross_x, cross_y = _semi_dual_gradients(x, y, x_weights, y_log_weights, g_xy, *arguments)
    self_x_rows, self_x_columns = _semi_dual_gradients(x, x, x_weights, x_log_weights, f_xx, *arguments)
    self_y_rows, self_y_columns = _semi_dual_gradients(y, y, y_weights, y_log_weights, g_yy, *arguments)
    gradient_x = cross_x - 0.5 * (self_x_rows + self_x_columns)
    gradient_y = cross_y - 0.5 * (self_y_rows + self_y_columns)
    return gradient_x, gradient_y


# ---------------------------------------------------------------------------
# User layer.
# ---------------------------------------------------------------------------


def _log_weights(weights, num_samples, padded_size):
    """Returns float64 log weights of length `padded_size`, -inf for padding and zero weights."""
    if weights is None:
        weights = tf.fill([num_samples], 1.0 / tf.cast(num_samples, tf.float64))
    padding = tf.zeros([padded_size - num_samples], tf.float64)
    return tf.math.log(tf.concat([tf.cast(weights, tf.float64), padding], axis=0))


def _pad_rows(points, padded_size):
    """Appends zero rows (the centre of the centred data) up to `padded_size` rows."""
    return tf.pad(points, [[0, padded_size - tf.shape(points)[0]], [0, 0]])


def _padded_size(num_samples, tile):
    return (num_samples + tile - 1) // tile * tile


def _cost_scale(x64, y64, p):
    """Returns the diameter of the bounding box of both sets to the power p (float64)."""
    points = tf.concat([x64, y64], axis=0)
    diameter = tf.norm(tf.reduce_max(points, axis=0) - tf.reduce_min(points, axis=0))
    return diameter**p


def _run_iterations(x64, y64, x_log_weights, y_log_weights, epsilon, epsilon_start, cost_scale, schedule, static, dtype):
    """Runs `_solve` and returns float64 potentials (f_xy, g_xy, f_xx, g_yy) and diagnostics.

    float32 samples iterate in float32. float64 samples first iterate in
    float32 as a warm start, through the annealing and until the errors
    reach `tolerance` or stop shrinking (float32 potentials resolve
    marginal errors down to about 1e-7 x cost scale / epsilon). The float64
    iterations then continue from there without annealing. They run at
    least once, so the reported errors are float64 errors. A float64
    iteration costs about 2.5x a float32 one on CPU, and the warm start
    leaves only a few of them at the default tolerance. Costs outside
    [1e-15, 1e15] skip the warm start, since float32 squared distances
    would underflow or lose range there.

    Returns (potentials, iterations, errors, relaxation, float32_iterations).
    """
    tolerance = tf.constant(schedule["tolerance"], tf.float64)
    max_iterations = schedule["max_iterations"]
    max_relaxation = tf.constant(_MAX_RELAXATION, tf.float64)
    never_stall = tf.constant(np.inf, tf.float64)
    zeros = (
        tf.zeros_like(x_log_weights),
        tf.zeros_like(y_log_weights),
        tf.zeros_like(x_log_weights),
        tf.zeros_like(y_log_weights),
    )

    def solve(solver_dtype, potentials, start, budget, stall_ratio):
        def cast(value):
            return tf.cast(value, solver_dtype)

        return _solve(
            cast(x64),
            cast(y64),
            cast(x_log_weights),
            cast(y_log_weights),
            cast(epsilon),
            cast(start),
            cast(schedule["scaling"]),
            tolerance,
            tf.cast(budget, tf.int32),
            max_relaxation,
            stall_ratio,
            tuple(cast(potential) for potential in potentials),
            static["p"],
            static["tile"],
            static["use_matmul"],
        )

    if dtype == tf.float32:
        potentials, iterations, errors, relaxation = solve(
            tf.float32, zeros, epsilon_start, max_iterations, never_stall
        )
        potentials = tuple(tf.cast(potential, tf.float64) for potential in potentials)
        return potentials, iterations, errors, relaxation, iterations

    in_float32_range = tf.logical_and(cost_scale > 1e-15, cost_scale < 1e15)
    warm_budget = tf.where(in_float32_range, max_iterations - 1, 0)
    warm_potentials, warm_iterations, _, _ = solve(
        tf.float32, zeros, epsilon_start, warm_budget, tf.constant(_WARM_START_STALL_RATIO, tf.float64)
    )
    warm_potentials = tuple(tf.cast(potential, tf.float64) for potential in warm_potentials)
    start = tf.where(warm_iterations > 0, tf.constant(epsilon, tf.float64), epsilon_start)
    potentials, iterations, errors, relaxation = solve(
        tf.float64, warm_potentials, start, max_iterations - warm_iterations, never_stall
    )
    return potentials, warm_iterations + iterations, errors, relaxation, warm_iterations


def _warn_if_not_converged(divergence, converged, iterations, marginal_error, max_iterations, tolerance, epsilon, dtype):
    """Warns when the iterations stopped early; returns `divergence`, tied to the check in graphs."""
    if tf.executing_eagerly():
        if not bool(converged):
            _warn_not_converged(iterations, marginal_error, max_iterations, tolerance, epsilon, dtype.name)
        return divergence

    def warn_on_host(converged_value, iteration_value, error_value):
        if not converged_value:
            _warn_not_converged(iteration_value, error_value, max_iterations, tolerance, epsilon, dtype.name)
        return np.bool_(converged_value)

    checked = tf.numpy_function(
        warn_on_host, [converged, iterations, marginal_error], tf.bool, stateful=True
    )
    with tf.control_dependencies([checked]):
        return tf.identity(divergence)


def _warn_not_converged(iterations, marginal_error, max_iterations, tolerance, epsilon, dtype_name):
    """Warns that the Sinkhorn iterations stopped before reaching the tolerance."""
    advice = "Increase max_iterations, increase epsilon, or raise tolerance."
    if dtype_name == "float32":
        advice += (
            " float32 potentials resolve marginal errors down to about "
            "1e-7 x (largest cost) / epsilon; pass float64 samples for tighter tolerances."
        )
    warnings.warn(
        f"sinkhorn_divergence stopped after {int(iterations)} iterations "
        f"(max_iterations={max_iterations}) with marginal error {float(marginal_error):.3g} "
        f"above tolerance={tolerance:g} at epsilon={epsilon:g}, so the value is not "
        f"converged. {advice}",
        RuntimeWarning,
        stacklevel=5,
    )


@tf.autograph.experimental.do_not_convert
def sinkhorn_divergence(
    x,
    y,
    epsilon: float,
    p: float = 2.0,
    x_weights=None,
    y_weights=None,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    tolerance: float = DEFAULT_TOLERANCE,
    scaling: float = DEFAULT_SCALING,
    return_diagnostics: bool = False,
    tile_size: int = DEFAULT_TILE_SIZE,
):
    """Computes the debiased Sinkhorn divergence S_eps between two weighted sample sets.

    S_eps(P_n, Q_m) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2,
    OT_eps(a, b) = min over plans pi of sum_ij pi_ij |x_i - y_j|^p + eps KL(pi | a (x) b),

    with x the real samples (weights a) and y the generated samples (weights
    b). S_eps is symmetric, zero when both weighted sets are equal, and
    non-negative for 1 <= p <= 2, where exp(-|x - y|^p / eps) is a positive
    definite kernel (Feydy et al. 2019). The computed value can fall below 0
    by the convergence error. In this module's tests that error stayed below
    epsilon x tolerance, and below 1e-13 once converged to 1e-10.

    Units: `epsilon` and the value are in the units of the cost |x - y|^p
    (squared data units for p = 2). As epsilon -> 0, S_eps tends to the
    exact transport cost W_p^p. This is not `wasserstein`, which returns
    W_p = cost^(1/p); there is no 1/p factor here either. As epsilon -> inf,
    S_eps tends to (2 E c(X, Y) - E c(X, X') - E c(Y, Y')) / 2 over the
    weighted sets, half the energy distance for p = 1. For points with
    typical spacing s, S_eps is close to W_p^p only once epsilon is well
    below s^p: at 2,000 uniform points in the unit square, epsilon = 0.1 %
    of the largest cost still left S_eps about 22 % below W_2^2
    (benchmarks/transport.py).

    Bias and variance: the plug-in S_eps(P_n, Q_m) is a biased estimate of
    S_eps(P, Q). When P = Q its expectation is positive while S_eps(P, P) =
    0. Genevay et al. (2019) bound its error by O(n^(-1/2)) for fixed
    epsilon, with a constant that grows quickly as epsilon shrinks. No
    standard error is computed here; use the bootstrap over samples if
    needed.

    Algorithm: log-domain Sinkhorn with epsilon scaling and adaptive
    over-relaxation (see the module docstring). float32 samples iterate in
    float32. float64 samples iterate in float32 first, as a warm start, and
    then in float64 until the float64 marginal errors meet `tolerance`, so
    convergence is always checked in the input dtype. The value and its
    gradient are evaluated in float64 from the final potentials. Each iteration costs O((n + m)^2 d) time, memory
    is O(tile_size * (n + m)) with no n x m matrix. Convergence is declared when, at the final
    epsilon, the L1 marginal error of each of the three plans (the sum of
    absolute violations of the row or column sums, between 0 and 2) is at
    most `tolerance`. Otherwise a RuntimeWarning is raised and
    `diagnostics["converged"]` is False.

    Gradients: tf.GradientTape differentiates the value in x and y through
    the envelope theorem. The gradient is that of the float64 semi-duals at
    the final potentials, sum_j pi_ij grad c(x_i, y_j), which is exact at
    convergence. It is computed only when requested, in one more tiled pass.
    NOTE: these are first-order gradients only; second derivatives (for
    example a gradient penalty taken through this value) come out as zero.

    NOTE: inside tf.function, the warning is raised from a tf.numpy_function,
    so the caller cannot itself be compiled with jit_compile=True.

    Args:
      x: samples of P (real data), shape [n, d].
      y: samples of Q (generated data), shape [m, d].
      epsilon: entropic regularisation, positive, in the units of the cost.
        There is no default because the right value depends on the scale of
        the data. Smaller values bring S_eps closer to W_p^p and need more
        iterations: at 2,000 uniform points in the unit square, 14 at 5 % of
        the largest cost and about 120 at 0.1 %.
      p: exponent of the cost |x - y|^p, between 1 and 2.
      x_weights: optional probability weights of x, shape [n].
      y_weights: optional probability weights of y, shape [m].
      max_iterations: maximum total number of iterations, counting the
        annealing steps from the cost scale down to epsilon.
      tolerance: largest accepted L1 marginal error at the final epsilon.
      scaling: factor in (0, 1) by which epsilon shrinks per annealing step.
        Values closer to 1 anneal more slowly and safely.
      return_diagnostics: if True, also return a dict with `iterations`
        (of which `float32_iterations` ran as the warm start for float64
        samples), `marginal_error` (the largest of the three problems' errors, also
        given as `marginal_error_xy`, `_xx` and `_yy`), `converged`,
        `epsilon`, `epsilon_start`, the final over-relaxation `relaxation`
        and the three OT_eps terms `ot_xy`, `ot_xx`, `ot_yy` (float64).
      tile_size: rows per block in the pairwise passes. Memory per block is
        tile_size * max(n, m) values.

    Returns:
      S_eps as a scalar tensor in the dtype of x and y, or (S_eps, diagnostics).

    Raises:
      ValueError, TypeError: invalid samples, weights or options.

    References:
      Genevay, A., Peyre, G., Cuturi, M. "Learning generative models with
      Sinkhorn divergences", AISTATS, 2018.
      Feydy, J., Sejourne, T., Vialard, F.-X., Amari, S., Trouve, A., Peyre, G.
      "Interpolating between optimal transport and MMD using Sinkhorn
      divergences", AISTATS, 2019.
      Genevay, A., Chizat, L., Bach, F., Cuturi, M., Peyre, G. "Sample
      complexity of Sinkhorn divergences", AISTATS, 2019.
      Schmitzer, B. "Stabilized sparse scaling algorithms for entropy
      regularized transport problems", SIAM Journal on Scientific Computing,
      2019 (log-domain updates and epsilon scaling).
      Thibault, A., Chizat, L., Dossal, C., Papadakis, N. "Overrelaxed
      Sinkhorn-Knopp algorithm for regularized optimal transport",
      Algorithms 14(5), 2021.
      Lehmann, T., von Renesse, M.-K., Sambale, A., Uschmajew, A. "A note on
      overrelaxation in the Sinkhorn algorithm", Optimization Letters 16,
      2022.
    """
    x, y = _validation.as_sample_pair(x, y)
    epsilon = _validation.as_float(epsilon, "epsilon", positive=True)
    p = _validation.as_float(p, "p")
    if not 1.0 <= p <= 2.0:
        raise ValueError(
            f"`p` must be between 1 and 2, got {p!r}. The debiased Sinkhorn divergence "
            "is non-negative and zero only for equal sets when exp(-|x - y|^p / eps) is "
            "a positive definite kernel, which holds for p <= 2."
        )
    max_iterations = _validation.as_int(max_iterations, "max_iterations", minimum=1)
    tolerance = _validation.as_float(tolerance, "tolerance", positive=True)
    scaling = _validation.as_float(scaling, "scaling", positive=True)
    if scaling >= 1.0:
        raise ValueError(
            f"`scaling` must be in (0, 1), got {scaling!r}; it is the factor by which "
            "epsilon shrinks at each annealing step, for example 0.5."
        )
    tile = _validation.as_int(tile_size, "tile_size", minimum=1)
    a = _as_sample_weights(x_weights, x, "x_weights")
    b = _as_sample_weights(y_weights, y, "y_weights")
    num_features = _validation.static_num_features(x)

    dtype = x.dtype
    n = tf.shape(x)[0]
    m = tf.shape(y)[0]

    # Centre both sets on a common point in float64: the cost is translation
    # invariant, and centred coordinates keep |x|^2 + |y|^2 - 2 x.y accurate.
    x64 = tf.cast(tf.stop_gradient(x), tf.float64)
    y64 = tf.cast(tf.stop_gradient(y), tf.float64)
    center = tf.reduce_mean(tf.concat([x64, y64], axis=0), axis=0)
    x64 = x64 - center
    y64 = y64 - center

    cost_scale = _cost_scale(x64, y64, p)
    if tf.executing_eagerly():
        scale_value = float(cost_scale)
        if scale_value > 0 and epsilon < _MIN_RELATIVE_EPSILON * scale_value:
            raise ValueError(
                f"`epsilon`={epsilon!r} is below {_MIN_RELATIVE_EPSILON:g} times the cost "
                f"scale {scale_value:.3g} (the largest |x - y|^p); Sinkhorn iterations "
                "cannot converge there. Raise epsilon, or use wasserstein() for the "
                "unregularised cost (S_eps tends to W_p^p as epsilon -> 0)."
            )
    epsilon_start = tf.maximum(cost_scale, epsilon)

    n_padded = _padded_size(n, tile)
    m_padded = _padded_size(m, tile)
    x64 = _pad_rows(x64, n_padded)
    y64 = _pad_rows(y64, m_padded)
    x_log_weights = _log_weights(a, n, n_padded)
    y_log_weights = _log_weights(b, m, m_padded)
    use_matmul = num_features >= _MATMUL_MIN_FEATURES

    potentials, iterations, errors, relaxation, float32_iterations = _run_iterations(
        x64,
        y64,
        x_log_weights,
        y_log_weights,
        epsilon,
        epsilon_start,
        cost_scale,
        dict(scaling=scaling, tolerance=tolerance, max_iterations=max_iterations),
        dict(p=p, tile=tile, use_matmul=use_matmul),
        dtype,
    )
    static = (tf.constant(epsilon, tf.float64), p, tile, use_matmul)
    divergence, cross, self_x, self_y = _evaluate(
        x64, y64, x_log_weights, y_log_weights, *potentials[1:], *static
    )
    error_xy, error_xx, error_yy = errors
    marginal_error = tf.maximum(error_xy, tf.maximum(error_xx, error_yy))
    converged = marginal_error <= tolerance
    divergence = _warn_if_not_converged(
        divergence, converged, iterations, marginal_error, max_iterations, tolerance, epsilon, dtype
    )

    @tf.custom_gradient
    def attach_gradient(x_input, y_input):
        def gradient(upstream):
            gradient_x, gradient_y = _gradients(
                x64, y64, x_log_weights, y_log_weights, *potentials[1:], *static
            )
            upstream = tf.cast(upstream, tf.float64)
            return (
                tf.cast(upstream * gradient_x[:n], x_input.dtype),
                tf.cast(upstream * gradient_y[:m], y_input.dtype),
            )

        return tf.cast(divergence, dtype), gradient

    value = attach_gradient(x, y)
    if not return_diagnostics:
        return value

    diagnostics = {
        "iterations": iterations,
        "float32_iterations": float32_iterations,
        "marginal_error": marginal_error,
        "marginal_error_xy": error_xy,
        "marginal_error_xx": error_xx,
        "marginal_error_yy": error_yy,
        "converged": converged,
        "epsilon": epsilon,
        "epsilon_start": epsilon_start,
        "relaxation": relaxation,
        "ot_xy": cross,
        "ot_xx": self_x,
        "ot_yy": self_y,
    }
    return value, diagnostics

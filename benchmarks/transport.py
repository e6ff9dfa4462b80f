"""Optimal-transport benchmarks: sliced, exact and Sinkhorn against POT.

Run with `.venv/bin/python -m benchmarks.transport`. Three comparisons, each
timed in the same run as its reference. Each timing is the median over a few
calls of the wall time and of the process CPU time (all threads). On a
shared machine the wall time depends on the other jobs, so the CPU-time
ratio is the steadier of the two:

1. `sliced_wasserstein` against `ot.sliced_wasserstein_distance`, n = m =
   10,000, d = 64, 200 directions, float32, the same directions for both.
2. `wasserstein` (exact) against `ot.emd2` on `ot.dist`, 3,000 uniform points
   per side in 2-D, p = 2. POT runs with its default iteration limit, and
   the table reports whether POT warned that it stopped early.
3. `sinkhorn_divergence` against `ot.bregman.sinkhorn_log`, 2,000 uniform
   points per side in 2-D, p = 2, epsilon = 0.05 x the largest cost. The
   timed POT call solves one entropic problem, while `sinkhorn_divergence`
   solves three (the cross term and both self terms), so the ratio
   understates the per-problem speed-up. Values at epsilon from 0.05 to
   0.001 of the largest cost, in float32 and float64, are listed next to
   the exact cost W_2^2 that they approach as epsilon shrinks.
"""

from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import ot

from benchmarks._common import markdown_table, write_section
from discrepancy.divergences import sinkhorn_divergence, sliced_wasserstein, wasserstein

COMMAND = ".venv/bin/python -m benchmarks.transport"


def _time_once(function):
    """Returns (wall seconds, CPU seconds, result) of one call."""
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall_start, time.process_time() - cpu_start, result


def _median_times(function, repeats, warmup=1):
    """Returns the median (wall seconds, CPU seconds) of `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu, _ = _time_once(function)
        walls.append(wall)
        cpus.append(cpu)
    return float(np.median(walls)), float(np.median(cpus))


def _ratio(reference, ours):
    return f"{reference / ours:.1f}x"


def _sliced_section(rng):
    n, d, num_projections = 10_000, 64, 200
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (rng.normal(size=(n, d)) * 1.1 + 0.05).astype(np.float32)
    directions = rng.normal(size=(num_projections, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    directions = directions.astype(np.float32)

    ours = lambda: float(sliced_wasserstein(x, y, p=2, projections=directions))
    reference = lambda: float(
        ot.sliced_wasserstein_distance(x, y, projections=directions.T, p=2)
    )
    ours_wall, ours_cpu = _median_times(ours, repeats=5)
    reference_wall, reference_cpu = _median_times(reference, repeats=3, warmup=0)

    rows = [
        ["`sliced_wasserstein` (XLA projections, NumPy sort)", f"{ours_wall:.3f}", f"{ours_cpu:.3f}", f"{ours():.7g}", "", ""],
        [
            "`ot.sliced_wasserstein_distance`",
            f"{reference_wall:.3f}",
            f"{reference_cpu:.3f}",
            f"{reference():.7g}",
            _ratio(reference_wall, ours_wall),
            _ratio(reference_cpu, ours_cpu),
        ],
    ]
    header = ["implementation", "wall (s)", "CPU (s)", "SW_2", "speed-up, wall", "speed-up, CPU"]
    return (
        f"n = m = {n:,}, d = {d}, {num_projections} directions (the same for both), "
        "float32, p = 2.\n\n" + markdown_table(header, rows)
    )


def _exact_section(rng):
    n = 3000
    x = rng.random((n, 2))
    y = rng.random((n, 2))

    def reference():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cost = ot.emd2([], [], ot.dist(x, y))
        messages = [str(w.message) for w in caught]
        return cost, messages

    def ours():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value, diagnostics = wasserstein(x, y, p=2, return_diagnostics=True)
        return float(value) ** 2, diagnostics, [str(w.message) for w in caught]

    # One warm-up each, then alternate so both see the same machine load.
    reference()
    ours()
    reference_times, our_times = [], []
    for _ in range(3):
        wall, cpu, (reference_cost, reference_messages) = _time_once(reference)
        reference_times.append((wall, cpu))
        wall, cpu, (our_cost, diagnostics, our_messages) = _time_once(ours)
        our_times.append((wall, cpu))
    reference_wall, reference_cpu = np.median(reference_times, axis=0)
    our_wall, our_cpu = np.median(our_times, axis=0)
    optimum = ot.emd2([], [], ot.dist(x, y), numItermax=10**8)

    rows = [
        [
            "`wasserstein(p=2)`, squared",
            f"{our_wall:.3f}",
            f"{our_cpu:.3f}",
            f"{our_cost:.9g}",
            f"{our_wall / reference_wall:.2f}",
            f"{our_cpu / reference_cpu:.2f}",
            f"status {int(diagnostics['status'])}; " + ("; ".join(our_messages) or "no warning"),
        ],
        [
            "`ot.emd2(ot.dist(x, y))`, default limit",
            f"{reference_wall:.3f}",
            f"{reference_cpu:.3f}",
            f"{reference_cost:.9g}",
            "1.00",
            "1.00",
            "; ".join(reference_messages) or "no warning",
        ],
    ]
    header = [
        "implementation",
        "wall (s)",
        "CPU (s)",
        "W_2^2",
        "wall / POT wall",
        "CPU / POT CPU",
        "warnings",
    ]
    return (
        f"{n:,} uniform points per side in the unit square, float64. Optimal cost "
        f"from `ot.emd2` with numItermax=1e8: {optimum:.9g}.\n\n" + markdown_table(header, rows)
    )


def _sinkhorn_section(rng):
    n = 2000
    x = rng.random((n, 2))
    y = rng.random((n, 2))
    cost_matrix = ot.dist(x, y)
    largest_cost = float(cost_matrix.max())
    exact = ot.emd2([], [], cost_matrix, numItermax=10**8)
    weights = np.full(n, 1.0 / n)

    epsilon = 0.05 * largest_cost
    reference_wall, reference_cpu = _median_times(
        lambda: ot.bregman.sinkhorn_log(weights, weights, cost_matrix, epsilon), repeats=3, warmup=0
    )
    speed_rows = []
    for dtype in (np.float32, np.float64):
        xs, ys = x.astype(dtype), y.astype(dtype)
        our_wall, our_cpu = _median_times(lambda: float(sinkhorn_divergence(xs, ys, epsilon)), repeats=3)
        speed_rows.append(
            [
                f"`sinkhorn_divergence`, {np.dtype(dtype).name} (3 problems)",
                f"{our_wall:.3f}",
                f"{our_cpu:.3f}",
                _ratio(reference_wall, our_wall),
                _ratio(reference_cpu, our_cpu),
            ]
        )
    speed_rows.append(
        [
            "`ot.bregman.sinkhorn_log`, float64 (1 problem)",
            f"{reference_wall:.3f}",
            f"{reference_cpu:.3f}",
            "",
            "",
        ]
    )

    value_rows = []
    for fraction in (0.05, 0.01, 0.005, 0.002, 0.001):
        row = [f"{fraction:g}"]
        values = {}
        for dtype in (np.float32, np.float64):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value, diagnostics = sinkhorn_divergence(
                    x.astype(dtype), y.astype(dtype), fraction * largest_cost, return_diagnostics=True
                )
            values[dtype] = float(value)
            row += [
                f"{float(value):.7g}",
                f"{int(diagnostics['iterations'])}",
                "yes" if bool(diagnostics["converged"]) and not caught else "no",
            ]
        relative = abs(values[np.float32] - values[np.float64]) / abs(values[np.float64])
        row += [f"{relative:.1e}", f"{values[np.float64] / exact:.3f}"]
        value_rows.append(row)

    speed_header = ["implementation", "wall (s)", "CPU (s)", "speed-up, wall", "speed-up, CPU"]
    value_header = [
        "epsilon / largest cost",
        "S_eps float32",
        "iterations",
        "converged",
        "S_eps float64",
        "iterations",
        "converged",
        "float32 vs float64 (relative)",
        "S_eps / W_2^2 (float64)",
    ]
    return (
        f"{n:,} uniform points per side in the unit square, p = 2, largest cost "
        f"{largest_cost:.4g}, exact W_2^2 = {exact:.7g} (`ot.emd2`). Speed at "
        f"epsilon = 0.05 x largest cost = {epsilon:.4g}: medians of 3 runs, POT with its "
        "defaults (numItermax=1000, stopThr=1e-9), ours after a compiling warm-up and "
        "with the default tolerance 1e-4 on the L1 marginal error.\n\n"
        + markdown_table(speed_header, speed_rows)
        + "\n\nValues as epsilon shrinks (default tolerance and iteration limit):\n\n"
        + markdown_table(value_header, value_rows)
    )


def main() -> None:
    rng = np.random.default_rng(20240601)
    sections = [
        ("Sliced Wasserstein against POT", _sliced_section(rng)),
        ("Exact Wasserstein against POT's network simplex", _exact_section(rng)),
        ("Sinkhorn divergence against POT's log-domain Sinkhorn", _sinkhorn_section(rng)),
    ]
    body = "\n\n".join(f"### {title}\n\n{text}" for title, text in sections)
    path = write_section("transport", "Optimal transport", COMMAND, body)
    print(body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()

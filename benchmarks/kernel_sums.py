"""Speed and memory of `mmd2` and `energy_distance` against a plain NumPy implementation.

The NumPy reference is the usual float32 recipe: pairwise squared distances
through one matrix product (|a|^2 + |b|^2 - 2 a b^T), the kernel applied
elementwise, the diagonal zeroed for the unbiased estimator, then sums. It
materialises the full n x m matrices and runs close to the machine's
matrix-multiply peak at large d.

Run: .venv/bin/python -m benchmarks.kernel_sums [--skip-memory]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

from benchmarks import _common
from discrepancy.divergences import mmd2

BANDWIDTH = 8.0


def numpy_mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Computes the unbiased MMD^2 with a Gaussian kernel in NumPy, in the inputs' dtype."""
    scale = x.dtype.type(1.0 / (2.0 * bandwidth * bandwidth))

    def kernel_matrix(a, b):
        squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return np.exp(-scale * squared)

    n, m = x.shape[0], y.shape[0]
    k_xx = kernel_matrix(x, x)
    np.fill_diagonal(k_xx, 0.0)
    k_yy = kernel_matrix(y, y)
    np.fill_diagonal(k_yy, 0.0)
    k_xy = kernel_matrix(x, y)
    return float(k_xx.sum() / (n * (n - 1)) + k_yy.sum() / (m * (m - 1)) - 2.0 * k_xy.sum() / (n * m))


def speed_rows(repeats: int) -> list[list[object]]:
    rows = []
    rng = np.random.default_rng(0)
    for n, d in ((5000, 64), (2000, 2048)):
        x = rng.standard_normal((n, d)).astype(np.float32)
        y = (rng.standard_normal((n, d)) + 0.05).astype(np.float32)
        bandwidth = BANDWIDTH if d == 64 else 64.0
        x_tensor, y_tensor = tf.constant(x), tf.constant(y)

        ours = lambda: float(mmd2(x_tensor, y_tensor, bandwidth=bandwidth))  # noqa: E731
        reference = lambda: numpy_mmd2_unbiased(x, y, bandwidth)  # noqa: E731
        time_ours = _common.time_call(ours, repeats=repeats)
        time_reference = _common.time_call(reference, repeats=repeats)

        exact = numpy_mmd2_unbiased(x.astype(np.float64), y.astype(np.float64), bandwidth)
        rows.append(
            [
                f"mmd2 unbiased, Gaussian, n = m = {n}, d = {d}, float32",
                f"{time_ours:.3f}",
                f"{time_reference:.3f}",
                f"{time_reference / time_ours:.2f}x",
                f"{abs(ours() - exact) / abs(exact):.1e}",
                f"{abs(reference() - exact) / abs(exact):.1e}",
            ]
        )
    return rows


_MEMORY_CODE = """
import resource, time
import numpy as np, tensorflow as tf
from discrepancy.divergences import {function}
rng = np.random.default_rng(0)
x = rng.standard_normal(({n}, 64)).astype(np.float32)
y = (rng.standard_normal(({n}, 64)) + 0.05).astype(np.float32)
start = time.perf_counter()
value = float({call})
seconds = time.perf_counter() - start
print(value, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def memory_rows(n: int) -> list[list[object]]:
    rows = []
    cases = (
        ("mmd2", "mmd2(x, y, bandwidth=8.0)"),
        ("energy_distance", "energy_distance(x, y)"),
    )
    for function, call in cases:
        _, output = _common.peak_memory_of(_MEMORY_CODE.format(function=function, n=n, call=call))
        value, seconds, peak_gib = (float(token) for token in output.split())
        rows.append([f"{function}, n = m = {n:,}, d = 64, float32", f"{seconds:.0f}", f"{peak_gib:.2f}", f"{value:.6g}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true", help="skip the 200,000-point runs")
    parser.add_argument("--memory-n", type=int, default=200_000)
    args = parser.parse_args()

    speed = speed_rows(args.repeats)
    body = _common.markdown_table(
        ["case", "discrepancy (s)", "NumPy (s)", "speed-up", "our rel. error", "NumPy rel. error"], speed
    )
    body += (
        "\n\nTimes are medians of repeated runs after one warm-up call (which includes XLA "
        "compilation). Relative errors are against the same NumPy code in float64.\n"
    )
    if not args.skip_memory:
        # Each configuration runs in its own process and reports its own peak.
        memory = memory_rows(args.memory_n)
        body += "\n" + _common.markdown_table(
            ["case", "time (s)", "peak resident memory (GiB)", "value"], memory
        )
        body += (
            "\n\nPeak resident memory is the child process's maximum RSS, TensorFlow runtime "
            "included. A dense n x n float32 matrix at this size would take 149 GiB.\n"
        )
    _common.write_section(
        "kernel-sums",
        "MMD and energy distance",
        "python -m benchmarks.kernel_sums",
        body,
    )
    print(body)


if __name__ == "__main__":
    main()

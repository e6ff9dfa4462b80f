"""Benchmark precision/recall and density/coverage against `prdc`, and time knn_kl.

Run with `.venv/bin/python -m benchmarks.prdc` (add `--skip-large` to leave
out the 100,000-sample memory run, which takes several minutes).

For each size, `precision_recall` plus `density_coverage` (both with k = 5)
are timed against one call of `prdc.compute_prdc(real, fake, nearest_k=5)`,
which computes all four values, in the same process. Features are float32,
the dtype that `prdc` documents. `prdc` uses open balls and this library
closed balls. The values agree whenever no distance equals a radius exactly,
as with these continuous features, and the table shows whether they do.

The 100,000-sample run is made in a fresh process so that its peak resident
memory (which includes the Python interpreter and TensorFlow) is its own.
A full distance matrix of that size would take 40 GB in float32.

The knn_kl row compares with a float64 SciPy k-d tree implementation of the
same estimator written here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import time

import numpy as np
from scipy.spatial import cKDTree

from benchmarks._common import markdown_table, peak_memory_of, time_call, write_section

SEED = 0
K = 5


def make_features(num_samples: int, num_features: int, seed: int = SEED):
    """Returns float32 real and fake features whose supports overlap partly."""
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(num_samples, num_features)).astype(np.float32)
    fake = (rng.normal(size=(num_samples, num_features)) * 1.02 + 0.02).astype(np.float32)
    return real, fake


def compare_with_prdc(num_samples: int, num_features: int) -> list[object]:
    import prdc

    from discrepancy.metrics import density_coverage, precision_recall

    real, fake = make_features(num_samples, num_features)

    def ours():
        precision, recall = precision_recall(real=real, fake=fake, k=K)
        density, coverage = density_coverage(real=real, fake=fake, k=K)
        return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}

    def reference():
        # compute_prdc prints the set sizes; keep the benchmark's output clean.
        with contextlib.redirect_stdout(io.StringIO()):
            return prdc.compute_prdc(real, fake, nearest_k=K)

    our_values, reference_values = ours(), reference()
    our_seconds = time_call(ours, repeats=2, warmup=1)
    reference_seconds = time_call(reference, repeats=2, warmup=0)

    identical = all(
        float(our_values[name]) == float(reference_values[name])
        for name in ("precision", "recall", "coverage")
    ) and math.isclose(our_values["density"], float(reference_values["density"]), rel_tol=1e-12)
    values = ", ".join(f"{name} {our_values[name]:.4f}" for name in our_values)
    return [
        f"{num_samples:,} x {num_features}",
        f"{our_seconds:.2f}",
        f"{reference_seconds:.2f}",
        f"{reference_seconds / our_seconds:.1f}x",
        "yes" if identical else "no",
        values,
    ]


_LARGE_RUN = """
import time
import numpy as np
from benchmarks.prdc import make_features
from discrepancy.metrics import density_coverage, precision_recall
real, fake = make_features({num_samples}, {num_features})
start = time.perf_counter()
precision, recall = precision_recall(real=real, fake=fake, k={k})
density, coverage = density_coverage(real=real, fake=fake, k={k})
print(time.perf_counter() - start, precision, recall, density, coverage)
"""


def large_run(num_samples: int, num_features: int) -> list[object]:
    code = _LARGE_RUN.format(num_samples=num_samples, num_features=num_features, k=K)
    peak_gib, output = peak_memory_of(code)
    seconds, precision, recall, density, coverage = (float(v) for v in output.split())
    input_gib = 2 * num_samples * num_features * 4 / 2**30
    return [
        f"{num_samples:,} x {num_features}",
        f"{seconds:.0f}",
        f"{peak_gib:.2f}",
        f"{input_gib:.3f}",
        f"precision {precision:.4f}, recall {recall:.4f}, density {density:.4f}, coverage {coverage:.4f}",
    ]


def reference_knn_kl(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Computes the Wang-Kulkarni-Verdu estimator with SciPy k-d trees, in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    num_x, num_features = x.shape
    # Querying x against its own tree returns x_i itself first, at distance 0.
    rho = cKDTree(x).query(x, k=[k + 1])[0][:, 0]
    nu = cKDTree(y).query(x, k=[k])[0][:, 0]
    return num_features * float(np.mean(np.log(nu / rho))) + math.log(y.shape[0] / (num_x - 1))


def knn_kl_row(num_samples: int, num_features: int, k: int = 1) -> list[object]:
    from discrepancy.divergences import knn_kl

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(num_samples, num_features))
    y = rng.normal(size=(num_samples, num_features)) + 0.5

    ours = float(knn_kl(x, y, k=k))
    reference = reference_knn_kl(x, y, k)
    our_seconds = time_call(lambda: knn_kl(x, y, k=k), repeats=2, warmup=1)
    reference_seconds = time_call(lambda: reference_knn_kl(x, y, k), repeats=2, warmup=0)
    return [
        f"{num_samples:,} x {num_features}, k = {k}",
        f"{our_seconds:.2f}",
        f"{reference_seconds:.2f}",
        f"{reference_seconds / our_seconds:.2f}x",
        f"{ours:.6f} / {reference:.6f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-large", action="store_true", help="leave out the 100,000-sample memory run"
    )
    arguments = parser.parse_args()
    command = ".venv/bin/python -m benchmarks.prdc" + (" --skip-large" if arguments.skip_large else "")

    sections = []
    if not arguments.skip_large:
        # Measured first: the peak of child processes is a running maximum.
        started = time.perf_counter()
        large = large_run(100_000, 64)
        sections.append(
            "Bounded memory, precision_recall + density_coverage (k = 5) in a fresh process:\n\n"
            + markdown_table(
                ["n = m x d", "seconds", "peak resident GiB", "input GiB", "values"], [large]
            )
        )
        print(f"large run done in {time.perf_counter() - started:.0f} s", flush=True)

    rows = [compare_with_prdc(10_000, 64), compare_with_prdc(5_000, 2048)]
    sections.insert(
        0,
        "precision_recall + density_coverage (k = 5) against one call of "
        "prdc.compute_prdc (nearest_k = 5), float32 features, median of 2 runs:\n\n"
        + markdown_table(
            ["n = m x d", "ours (s)", "prdc (s)", "speed-up", "identical values", "values"], rows
        ),
    )

    kl_rows = [knn_kl_row(10_000, 5, k=1), knn_kl_row(10_000, 64, k=5)]
    sections.append(
        "knn_kl against a float64 SciPy k-d tree version of the same estimator "
        "(x ~ N(0, I), y ~ N(0.5, I)), median of 2 runs:\n\n"
        + markdown_table(["n = m x d", "ours (s)", "k-d tree (s)", "speed-up", "values (ours / k-d tree)"], kl_rows)
    )

    body = "\n\n".join(sections)
    body += (
        "\n\nThe machine is shared with other jobs, so absolute times are noisy; "
        "the ratios come from the same run."
    )
    write_section("prdc", "Precision/recall, density/coverage and knn_kl", command, body)
    print(body)


if __name__ == "__main__":
    main()

"""Benchmark `fid` against the SciPy `sqrtm` recipe of pytorch-fid, and the linear algebra behind it.

Run with `.venv/bin/python -m benchmarks.fid`.

Both sides start from the same 10,000 x 2048 float32 features per set (the
shape of Inception-v3 pool features) and include the means and covariances
in their time:
  * `fid(real, fake)`: float64 FeatureStatistics, then the Frechet distance
    from Cholesky factors of both covariances and one SVD.
  * the recipe pytorch-fid uses, written here in NumPy float64: `np.cov`,
    then `scipy.linalg.sqrtm(C_r @ C_g)` of the non-symmetric product, its
    real part, and the trace.
Accuracy is the relative difference from a float64 symmetric-eigen
reference, Tr sqrt(C_g^1/2 C_r C_g^1/2) with both square roots by
`numpy.linalg.eigh`, computed from exactly centred float64 covariances.

Two smaller tables record the measurements behind the design: where the
float64 factorisations run fastest (NumPy, SciPy or TensorFlow), and
where the covariances do (NumPy or TensorFlow float64 matrix products).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.linalg

from benchmarks._common import markdown_table, time_call, write_section

SEED = 0
NUM_SAMPLES = 10_000
NUM_FEATURES = 2048


def make_features(num_samples: int = NUM_SAMPLES, num_features: int = NUM_FEATURES, seed: int = SEED):
    """Returns non-negative, correlated float32 real and fake features, like ReLU pool activations."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((num_features, num_features)).astype(np.float32) / np.sqrt(num_features)
    real = np.maximum(rng.standard_normal((num_samples, num_features)).astype(np.float32) @ mixing, 0.0)
    fake = np.maximum(
        (rng.standard_normal((num_samples, num_features)).astype(np.float32) * 1.1 + 0.05) @ mixing, 0.0
    )
    return real, fake


def sqrtm_recipe(real: np.ndarray, fake: np.ndarray) -> float:
    """Computes FID the way pytorch-fid does, in NumPy float64: np.cov and sqrtm of C_r C_g."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    mean_r, mean_g = real.mean(axis=0), fake.mean(axis=0)
    cov_r, cov_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)

    root = scipy.linalg.sqrtm(cov_r @ cov_g)
    if not np.isfinite(root).all():
        # pytorch-fid's fallback: add 1e-6 to both diagonals and retry.
        ridge = np.eye(cov_r.shape[0]) * 1e-6
        root = scipy.linalg.sqrtm((cov_r + ridge) @ (cov_g + ridge))
    root = np.real(root)

    difference = mean_r - mean_g
    return float(difference @ difference + np.trace(cov_r) + np.trace(cov_g) - 2.0 * np.trace(root))


def eigen_reference(real: np.ndarray, fake: np.ndarray) -> float:
    """Computes FID in float64 with both matrix square roots from symmetric eigendecompositions."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    mean_r, mean_g = real.mean(axis=0), fake.mean(axis=0)
    centred_r, centred_g = real - mean_r, fake - mean_g
    cov_r = centred_r.T @ centred_r / (real.shape[0] - 1)
    cov_g = centred_g.T @ centred_g / (fake.shape[0] - 1)

    values, vectors = np.linalg.eigh(cov_g)
    root_g = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_g @ cov_r @ root_g
    eigenvalues = np.linalg.eigvalsh(0.5 * (product + product.T))
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()

    difference = mean_r - mean_g
    return float(difference @ difference + np.trace(cov_r) + np.trace(cov_g) - 2.0 * trace_sqrt)


def fid_rows(real: np.ndarray, fake: np.ndarray, repeats: int) -> tuple[list[list[object]], dict[str, float]]:
    from discrepancy.metrics import FeatureStatistics, fid
    from discrepancy.divergences._gaussian import factor_gaussian, frechet_from_factors

    reference = eigen_reference(real, fake)
    ours = float(fid(real, fake))
    recipe = sqrtm_recipe(real, fake)

    our_seconds = time_call(lambda: fid(real, fake), repeats=repeats, warmup=0)
    recipe_seconds = time_call(lambda: sqrtm_recipe(real, fake), repeats=repeats, warmup=0)

    # Where our time goes: the float64 statistics, then the distance.
    start = time.perf_counter()
    real_statistics = FeatureStatistics.from_features(real)
    fake_statistics = FeatureStatistics.from_features(fake)
    statistics_seconds = time.perf_counter() - start
    start = time.perf_counter()
    frechet_from_factors(
        factor_gaussian(real_statistics.mean, real_statistics.covariance, "real"),
        factor_gaussian(fake_statistics.mean, fake_statistics.covariance, "fake"),
    )
    distance_seconds = time.perf_counter() - start

    rows = [
        [
            "`discrepancy.metrics.fid`",
            f"{our_seconds:.2f}",
            f"{recipe_seconds / our_seconds:.1f}x",
            f"{ours:.10g}",
            f"{abs(ours - reference) / reference:.1e}",
        ],
        [
            "SciPy `sqrtm` recipe (pytorch-fid)",
            f"{recipe_seconds:.2f}",
            "1.0x",
            f"{recipe:.10g}",
            f"{abs(recipe - reference) / reference:.1e}",
        ],
    ]
    parts = {"statistics": statistics_seconds, "distance": distance_seconds, "reference": reference}
    return rows, parts


def eigensolver_rows(num_features: int, repeats: int) -> list[list[object]]:
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    factor = rng.standard_normal((num_features, num_features))
    covariance = factor @ factor.T / num_features
    tensor = tf.constant(covariance)
    candidates = [
        ("`numpy.linalg.eigh` (LAPACK syevd)", lambda: np.linalg.eigh(covariance)),
        ("`scipy.linalg.eigh` (default driver evr)", lambda: scipy.linalg.eigh(covariance)),
        ("`tf.linalg.eigh`", lambda: tf.linalg.eigh(tensor)[0].numpy()),
        ("`numpy.linalg.cholesky`", lambda: np.linalg.cholesky(covariance)),
        ("`numpy.linalg.svd`, values only", lambda: np.linalg.svd(factor, compute_uv=False)),
        ("`numpy.linalg.eigvalsh`", lambda: np.linalg.eigvalsh(covariance)),
    ]
    return [[name, f"{time_call(call, repeats=repeats, warmup=1):.2f}"] for name, call in candidates]


def covariance_rows(real: np.ndarray, repeats: int) -> list[list[object]]:
    import tensorflow as tf

    centred = real.astype(np.float64)
    centred -= centred.mean(axis=0)
    tensor = tf.constant(centred)
    candidates = [
        ("NumPy float64 `x.T @ x`", lambda: centred.T @ centred),
        ("TensorFlow float64 `tf.matmul(x, x, transpose_a=True)`",
         lambda: tf.matmul(tensor, tensor, transpose_a=True).numpy()),
    ]
    return [[name, f"{time_call(call, repeats=repeats, warmup=1):.2f}"] for name, call in candidates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (median reported)")
    arguments = parser.parse_args()
    command = ".venv/bin/python -m benchmarks.fid"
    if arguments.repeats != 3:
        command += f" --repeats {arguments.repeats}"

    load_before = os.getloadavg()[0]
    real, fake = make_features()
    rows, parts = fid_rows(real, fake, arguments.repeats)
    eigen = eigensolver_rows(NUM_FEATURES, arguments.repeats)
    covariance = covariance_rows(real, arguments.repeats)
    load_after = os.getloadavg()[0]

    body = "\n\n".join(
        [
            f"FID from {NUM_SAMPLES:,} x {NUM_FEATURES} float32 features per side, means and "
            "covariances included, median of "
            f"{arguments.repeats} runs. Relative error is measured against a float64 "
            f"symmetric-eigen reference (FID = {parts['reference']:.10g}). The 1-minute load "
            f"average was {load_before:.1f} before and {load_after:.1f} after the run on "
            f"{os.cpu_count()} cores; multi-threaded OpenBLAS slows down sharply when other "
            "processes compete for the cores, so times from a loaded machine are noisy.",
            markdown_table(["method", "seconds", "speed-up", "FID", "relative error"], rows),
            f"Of our time, {parts['statistics']:.2f} s went to the float64 means and covariances "
            f"(FeatureStatistics) and {parts['distance']:.2f} s to the distance (two "
            "Cholesky factorisations, one matrix product and one SVD).",
            f"Float64 linear algebra at d = {NUM_FEATURES} (seconds, median of "
            f"{arguments.repeats}). `frechet_distance` runs its factorisations in NumPy for "
            "this reason, and uses Cholesky where the covariance allows, since an "
            "eigendecomposition with vectors costs many times more:",
            markdown_table(["routine", "seconds"], eigen),
            f"Scatter matrix of {NUM_SAMPLES:,} x {NUM_FEATURES} centred float64 features "
            "(seconds). FeatureStatistics computes it in NumPy for this reason:",
            markdown_table(["routine", "seconds"], covariance),
        ]
    )
    write_section("fid", "FID against the SciPy sqrtm recipe", command, body)
    print(body)


if __name__ == "__main__":
    main()

"""Accuracy of the KL estimators on Gaussian pairs with a known KL divergence.

For each case (dimension d, true KL), P = N(mu, s I) (real, x) and
Q = N(0, I) (generated, y) with n = m = 5000 samples. Half of the KL comes
from the mean shift (|mu|^2 / 2, mu along the diagonal) and half from the
scale (d (s - 1 - log s) / 2 with s < 1, so P is narrower than Q and the
density ratio p/q is bounded). The reference value is
tfp.distributions.kl_divergence between the two distributions, computed in
float64 in the same run.

Every estimator runs on the same samples for seeds 0..S-1 (the seed draws
the samples and seeds the estimator). The table reports, per case and
estimator: the mean estimate, the relative bias (mean / true - 1), the
standard deviation over seeds, the mean reported standard error, how many
seeds' 95% confidence intervals cover the true value, and the mean wall time.

Estimators:
  default    variational_divergence(x, y) with its defaults (bound='smile',
             clip=5, folds=5, bias_correction='extrapolate'): a
             logistic-classifier critic evaluated with the clipped
             Donsker-Varadhan (SMILE) formula, extrapolated to remove the
             critic's fitting bias (2 V_n - V_{n/2}).
  smile-inf  the same critic without clipping (clip=math.inf) and without
             the bias correction.
  classifier classifier_divergence(x, y): the same critic's plug-in mean
             log-ratio over x.
  dv         bound='dv': a critic trained on the Donsker-Varadhan bound.
  nwj        bound='f' for KL: a critic trained on E_P[T] - E_Q[exp(T - 1)].
  knn-k1     knn_kl(x, y, k=1), when discrepancy.divergences._knn exists.
  oracle     not an estimator: the Donsker-Varadhan value with the true log
             density ratio, log p/q from tfp.distributions, on the same
             samples. Its error is the sampling noise that every estimator
             inherits from these samples, so an estimator's error relative
             to the oracle is its own.

The first three share one cross-fitted training per seed (they differ only in
how the held-out critic values are averaged), exactly as the public functions
compute them, so their wall times are those of that one training.

Run: .venv/bin/python -m benchmarks.accuracy [--quick | --target] [--seeds S]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import special

from benchmarks._common import markdown_table, write_section
from discrepancy.divergences import _critic_training, _variational
from discrepancy.divergences._f_divergences import f_divergence

DIMENSIONS = (2, 5, 10, 20)
TRUE_KLS = (0.1, 1.0, 2.5, 10.0)
NUM_SAMPLES = 5000
QUICK_DIMENSIONS = (2, 10)
QUICK_KLS = (0.1, 1.0, 2.5)
QUICK_METHODS = ("default", "smile-inf", "classifier", "knn-k1", "oracle")
ALL_METHODS = ("default", "smile-inf", "classifier", "dv", "nwj", "knn-k1", "oracle")
TARGET_DIMENSIONS = (2, 5, 10)
TARGET_KLS = (0.1, 1.0, 2.5)
TARGET_METHODS = ("default", "oracle")
TARGET_SEEDS = 20

# The default method's target: mean relative error within 5 % and at least
# 80 % of intervals (4 of 5) covering the truth, for true KL <= 2.5 at d <= 10.
TARGET_RELATIVE_ERROR = 0.05
TARGET_COVERAGE = 0.8
TARGET_MAX_KL = 2.5
TARGET_MAX_DIMENSION = 10


@dataclasses.dataclass
class Outcome:
    value: float
    standard_error: float | None
    seconds: float


def gaussian_pair(dimension: int, true_kl: float, num_samples: int, seed: int):
    """Draws x ~ P = N(mu, s I) and y ~ Q = N(0, I) with KL(P || Q) = true_kl."""
    # d (s - 1 - log s) / 2 = true_kl / 2 has the root s < 1 given by the
    # principal branch of Lambert W: s = -W(-exp(-(1 + true_kl / d))).
    scale = float(np.real(-special.lambertw(-np.exp(-(1.0 + true_kl / dimension)), 0)))
    mean = np.full(dimension, math.sqrt(true_kl / dimension))
    rng = np.random.default_rng(seed)
    x = mean + math.sqrt(scale) * rng.standard_normal((num_samples, dimension))
    y = rng.standard_normal((num_samples, dimension))

    p = tfp.distributions.MultivariateNormalDiag(
        tf.constant(mean), tf.fill([dimension], tf.constant(math.sqrt(scale), tf.float64))
    )
    q = tfp.distributions.MultivariateNormalDiag(
        tf.zeros([dimension], tf.float64), tf.ones([dimension], tf.float64)
    )
    reference = float(tfp.distributions.kl_divergence(p, q))
    return x, y, reference


def gaussian_log_ratio(dimension: int, true_kl: float):
    """Returns z -> log p(z) - log q(z) in float64 for the pair of `gaussian_pair`."""
    scale = float(np.real(-special.lambertw(-np.exp(-(1.0 + true_kl / dimension)), 0)))
    p = tfp.distributions.MultivariateNormalDiag(
        tf.fill([dimension], tf.constant(math.sqrt(true_kl / dimension), tf.float64)),
        tf.fill([dimension], tf.constant(math.sqrt(scale), tf.float64)),
    )
    q = tfp.distributions.MultivariateNormalDiag(
        tf.zeros([dimension], tf.float64), tf.ones([dimension], tf.float64)
    )

    def log_ratio(z):
        z = tf.constant(z, tf.float64)
        return (p.log_prob(z) - q.log_prob(z)).numpy()

    return log_ratio


def run_oracle(x, y, dimension, true_kl) -> Outcome:
    """Returns the Donsker-Varadhan value of the true log ratio on these samples."""
    start = time.perf_counter()
    log_ratio = gaussian_log_ratio(dimension, true_kl)
    value, error = _variational._donsker_varadhan_value(log_ratio(x), log_ratio(y))
    return Outcome(value, error, time.perf_counter() - start)


def run_classifier_critic(x, y, seed) -> dict[str, Outcome]:
    """Trains the cross-fitted classifier critic once; returns the three values built on it.

    The half-size critics of the default's bias correction are trained too,
    so all three share the default's wall time.
    """
    start = time.perf_counter()
    defaults = _critic_training.training_options(256, 1e-3, 500, 30)
    fitted = _critic_training.cross_fit(
        x, y, None, _critic_training.Objective("classifier"), seed, 5, 0.5, 0.2, defaults,
        half_training=True,
    )
    seconds = time.perf_counter() - start
    kl = f_divergence("kl")
    clip = _variational.DEFAULT_SMILE_CLIP
    value, error = _variational._smile_value(fitted, clip=clip)
    correction, correction_error = _variational._extrapolation("smile", kl, fitted, clip)
    return {
        "default": Outcome(value + correction, math.hypot(error, correction_error), seconds),
        "smile-inf": Outcome(*_variational._smile_value(fitted, clip=math.inf), seconds),
        "classifier": Outcome(*_variational._plug_in_value(kl, fitted), seconds),
    }


def run_public(function, x, y, **options) -> Outcome:
    start = time.perf_counter()
    estimate = function(x, y, **options)
    return Outcome(estimate.value, estimate.standard_error, time.perf_counter() - start)


def run_knn(x, y) -> Outcome | None:
    try:
        knn = importlib.import_module("discrepancy.divergences._knn")
    except ImportError:
        return None
    start = time.perf_counter()
    try:
        estimate = knn.knn_kl(x, y, k=1, return_estimate=True)
    except Exception as error:  # noqa: BLE001 - a module still in development must not stop the run.
        print(f"knn_kl failed, left out of the table: {error!r}", file=sys.stderr)
        return None
    return Outcome(estimate.value, estimate.standard_error, time.perf_counter() - start)


def run_case(dimension, true_kl, seeds, methods):
    """Returns {method: [Outcome per seed]} and the reference KL."""
    results: dict[str, list[Outcome]] = {method: [] for method in methods}
    reference = None
    for seed in seeds:
        x, y, reference = gaussian_pair(dimension, true_kl, NUM_SAMPLES, seed)
        if {"default", "smile-inf", "classifier"} & set(methods):
            for method, outcome in run_classifier_critic(x, y, seed).items():
                if method in results:
                    results[method].append(outcome)
        if "dv" in methods:
            results["dv"].append(
                run_public(_variational.variational_divergence, x, y, bound="dv", seed=seed)
            )
        if "nwj" in methods:
            results["nwj"].append(
                run_public(_variational.variational_divergence, x, y, bound="f", seed=seed)
            )
        if "knn-k1" in methods:
            outcome = run_knn(x, y)
            if outcome is not None:
                results["knn-k1"].append(outcome)
        if "oracle" in methods:
            results["oracle"].append(run_oracle(x, y, dimension, true_kl))
        print(
            f"d={dimension} kl={true_kl} seed={seed}: "
            + ", ".join(
                f"{method}={outcomes[-1].value:.4g}" for method, outcomes in results.items() if outcomes
            ),
            file=sys.stderr,
            flush=True,
        )
    return results, reference


def summarise(dimension, true_kl, reference, method, outcomes):
    values = np.array([o.value for o in outcomes])
    errors = np.array([o.standard_error if o.standard_error is not None else np.nan for o in outcomes])
    covered = int(np.sum(np.abs(values - reference) <= 1.959964 * errors))
    relative_bias = values.mean() / reference - 1.0
    row = {
        "d": dimension,
        "true_kl": reference,
        "method": method,
        "mean": float(values.mean()),
        "relative_bias": float(relative_bias),
        "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
        "mean_standard_error": float(np.nanmean(errors)) if np.isfinite(errors).any() else float("nan"),
        "covered": covered,
        "seeds": len(values),
        "seconds": float(np.mean([o.seconds for o in outcomes])),
    }
    in_target = true_kl <= TARGET_MAX_KL and dimension <= TARGET_MAX_DIMENSION
    if method == "default" and in_target:
        passed = (abs(relative_bias) <= TARGET_RELATIVE_ERROR
                  and covered >= math.ceil(TARGET_COVERAGE * len(values) - 1e-9))
        row["target"] = "pass" if passed else "FAIL"
    else:
        row["target"] = ""
    return row


def format_rows(rows):
    header = [
        "d", "true KL", "estimator", "mean", "rel. bias", "std", "mean SE",
        "covered", "time (s)", "time / knn", "target",
    ]
    knn_times = {(r["d"], r["true_kl"]): r["seconds"] for r in rows if r["method"] == "knn-k1"}
    table = []
    for r in rows:
        knn_time = knn_times.get((r["d"], r["true_kl"]))
        ratio = f"{r['seconds'] / knn_time:.0f}" if knn_time else "-"
        table.append([
            r["d"], f"{r['true_kl']:.3g}", r["method"], f"{r['mean']:.4g}",
            f"{r['relative_bias']:+.1%}", f"{r['std']:.3g}", f"{r['mean_standard_error']:.3g}",
            f"{r['covered']}/{r['seeds']}", f"{r['seconds']:.1f}", ratio, r["target"],
        ])
    return markdown_table(header, table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="d in {2, 10}, KL in {0.1, 1, 2.5}, estimators default, "
                             "smile-inf, classifier and knn-k1")
    parser.add_argument("--target", action="store_true",
                        help="only the target cases (d in {2, 5, 10}, KL in {0.1, 1, 2.5}) for "
                             "the default estimator and the oracle, over 20 seeds")
    parser.add_argument("--seeds", type=int, help="number of seeds per case (default 5, or 20 with --target)")
    parser.add_argument("--dimensions", type=int, nargs="+", help="override the dimensions")
    parser.add_argument("--kls", type=float, nargs="+", help="override the true KL values (nats)")
    parser.add_argument("--methods", nargs="+", choices=ALL_METHODS, help="override the estimators")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    if args.quick and args.target:
        parser.error("--quick and --target are separate presets; pass one of them")
    if args.target:
        preset = (TARGET_DIMENSIONS, TARGET_KLS, TARGET_METHODS, TARGET_SEEDS)
    elif args.quick:
        preset = (QUICK_DIMENSIONS, QUICK_KLS, QUICK_METHODS, 5)
    else:
        preset = (DIMENSIONS, TRUE_KLS, ALL_METHODS, 5)
    dimensions = args.dimensions or preset[0]
    kls = args.kls or preset[1]
    methods = tuple(args.methods or preset[2])
    num_seeds = args.seeds or preset[3]
    seeds = range(num_seeds)

    rows = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Epoch-limit warnings are counted in the table through the bias.
        warnings.simplefilter("ignore", RuntimeWarning)
        for dimension in dimensions:
            for true_kl in kls:
                results, reference = run_case(dimension, true_kl, seeds, methods)
                for method, outcomes in results.items():
                    if outcomes:
                        rows.append(summarise(dimension, true_kl, reference, method, outcomes))
    total_minutes = (time.perf_counter() - start) / 60.0

    table = format_rows(rows)
    print(table)
    command = "python -m benchmarks.accuracy" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    body = (
        f"KL(P || Q) with P = N(mu, s I), Q = N(0, I), n = m = {NUM_SAMPLES}, half the KL "
        "from the mean shift and half from the scale (s < 1). Reference: "
        "tfp.distributions.kl_divergence. Seeds 0.."
        f"{num_seeds - 1} draw the samples and seed the estimators. 'rel. bias' is "
        "mean / true - 1; 'covered' counts seeds whose 95% interval (value +- 1.96 SE) "
        "contains the true KL; 'time / knn' is the wall-time ratio to knn_kl (k = 1) on "
        "the same samples. 'default', 'smile-inf' and 'classifier' share one cross-fitted "
        "training per seed. 'oracle' is the Donsker-Varadhan value of the true log "
        "density ratio on the same samples: the sampling noise that every estimator "
        "inherits from them. Target for 'default' (KL <= 2.5, d <= 10): |rel. bias| <= 5 % "
        f"and at least {math.ceil(TARGET_COVERAGE * num_seeds - 1e-9)} of {num_seeds} covered. "
        f"Wall time {total_minutes:.0f} min on a machine shared with other jobs, so times "
        "are noisy.\n\n" + table
    )
    if not args.no_write:
        name, title = "accuracy", "KL estimator accuracy on Gaussian pairs"
        if args.quick:
            name, title = "accuracy-quick", title + " (quick preset)"
        elif args.target:
            name, title = "accuracy-target", title + f" (target cases, {num_seeds} seeds)"
        write_section(name, title, command.strip(), body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `estimate()` front door: any discrepancy, with its uncertainty, as an `Estimate`."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences import _tiled
from discrepancy.divergences._result import Estimate

__all__ = ["estimate", "DIVERGENCES", "default_method"]

# divergence -> (default method, allowed methods). f-divergence names come
# from the catalogue and are added below.
_IPM_METHODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mmd2": ("unbiased", ("unbiased", "biased", "linear")),
    "energy": ("biased", ("biased", "unbiased")),
    "wasserstein": ("exact", ("exact",)),
    "sliced-wasserstein": ("monte-carlo", ("monte-carlo",)),
    "sinkhorn": ("debiased", ("debiased",)),
    "frechet": ("gaussian", ("gaussian",)),
    "gaussian-kl": ("gaussian", ("gaussian",)),
}

_F_DIVERGENCE_NAMES = (
    "kl",
    "reverse-kl",
    "pearson",
    "neyman",
    "squared-hellinger",
    "jeffreys",
    "jensen-shannon",
    "gan",
    "total-variation",
    "alpha",
)

# Methods for f-divergences. "knn" exists for KL only.
_F_METHODS = ("variational", "classifier", "knn")

DIVERGENCES = tuple(_IPM_METHODS) + _F_DIVERGENCE_NAMES

# Other names accepted for a divergence; results carry the canonical name.
# The GAN trainer calls MMD squared "mmd", so `estimate` accepts it too.
_ALIASES = {"mmd": "mmd2", "energy-distance": "energy"}


def canonical_divergence(name: Any) -> Any:
    """Returns the canonical name for an alias such as "mmd"; other values unchanged."""
    return _ALIASES.get(name, name) if isinstance(name, str) else name

# Default number of bootstrap resamples for plug-in estimators without an
# analytic standard error.
_DEFAULT_BOOTSTRAP = 30


def _module(name: str):
    return importlib.import_module(f"discrepancy.divergences.{name}")


def default_method(divergence: str) -> str:
    """Returns the method `estimate()` uses when none is given."""
    if divergence in _IPM_METHODS:
        return _IPM_METHODS[divergence][0]
    if divergence == "kl":
        return getattr(_module("_variational"), "DEFAULT_KL_METHOD", "variational")
    return "variational"


def _allowed_methods(divergence: str) -> tuple[str, ...]:
    if divergence in _IPM_METHODS:
        return _IPM_METHODS[divergence][1]
    if divergence == "kl":
        return _F_METHODS
    return _F_METHODS[:2]


def _bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    x: np.ndarray,
    y: np.ndarray,
    num_bootstrap: int,
    seed: int | None,
) -> float | None:
    """Returns the bootstrap standard deviation of `statistic`, resampling x and y independently.

    It measures sampling spread only. For biased plug-in estimators
    (Wasserstein, Sinkhorn, Frechet) the bias is not included, so an interval
    built from it can miss the population value when n is small.
    """
    if num_bootstrap < 2:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_bootstrap):
        x_resampled = x[rng.integers(0, x.shape[0], x.shape[0])]
        y_resampled = y[rng.integers(0, y.shape[0], y.shape[0])]
        values.append(statistic(x_resampled, y_resampled))
    return float(np.std(values, ddof=1))


def _gaussian_moments(samples: np.ndarray):
    mean = samples.mean(axis=0)
    covariance = np.atleast_2d(np.cov(samples, rowvar=False))
    return mean, covariance


def _run_ipm(divergence, method, x, y, options, seed):
    """Returns (value, standard_error, diagnostics) for the IPMs and Gaussian forms."""
    options = dict(options)
    num_bootstrap = _validation.as_int(
        options.pop("num_bootstrap", _DEFAULT_BOOTSTRAP), "num_bootstrap", minimum=0
    )

    if divergence == "mmd2":
        from discrepancy.divergences import _mmd

        kernel = options.pop("kernel", "gaussian")
        bandwidth = options.pop("bandwidth", "median")
        tile_size = options.pop("tile_size", _tiled.DEFAULT_TILE_SIZE)
        kernel_parameters = ("alpha", "degree", "scale", "offset")
        _reject_unknown(
            {name: value for name, value in options.items() if name not in kernel_parameters},
            divergence,
            allowed=("kernel", "bandwidth", "tile_size") + kernel_parameters,
        )
        return _mmd.mmd2_estimate_parts(x, y, kernel, bandwidth, method, tile_size, options)

    if divergence == "energy":
        from discrepancy.divergences import _energy

        exponent = options.pop("exponent", 1.0)
        tile_size = options.pop("tile_size", _tiled.DEFAULT_TILE_SIZE)
        _reject_unknown(options, divergence, allowed=("exponent", "tile_size"))
        return _energy.energy_estimate_parts(x, y, method, exponent, tile_size)

    x_array = _validation.as_samples(x, "x").numpy()
    y_array = _validation.as_samples(y, "y").numpy()

    if divergence == "wasserstein":
        function = _module("_wasserstein").wasserstein
        statistic = lambda a, b: float(function(a, b, **options))  # noqa: E731
    elif divergence == "sliced-wasserstein":
        function = _module("_wasserstein").sliced_wasserstein
        options.setdefault("seed", seed if seed is not None else 0)
        statistic = lambda a, b: float(function(a, b, **options))  # noqa: E731
    elif divergence == "sinkhorn":
        if "epsilon" not in options:
            raise ValueError(
                "divergence='sinkhorn' needs `epsilon`, the entropic regularisation in the "
                "units of the cost |x - y|^p, because a good value depends on the data's "
                "scale; try 0.01 times the largest squared distance (--epsilon on the "
                "command line)."
            )
        function = _module("_sinkhorn").sinkhorn_divergence
        statistic = lambda a, b: float(function(a, b, **options))  # noqa: E731
    elif divergence == "frechet":
        function = _module("_gaussian").frechet_distance
        _reject_unknown(options, divergence)
        statistic = lambda a, b: float(  # noqa: E731
            function(*_gaussian_moments(a), *_gaussian_moments(b))
        )
    else:
        function = _module("_gaussian").gaussian_kl
        _reject_unknown(options, divergence)
        statistic = lambda a, b: float(  # noqa: E731
            function(*_gaussian_moments(a), *_gaussian_moments(b))
        )

    value = statistic(x_array, y_array)
    standard_error = _bootstrap(statistic, x_array, y_array, num_bootstrap, seed)
    diagnostics = {
        "standard_error_method": f"bootstrap ({num_bootstrap} resamples); excludes the estimator's bias"
        if standard_error is not None
        else "none",
    }
    return value, standard_error, diagnostics


def _reject_unknown(options: dict, divergence: str, allowed: tuple[str, ...] = ()) -> None:
    if options:
        names = ", ".join(sorted(options))
        accepted = f" Accepted options: {', '.join(allowed)}." if allowed else ""
        raise ValueError(f"Unknown option(s) for divergence={divergence!r}: {names}.{accepted}")


def _run_f_divergence(divergence, method, x, y, options, seed, confidence_level):
    """Returns an Estimate for an f-divergence."""
    if method == "knn":
        knn = _module("_knn")
        if hasattr(knn, "knn_kl_estimate"):
            return knn.knn_kl_estimate(x, y, seed=seed, confidence_level=confidence_level, **options)
        value = knn.knn_kl(x, y, **options)
        return Estimate.from_normal(
            float(value),
            None,
            num_x=int(np.shape(x)[0]),
            num_y=int(np.shape(y)[0]),
            divergence="kl",
            method="knn",
            confidence_level=confidence_level,
        )

    variational = _module("_variational")
    if method == "classifier":
        return variational.classifier_divergence(
            x, y, divergence=divergence, seed=seed, confidence_level=confidence_level, **options
        )
    return variational.variational_divergence(
        x, y, divergence=divergence, seed=seed, confidence_level=confidence_level, **options
    )


def estimate(
    x,
    y,
    divergence: str = "mmd2",
    method: str | None = None,
    *,
    seed: Any = None,
    confidence_level: float = 0.95,
    **options,
) -> Estimate:
    """Estimates a discrepancy between samples of P (`x`, real) and Q (`y`, generated).

    Divergences and methods (the first method is the default):
      mmd2 (alias mmd): unbiased | biased | linear. Standard error from the first-order
        U-statistic variance (too small when P = Q; use `mmd_test` there).
        Options: kernel, bandwidth, tile_size, kernel parameters.
      energy: biased | unbiased. Standard error as for MMD. Options: exponent.
      wasserstein: exact W_p (options p, x_weights, y_weights).
      sliced-wasserstein: Monte Carlo over directions (options p,
        num_projections).
      sinkhorn: debiased Sinkhorn divergence (options epsilon, p, ...).
      frechet: squared Frechet distance between Gaussians fitted to x and y.
      gaussian-kl: KL between Gaussians fitted to x and y.
        These five report a bootstrap standard error over `num_bootstrap`
        resamples (default 30; 0 disables it), which measures spread, not
        bias.
      kl, reverse-kl, pearson, neyman, squared-hellinger, jeffreys,
      jensen-shannon, gan, total-variation, alpha: f-divergences
        D_f(P || Q) = E_Q[f(p/q)] by "variational" (a trained critic),
        "classifier" (probabilistic classification of x against y) or, for
        kl only, "knn" (Wang, Kulkarni and Verdu 2009).

    Args:
      x: samples of P (real data), shape [n, d].
      y: samples of Q (generated data), shape [m, d].
      divergence: one of the names above.
      method: estimator; None picks the default for the divergence.
      seed: int seed for every random step (bootstrap, projections, critic
        training); the same seed gives the same Estimate.
      confidence_level: coverage of the reported confidence interval.
      **options: passed to the estimator; unknown names raise ValueError.

    Returns:
      An `Estimate` with value, standard error, confidence interval, sample
      sizes, method and diagnostics.
    """
    divergence = canonical_divergence(divergence)
    _validation.check_option(divergence, "divergence", DIVERGENCES)
    if method is None:
        method = default_method(divergence)
    _validation.check_option(method, "method", _allowed_methods(divergence))
    confidence_level = _validation.as_float(confidence_level, "confidence_level", minimum=0.5, maximum=0.999999)
    if seed is not None:
        _validation.as_int(seed, "seed", minimum=0)

    if divergence in _F_DIVERGENCE_NAMES:
        return _run_f_divergence(divergence, method, x, y, options, seed, confidence_level)

    value, standard_error, diagnostics = _run_ipm(divergence, method, x, y, options, seed)
    return Estimate.from_normal(
        value,
        standard_error,
        num_x=int(tf.shape(x)[0]) if isinstance(x, tf.Tensor) else int(np.shape(x)[0]),
        num_y=int(tf.shape(y)[0]) if isinstance(y, tf.Tensor) else int(np.shape(y)[0]),
        divergence=divergence,
        method=method,
        confidence_level=confidence_level,
        diagnostics=diagnostics,
    )

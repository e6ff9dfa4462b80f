"""Frechet Inception Distance (FID) from features or feature statistics."""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences._gaussian import factor_gaussian, frechet_from_factors
from discrepancy.metrics._statistics import FeatureStatistics

__all__ = ["fid", "FIDResult"]


@dataclasses.dataclass(frozen=True)
class FIDResult:
    """FID between real and generated features; `float(result)` gives `value`.

    Attributes:
      value: the squared Frechet distance between the Gaussians fitted to the
        real and the generated features.
      num_real: number of real samples behind the real statistics.
      num_fake: number of generated samples.
      clipped_eigenvalue_mass: summed magnitude of the negative (rounding)
        eigenvalues of both covariances that were set to zero.
      fid_infinity: the bias-corrected FID extrapolated to infinitely many
        generated samples, or None when not requested.
      diagnostics: the terms of the formula (`mean_term`, `trace_p`,
        `trace_q`, `trace_sqrt_product`, ...) and, with `infinity=True`, the
        subset sizes, their FID values and the fitted slope.
    """

    value: float
    num_real: int
    num_fake: int
    clipped_eigenvalue_mass: float
    fid_infinity: float | None = None
    diagnostics: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        text = f"fid = {self.value:.6g} (num_real={self.num_real}, num_fake={self.num_fake})"
        if self.fid_infinity is not None:
            text += f", fid_infinity = {self.fid_infinity:.6g}"
        return text


def _statistics_of(value: Any, name: str, batch_size: int) -> tuple[FeatureStatistics, np.ndarray | None]:
    """Turns one side of `fid` into statistics; returns the feature array too when given one."""
    if isinstance(value, FeatureStatistics):
        return value, None

    if isinstance(value, (str, os.PathLike)):
        if not os.path.exists(value):
            raise FileNotFoundError(
                f"`{name}` statistics file {os.fspath(value)!r} not found; write one with "
                "FeatureStatistics.save(path)."
            )
        return FeatureStatistics.load(value), None

    if isinstance(value, tf.data.Dataset):
        spec = value.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank not in (None, 2):
            raise TypeError(
                f"`{name}` is a tf.data.Dataset with elements {spec}; it must yield feature "
                "batches of shape [batch_size, num_features]. Drop labels with "
                "dataset.map(lambda features, label: features) and batch single vectors "
                "with dataset.batch(256)."
            )
        statistics = FeatureStatistics()
        for batch in value:
            statistics.update(batch)
        return statistics, None

    features = _validation.as_samples(value, name)
    features = features.numpy()
    return FeatureStatistics.from_features(features, batch_size=batch_size), features


def _check_sizes(statistics: FeatureStatistics, name: str) -> None:
    """Requires two samples and warns when the covariance must be singular."""
    if statistics.count < 2:
        raise ValueError(
            f"`{name}` has {statistics.count} sample(s), but FID needs at least 2 to "
            "estimate a covariance (and in practice thousands)."
        )
    if statistics.count <= statistics.num_features:
        warnings.warn(
            f"`{name}` has {statistics.count} samples for {statistics.num_features} "
            "features, so its covariance has rank below the dimension and FID is "
            "strongly biased upwards. Use more samples than features (FID is usually "
            "reported from 10,000 or 50,000).",
            UserWarning,
            stacklevel=3,
        )


def _fid_infinity(real_factor, fake_features, sizes, seed, batch_size):
    """Fits FID_N = FID_infinity + slope / N over random generated subsets of the given sizes."""
    rng = np.random.default_rng(seed)
    values = []
    for size in sizes:
        subset = fake_features[np.sort(rng.choice(fake_features.shape[0], size, replace=False))]
        statistics = FeatureStatistics.from_features(subset, batch_size=batch_size)
        fake_factor = factor_gaussian(statistics.mean, statistics.covariance, "fake subset")
        value, _ = frechet_from_factors(real_factor, fake_factor)
        values.append(value)

    values = np.asarray(values)
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes, dtype=np.float64), values, 1)
    return float(intercept), {
        "infinity_sizes": [int(s) for s in sizes],
        "infinity_values": values.tolist(),
        "infinity_slope": float(slope),
    }


def _infinity_sizes(num_fake: int, num_points: int, min_size: int | None, num_features: int) -> list[int]:
    """Returns the subset sizes for FID_infinity, from `min_size` (default num_fake / 10) to num_fake."""
    if min_size is None:
        min_size = max(num_fake // 10, 2)
    min_size = _validation.as_int(min_size, "infinity_min_size", minimum=2, maximum=num_fake)
    sizes = sorted(set(np.linspace(min_size, num_fake, num_points).round().astype(int).tolist()))
    if len(sizes) < 2:
        raise ValueError(
            f"FID_infinity needs at least 2 distinct subset sizes, got {sizes} from "
            f"infinity_min_size={min_size}, num_fake={num_fake}, "
            f"infinity_num_points={num_points}; lower infinity_min_size or use more samples."
        )
    if sizes[0] <= num_features:
        warnings.warn(
            f"The smallest FID_infinity subset has {sizes[0]} samples for {num_features} "
            "features; FID is linear in 1/N only well above N = d, so the extrapolation "
            "is unreliable. Raise infinity_min_size or use more generated samples.",
            UserWarning,
            stacklevel=3,
        )
    return sizes


def fid(
    real: Any,
    fake: Any,
    *,
    infinity: bool = False,
    infinity_num_points: int = 15,
    infinity_min_size: int | None = None,
    seed: int | None = None,
    batch_size: int = 4096,
) -> FIDResult:
    """Computes the Frechet Inception Distance between real and generated features.

        FID = |mu_r - mu_g|^2 + Tr(C_r + C_g - 2 (C_r^1/2 C_g C_r^1/2)^1/2)

    the squared Frechet distance between Gaussians fitted to the real (r) and
    generated (g) features, with means and unbiased (ddof = 1) covariances
    accumulated in float64 by `FeatureStatistics` and the distance computed
    by `discrepancy.divergences.frechet_distance`'s method (float64 Cholesky
    or symmetric eigen factors and one singular value decomposition, never
    complex, never NaN, never negative).

    Bias: FID is a plug-in estimate and biased upwards. Its expectation over
    N generated samples is about FID_infinity + k / N for a constant k > 0
    that depends on the generator, so FID values are comparable only at
    equal N. A set with no more samples than features (N <= d) has a
    singular covariance and a large bias, and `fid` warns about it. With
    `infinity=True`, FID is also computed on random generated subsets of
    sizes N from `infinity_min_size` to the full set, a line is fitted to FID
    against 1/N by least squares, and its intercept at 1/N = 0 is returned as
    `fid_infinity` (Chong and Forsyth 2020). The real statistics are used in
    full for every subset.

    Variance: no standard error is reported. Over repeated draws of the
    generated set, the standard deviation of FID is usually small compared
    with its bias; estimate it by recomputing on disjoint subsets if needed.

    Cost: O((n + m) d^2) for the covariances (NumPy float64 matrix products)
    and O(d^3) for two Cholesky factorisations (eigendecompositions when a
    covariance is singular) and one singular value decomposition; memory
    O(batch_size d + d^2). `infinity=True` adds one covariance, factorisation
    and SVD per subset size.

    Note that the Keras Inception-v3 weights differ from the 2015 graph used
    by the original FID code, so values computed on those features are not
    comparable with published FID tables.

    Args:
      real: the real data, as features [n, d] (array or tensor), a
        `tf.data.Dataset` of feature batches [batch, d], a
        `FeatureStatistics`, or the path of a `.npz` file written by
        `FeatureStatistics.save`.
      fake: the generated data, in any of the same forms. The two sets may
        differ in size.
      infinity: also compute FID_infinity. Requires `fake` as a feature array.
      infinity_num_points: number of subset sizes in the fit (15, as Chong and
        Forsyth use).
      infinity_min_size: smallest subset size; defaults to a tenth of the
        generated set (their 5,000 of 50,000). Must exceed d for a sound fit.
      seed: seed of the random subsets for FID_infinity; the same seed gives
        the same value. Unused without `infinity`.
      batch_size: rows converted to float64 at a time when accumulating
        feature arrays; it bounds memory and does not change the result.

    Returns:
      An `FIDResult`: `float(result)` is FID, with `num_real`, `num_fake`,
      `clipped_eigenvalue_mass`, `fid_infinity` and `diagnostics`.

    Raises:
      ValueError: fewer than 2 samples on a side, different feature
        dimensions, NaN or inf features, or `infinity=True` without generated
        features.
      FileNotFoundError: a statistics path that does not exist.

    References:
      M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler and S. Hochreiter,
      "GANs trained by a two time-scale update rule converge to a local Nash
      equilibrium", NeurIPS 2017.
      M. J. Chong and D. Forsyth, "Effectively unbiased FID and Inception
      Score and where to find them", CVPR 2020.
    """
    batch_size = _validation.as_int(batch_size, "batch_size", minimum=1)
    infinity = bool(infinity)
    real_statistics, _ = _statistics_of(real, "real", batch_size)
    fake_statistics, fake_features = _statistics_of(fake, "fake", batch_size)

    if real_statistics.num_features != fake_statistics.num_features:
        raise ValueError(
            f"`real` has {real_statistics.num_features} features and `fake` has "
            f"{fake_statistics.num_features}; both must come from the same feature extractor."
        )
    _check_sizes(real_statistics, "real")
    _check_sizes(fake_statistics, "fake")

    real_factor = factor_gaussian(real_statistics.mean, real_statistics.covariance, "real covariance")
    fake_factor = factor_gaussian(fake_statistics.mean, fake_statistics.covariance, "fake covariance")
    value, diagnostics = frechet_from_factors(real_factor, fake_factor)

    fid_infinity = None
    if infinity:
        if fake_features is None:
            raise ValueError(
                "infinity=True draws random subsets of the generated samples, so `fake` "
                "must be a feature array, not statistics or a dataset."
            )
        num_points = _validation.as_int(infinity_num_points, "infinity_num_points", minimum=2)
        seed = None if seed is None else _validation.as_int(seed, "seed", minimum=0)
        sizes = _infinity_sizes(
            fake_statistics.count, num_points, infinity_min_size, fake_statistics.num_features
        )
        fid_infinity, fit = _fid_infinity(real_factor, fake_features, sizes, seed, batch_size)
        diagnostics.update(fit)
        diagnostics["seed"] = seed

    return FIDResult(
        value=value,
        num_real=real_statistics.count,
        num_fake=fake_statistics.count,
        clipped_eigenvalue_mass=diagnostics["clipped_eigenvalue_mass"],
        fid_infinity=fid_infinity,
        diagnostics=diagnostics,
    )

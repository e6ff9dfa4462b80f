"""Gaussian mixtures with known modes: the ring, the grid and the 1200-D ring.

These are the synthetic benchmarks of the mode-collapse literature. Their mode
means and standard deviations are known exactly, so a generated sample can be
assigned to its nearest mode and scored (modes captured, fraction of
high-quality samples, KL between the mode histogram and uniform).

Sources of the presets:
  * PacGAN: Z. Lin, A. Khetan, G. Fanti and S. Oh, "PacGAN: The power of two
    samples in generative adversarial networks", NeurIPS 2018. Ring: 8 modes
    on a circle of radius 1, standard deviation 0.01. Grid: 25 modes at
    {-4, -2, 0, 2, 4}^2, standard deviation 0.05. Mode counts from 2500
    generated samples, a sample being high quality within 3 standard
    deviations of its nearest mode.
  * VEEGAN: A. Srivastava, L. Valkov, C. Russell, M. U. Gutmann and C. Sutton,
    "VEEGAN: Reducing mode collapse in GANs using implicit variational
    learning", NeurIPS 2017, and its project page (akashgit.github.io/VEEGAN).
    They state: a mixture of ten 700-dimensional Gaussians embedded in a
    1200-dimensional space, a sample being high quality within 10 standard
    deviations of its nearest mode (3 for the 2-D sets), 2500 samples.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import numpy as np
from scipy import stats

from discrepancy import _validation

__all__ = ["MixtureSample", "ring", "grid", "high_dim_ring"]

_DTYPES = {"float32": np.float32, "float64": np.float64}

# Seed of the fixed random embedding of `high_dim_ring`. It is part of the
# dataset's definition, so every call (whatever `seed`) sees the same modes.
_EMBEDDING_SEED = 1200


@dataclasses.dataclass(frozen=True)
class MixtureSample:
    """Samples of an isotropic Gaussian mixture together with its modes.

    Attributes:
      samples: float array [num_samples, dimension], the data x.
      labels: int64 array [num_samples], the mode each sample was drawn from.
      means: float array [num_modes, dimension], the mode means.
      stds: float array [num_modes], the standard deviation of each mode per
        coordinate of its support.
      high_quality_threshold: the number of standard deviations within which
        a generated sample counts as high quality: 3 for the 2-D sets, as in
        PacGAN and VEEGAN, and for `high_dim_ring` the 0.999 quantile of a
        real sample's normalised distance to its mean (see there).
      settings: the name of the dataset, its preset and every parameter used.
    """

    samples: np.ndarray
    labels: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    high_quality_threshold: float
    settings: Mapping[str, Any]

    @property
    def num_modes(self) -> int:
        """Number of mixture components."""
        return int(self.means.shape[0])


_RING_PRESETS = {
    "pacgan": {"num_modes": 8, "radius": 1.0, "std": 0.01},
}
_GRID_PRESETS = {
    "pacgan": {"side": 5, "spacing": 2.0, "std": 0.05},
}
_HIGH_DIM_PRESETS = {
    "veegan": {
        "num_modes": 10,
        "dimension": 1200,
        "mode_dimension": 700,
        "radius": 1.0,
        "std": 0.01,
    },
}


def _resolve(preset: str, presets: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]):
    """Merges a named preset with the keyword values the caller set explicitly."""
    _validation.check_option(preset, "preset", presets)
    settings = dict(presets[preset])
    for key, value in overrides.items():
        if value is not None:
            settings[key] = value
    return settings


def _draw_labels(num_samples: int, num_modes: int, generator: np.random.Generator) -> np.ndarray:
    """Draws mode labels uniformly, as every preset weights its modes equally."""
    return generator.integers(0, num_modes, size=num_samples, dtype=np.int64)


def _common_arguments(num_samples: Any, dtype: Any) -> tuple[int, type]:
    """Validates the arguments shared by every mixture."""
    num_samples = _validation.as_int(num_samples, "num_samples", minimum=1)
    _validation.check_option(dtype, "dtype", _DTYPES)
    return num_samples, _DTYPES[dtype]


def _planar_mixture(
    means: np.ndarray, std: float, num_samples: int, seed: Any, dtype: type, settings: dict
) -> MixtureSample:
    """Draws from the equal-weight mixture of N(mean, std^2 I_2) over the rows of `means`."""
    generator = np.random.default_rng(_numpy_seed(seed))
    labels = _draw_labels(num_samples, means.shape[0], generator)
    samples = means[labels] + std * generator.standard_normal((num_samples, 2))

    return MixtureSample(
        samples=samples.astype(dtype),
        labels=labels,
        means=means.astype(dtype),
        stds=np.full(means.shape[0], std, dtype=dtype),
        high_quality_threshold=3.0,
        settings=settings,
    )


def ring_means(num_modes: int, radius: float) -> np.ndarray:
    """Returns `num_modes` points equally spaced on a circle, in float64.

    Mode k sits at angle 2 pi k / num_modes, so the modes are distinct and
    equally spaced (a linspace over [0, 2 pi] would repeat the first one).
    """
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ring(
    num_samples: int = 2500,
    *,
    preset: str = "pacgan",
    num_modes: int | None = None,
    radius: float | None = None,
    std: float | None = None,
    seed: int | None = None,
    dtype: str = "float32",
) -> MixtureSample:
    """Draws from K isotropic 2-D Gaussians equally spaced on a circle.

    x ~ (1/K) sum_k N(mu_k, std^2 I_2), with mu_k = radius (cos 2 pi k / K,
    sin 2 pi k / K). The `pacgan` preset is K = 8, radius 1, std 0.01
    (Lin et al., "PacGAN", NeurIPS 2018). Explicit keywords override the
    preset. Modes are chosen uniformly at random for each sample.

    Args:
      num_samples: number of samples to draw.
      preset: name of the published setup, "pacgan".
      num_modes: K, overrides the preset.
      radius: radius of the circle, overrides the preset.
      std: standard deviation of every mode per coordinate, overrides the preset.
      seed: the same seed gives the same samples; None draws a fresh seed.
      dtype: "float32" or "float64" for `samples`, `means` and `stds`.

    Returns:
      A `MixtureSample` with the samples, their mode labels, the mode means
      and standard deviations. Costs O(num_samples) time and memory.
    """
    num_samples, dtype = _common_arguments(num_samples, dtype)
    settings = _resolve(
        preset, _RING_PRESETS, {"num_modes": num_modes, "radius": radius, "std": std}
    )
    num_modes = _validation.as_int(settings["num_modes"], "num_modes", minimum=1)
    radius = _validation.as_float(settings["radius"], "radius", positive=True)
    std = _validation.as_float(settings["std"], "std", positive=True)

    settings = {"dataset": "ring", "preset": preset, "num_modes": num_modes,
                "radius": radius, "std": std, "seed": seed}
    return _planar_mixture(ring_means(num_modes, radius), std, num_samples, seed, dtype, settings)


def grid_means(side: int, spacing: float) -> np.ndarray:
    """Returns the side x side grid of points centred on the origin, in float64.

    With side 5 and spacing 2 the coordinates are {-4, -2, 0, 2, 4}. Modes are
    ordered row by row: mode k is at (column k // side, row k % side).
    """
    coordinates = spacing * (np.arange(side) - (side - 1) / 2.0)
    first, second = np.meshgrid(coordinates, coordinates, indexing="ij")
    return np.stack([first.ravel(), second.ravel()], axis=1)


def grid(
    num_samples: int = 2500,
    *,
    preset: str = "pacgan",
    side: int | None = None,
    spacing: float | None = None,
    std: float | None = None,
    seed: int | None = None,
    dtype: str = "float32",
) -> MixtureSample:
    """Draws from side^2 isotropic 2-D Gaussians on a square grid.

    x ~ (1/K) sum_k N(mu_k, std^2 I_2) with K = side^2 and mu_k on the grid
    spacing * ({0, ..., side - 1} - (side - 1) / 2)^2. The `pacgan` preset is
    side 5, spacing 2 (means at {-4, -2, 0, 2, 4}^2) and std 0.05 (Lin et al.,
    "PacGAN", NeurIPS 2018). Explicit keywords override the preset.

    Args:
      num_samples: number of samples to draw.
      preset: name of the published setup, "pacgan".
      side: modes per axis, overrides the preset.
      spacing: distance between neighbouring modes, overrides the preset.
      std: standard deviation of every mode per coordinate, overrides the preset.
      seed: the same seed gives the same samples; None draws a fresh seed.
      dtype: "float32" or "float64" for `samples`, `means` and `stds`.

    Returns:
      A `MixtureSample`. Costs O(num_samples) time and memory.
    """
    num_samples, dtype = _common_arguments(num_samples, dtype)
    settings = _resolve(preset, _GRID_PRESETS, {"side": side, "spacing": spacing, "std": std})
    side = _validation.as_int(settings["side"], "side", minimum=1)
    spacing = _validation.as_float(settings["spacing"], "spacing", positive=True)
    std = _validation.as_float(settings["std"], "std", positive=True)

    settings = {"dataset": "grid", "preset": preset, "side": side,
                "spacing": spacing, "std": std, "seed": seed}
    return _planar_mixture(grid_means(side, spacing), std, num_samples, seed, dtype, settings)


_REAL_SAMPLE_COVERAGE = 0.999


def _chi_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Returns the `probability` quantile of the chi distribution with the given degrees of freedom."""
    return float(np.sqrt(stats.chi2.ppf(probability, degrees_of_freedom)))


def high_dim_ring(
    num_samples: int = 2500,
    *,
    preset: str = "veegan",
    num_modes: int | None = None,
    dimension: int | None = None,
    mode_dimension: int | None = None,
    radius: float | None = None,
    std: float | None = None,
    seed: int | None = None,
    dtype: str = "float32",
) -> MixtureSample:
    """Draws from K Gaussians of dimension `mode_dimension` embedded in `dimension`-D.

    In the `mode_dimension`-D latent space, mode k has mean
    radius (cos 2 pi k / K, sin 2 pi k / K, 0, ..., 0) and covariance
    std^2 I. A fixed matrix E of shape [dimension, mode_dimension] with
    orthonormal columns embeds each latent sample u as x = E u, so every mode
    is a flat `mode_dimension`-D Gaussian in the larger space and distances are
    preserved. E is drawn once from a fixed seed: it is part of the dataset, so
    the modes are the same for every `seed`.

    The `veegan` preset follows the setup that Srivastava et al. ("VEEGAN",
    NeurIPS 2017) describe: ten 700-dimensional Gaussians embedded in 1200-D.
    They count a sample as high quality within 10 standard deviations of a
    mode. Here a real sample's distance to its mean, in units of std, follows
    a chi distribution with `mode_dimension` degrees of freedom (about 26.5
    for 700), so that rule would reject every real sample. The returned
    `high_quality_threshold` is instead the 0.999 quantile of that chi
    distribution (about 28.7 for the preset), which keeps 99.9 % of real
    samples and stays below half the distance between neighbouring modes
    (about 30.9 std for the preset).

    NOTE: the VEEGAN paper and project page do not give the mode means, the
    standard deviation or the embedding, so radius 1, std 0.01, the ring
    layout and the random orthonormal embedding are this library's choices.

    Args:
      num_samples: number of samples to draw.
      preset: name of the setup, "veegan".
      num_modes: K, overrides the preset.
      dimension: dimension of the ambient space, overrides the preset.
      mode_dimension: dimension of each Gaussian, at least 2 and at most
        `dimension`, overrides the preset.
      radius: radius of the ring of latent means, overrides the preset.
      std: standard deviation per latent coordinate, overrides the preset.
      seed: the same seed gives the same samples; None draws a fresh seed.
      dtype: "float32" or "float64" for `samples`, `means` and `stds`.

    Returns:
      A `MixtureSample` whose `stds` are per latent coordinate. Costs
      O(num_samples * dimension * mode_dimension) time and
      O(num_samples * dimension) memory.
    """
    num_samples, dtype = _common_arguments(num_samples, dtype)
    settings = _resolve(
        preset,
        _HIGH_DIM_PRESETS,
        {"num_modes": num_modes, "dimension": dimension, "mode_dimension": mode_dimension,
         "radius": radius, "std": std},
    )
    num_modes = _validation.as_int(settings["num_modes"], "num_modes", minimum=1)
    dimension = _validation.as_int(settings["dimension"], "dimension", minimum=2)
    mode_dimension = _validation.as_int(
        settings["mode_dimension"], "mode_dimension", minimum=2, maximum=dimension
    )
    radius = _validation.as_float(settings["radius"], "radius", positive=True)
    std = _validation.as_float(settings["std"], "std", positive=True)

    embedding = _orthonormal_embedding(dimension, mode_dimension)
    latent_means = np.zeros((num_modes, mode_dimension))
    latent_means[:, :2] = ring_means(num_modes, radius)

    generator = np.random.default_rng(_numpy_seed(seed))
    labels = _draw_labels(num_samples, num_modes, generator)
    latent = latent_means[labels] + std * generator.standard_normal((num_samples, mode_dimension))

    return MixtureSample(
        samples=(latent @ embedding.T).astype(dtype),
        labels=labels,
        means=(latent_means @ embedding.T).astype(dtype),
        stds=np.full(num_modes, std, dtype=dtype),
        high_quality_threshold=_chi_quantile(_REAL_SAMPLE_COVERAGE, mode_dimension),
        settings={"dataset": "high_dim_ring", "preset": preset, "num_modes": num_modes,
                  "dimension": dimension, "mode_dimension": mode_dimension,
                  "radius": radius, "std": std, "seed": seed},
    )


@functools.lru_cache(maxsize=4)
def _orthonormal_embedding(dimension: int, mode_dimension: int) -> np.ndarray:
    """Returns a fixed, read-only [dimension, mode_dimension] matrix with orthonormal columns.

    It is cached because the QR factorisation of a 1200 x 700 matrix takes
    seconds, and every call with the same sizes returns the same matrix.
    """
    generator = np.random.default_rng(_EMBEDDING_SEED)
    gaussian = generator.standard_normal((dimension, mode_dimension))
    basis, upper = np.linalg.qr(gaussian)

    # Fix the sign of each column so the basis depends only on the seed, not
    # on the sign convention of the LAPACK routine behind np.linalg.qr.
    basis = basis * np.sign(np.diag(upper))
    basis.setflags(write=False)
    return basis


def _numpy_seed(seed: Any) -> int | None:
    """Validates a seed for NumPy's generator; None stays None (a fresh seed)."""
    if seed is None:
        return None
    return _validation.as_int(seed, "seed", minimum=0)


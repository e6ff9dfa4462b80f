"""Stacked digits: three 8x8 handwritten digits as the channels of one image.

The analogue of Stacked MNIST (Metz et al., "Unrolled generative adversarial
networks", ICLR 2017; used by Srivastava et al., "VEEGAN", NeurIPS 2017, and
Lin et al., "PacGAN", NeurIPS 2018) built from the 1797 scans of
scikit-learn's bundled handwritten digits (the UCI optical recognition of
handwritten digits test set), which ship inside the scikit-learn wheel, so
nothing is downloaded. Each of the 1000 digit triples is one mode.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from discrepancy import _validation

__all__ = ["StackedDigitsSample", "mode_kl_parts", "stacked_digits"]

# load_digits stores intensities as integers 0..16 (4x4 blocks of a 32x32
# bitmap, counted), so dividing by 16 maps them onto [0, 1].
_MAX_INTENSITY = 16.0
_DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclasses.dataclass(frozen=True)
class StackedDigitsSample:
    """Stacked-digit images with their digit triples.

    Attributes:
      samples: float array [num_samples, 8, 8, 3] in [0, 1], channels last;
        channel j is the image of digit `digits[:, j]`.
      labels: int64 array [num_samples], the mode 100 a + 10 b + c of the
        digits (a, b, c) in channels 0, 1 and 2, in 0..999.
      digits: int64 array [num_samples, 3], the digit of each channel.
      source_indices: int64 array [num_samples, 3], the row of
        `sklearn.datasets.load_digits()` used for each channel.
      settings: the dataset name and every parameter used.
    """

    samples: np.ndarray
    labels: np.ndarray
    digits: np.ndarray
    source_indices: np.ndarray
    settings: Mapping[str, Any]

    num_modes = 1000


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Returns scikit-learn's 1797 digit images [1797, 8, 8] in [0, 1] and their labels.

    Raises:
      ImportError: scikit-learn is missing.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "stacked_digits needs scikit-learn, which ships the 8x8 digit images; "
            "install it with `pip install scikit-learn` or with the test extra "
            "`pip install discrepancy[test]`."
        ) from error

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / _MAX_INTENSITY
    return images, np.asarray(bunch.target, dtype=np.int64)


def stacked_digits(
    num_samples: int = 10000,
    *,
    seed: int | None = None,
    dtype: str = "float32",
) -> StackedDigitsSample:
    """Draws images whose three channels are three independently chosen digit scans.

    Each channel is a scan drawn uniformly, with replacement, from the 1797
    scans of `sklearn.datasets.load_digits`. Digit classes hold 174 to 183
    scans each, so the 1000 modes (a, b, c) are close to, but not exactly,
    equally likely: the mode of a sample has probability
    n_a n_b n_c / 1797^3, between 0.000908 and 0.00106.

    Args:
      num_samples: number of images to draw.
      seed: the same seed gives the same images; None draws a fresh seed.
      dtype: "float32" or "float64" for `samples`.

    Returns:
      A `StackedDigitsSample`. Costs O(num_samples) time and
      192 * num_samples values of memory.

    Raises:
      ImportError: scikit-learn is missing.
    """
    num_samples = _validation.as_int(num_samples, "num_samples", minimum=1)
    _validation.check_option(dtype, "dtype", _DTYPES)
    if seed is not None:
        seed = _validation.as_int(seed, "seed", minimum=0)

    images, targets = load_digit_images()
    generator = np.random.default_rng(seed)
    indices = generator.integers(0, images.shape[0], size=(num_samples, 3), dtype=np.int64)

    samples = np.stack([images[indices[:, channel]] for channel in range(3)], axis=-1)
    digits = targets[indices]
    labels = 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]

    return StackedDigitsSample(
        samples=samples.astype(_DTYPES[dtype]),
        labels=labels,
        digits=digits,
        source_indices=indices,
        settings={"dataset": "stacked_digits", "seed": seed},
    )


def _digit_shares() -> np.ndarray:
    """Returns each digit's share of the 1797 scans, float64 [10]."""
    _, targets = load_digit_images()
    return np.bincount(targets, minlength=10) / targets.shape[0]


def mode_probabilities() -> np.ndarray:
    """Returns the probability of each of the 1000 modes under `stacked_digits`, in float64."""
    shares = _digit_shares()
    joint = np.einsum("a,b,c->abc", shares, shares, shares)
    return joint.reshape(1000)


def mode_kl_parts(labels: np.ndarray) -> tuple[float, float]:
    """Splits the stacked-digits mode KL into the channels' KLs and their total correlation.

    The target of `stacked_digits` is the product w_1 w_2 w_3 of the digits'
    shares, so the KL of the generated mode histogram P splits exactly:

        KL(P || w_1 w_2 w_3) = sum_c KL(P_c || w_c) + KL(P || P_1 P_2 P_3),

    where P_c is channel c's digit histogram. The first part measures wrong
    digit shares within channels, the second (the total correlation) measures
    dependence between channels, and each calls for a different fix.

    Bias: both parts are plug-in estimates, biased upwards on n labels. A
    plug-in KL over K cells has first-order bias (K - 1) / (2 n). So when the
    generator matches the target, the channels' part is about 27 / (2 n) and
    the total correlation about 972 / (2 n), 999 / (2 n) in all.

    Cost: O(n + 1000).

    Args:
      labels: int array [n] of modes 100 a + 10 b + c in 0..999, as
        `DigitsClassifier.predict` returns for three-channel images.

    Returns:
      (sum of the channels' KLs, total correlation), in nats, float64.
    """
    from scipy import special

    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be a non-empty 1-D integer array, got shape {labels.shape} "
                         f"and dtype {labels.dtype}; pass the modes from DigitsClassifier.predict.")
    if labels.min() < 0 or labels.max() > 999:
        raise ValueError(f"`labels` must lie in 0..999, got values from {labels.min()} to "
                         f"{labels.max()}; pass the modes of three-channel images.")

    joint = np.bincount(labels, minlength=1000).astype(np.float64).reshape(10, 10, 10)
    joint /= joint.sum()
    shares = [joint.sum(axis=tuple(axis for axis in range(3) if axis != channel)) for channel in range(3)]
    weights = _digit_shares()

    channel_kl = sum(float(np.sum(special.rel_entr(share, weights))) for share in shares)
    product = np.einsum("a,b,c->abc", *shares)
    total_correlation = float(np.sum(special.rel_entr(joint, product)))
    return channel_kl, total_correlation

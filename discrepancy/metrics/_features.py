"""Inception-v3 pool features for FID, KID and the k-NN metrics, from local weights only.

The network is `keras.applications.InceptionV3` without its classifier, with
global average pooling, so each image maps to 2048 non-negative features.
Weights are read from a file path given as an argument or in the
environment variable DISCREPANCY_INCEPTION_WEIGHTS; nothing is downloaded.

NOTE: these are the Keras ImageNet weights, not the 2015 TensorFlow graph
(`pool_3` of the 2015-12-05 Inception release) that the original FID and
Inception Score code uses. Features, and so FID and KID values, are not
comparable with published tables computed by that code. Compare models only
with values computed by the same extractor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import tensorflow as tf

from discrepancy import _validation

__all__ = ["InceptionFeatures", "WEIGHTS_ENVIRONMENT_VARIABLE"]

WEIGHTS_ENVIRONMENT_VARIABLE = "DISCREPANCY_INCEPTION_WEIGHTS"
FEATURE_DIM = 2048
DEFAULT_IMAGE_SIZE = 299
# Smallest input side keras.applications.InceptionV3 accepts.
MIN_IMAGE_SIZE = 75
DEFAULT_BATCH_SIZE = 50

_MISSING_WEIGHTS_HELP = (
    "Inception-v3 weights are read from a local file and never downloaded. Pass "
    "weights_path=... or set the environment variable "
    f"{WEIGHTS_ENVIRONMENT_VARIABLE} to the Keras ImageNet weights without the top "
    "layer, the file inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 of the "
    "Keras applications releases. On a machine with network access, "
    "keras.applications.InceptionV3(include_top=False, weights='imagenet') stores it "
    "under ~/.keras/models/; copy that file here."
)


def _resolve_weights_path(weights_path: str | os.PathLike | None) -> Path:
    """Returns the weights file from the argument or the environment; raises if missing."""
    if weights_path is None:
        weights_path = os.environ.get(WEIGHTS_ENVIRONMENT_VARIABLE)
        if not weights_path:
            raise FileNotFoundError(
                f"No Inception-v3 weights given: `weights_path` is None and "
                f"{WEIGHTS_ENVIRONMENT_VARIABLE} is not set. {_MISSING_WEIGHTS_HELP}"
            )
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Inception-v3 weights file {str(path)!r} not found. {_MISSING_WEIGHTS_HELP}")
    return path


def _check_value_range(value_range: Any) -> tuple[float, float]:
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise TypeError(
            "`value_range` must be a pair (low, high) of the pixel values that mean black "
            f"and full intensity, got {value_range!r}; for example (0, 255) for uint8 "
            "images or (0, 1) for float images."
        )
    low = _validation.as_float(value_range[0], "value_range[0]")
    high = _validation.as_float(value_range[1], "value_range[1]")
    if not low < high:
        raise ValueError(f"`value_range` must have low < high, got {value_range!r}.")
    return low, high


def _check_images(images: Any, name: str, value_range: tuple[float, float]) -> np.ndarray:
    """Validates images [n, H, W, C] (C = 1 or 3) or [n, H, W]; returns float32 RGB in [0, 1]."""
    if isinstance(images, (tf.Tensor, tf.Variable)):
        images = images.numpy()
    array = np.asarray(images)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"`{name}` must be a numeric image array, got dtype {array.dtype}.")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[3] not in (1, 3):
        hint = ""
        if array.ndim == 4 and array.shape[1] in (1, 3):
            hint = " Channel-first images need np.moveaxis(images, 1, -1) first."
        raise ValueError(
            f"`{name}` must have shape [n, height, width, 3] (RGB) or [n, height, width] / "
            f"[n, height, width, 1] (grayscale), got shape {list(array.shape)}.{hint}"
        )
    scaled = _validation.scale_images(
        array, value_range, name, "(0, 255) for uint8 or (-1, 1) for a tanh generator"
    )
    if scaled.shape[3] == 1:
        scaled = np.repeat(scaled, 3, axis=3)
    return scaled


class InceptionFeatures:
    """Inception-v3 pool features (2048 per image) from weights in a local file.

    Preprocessing, in this order:
      1. Pixel values are mapped from `value_range` to [0, 1] in float64.
         Values outside the range raise ValueError.
      2. Grayscale images are repeated over 3 channels.
      3. Images are resized to `image_size` x `image_size` with antialiased
         bicubic interpolation (`tf.image.resize(..., method="bicubic",
         antialias=True)`), so downscaling averages over the source pixels
         instead of aliasing.
      4. Bicubic overshoot beyond [0, 1] is clipped, as an 8-bit image
         library would clip it.
      5. Values are mapped to [-1, 1], the input scale of Keras's InceptionV3
         (its `preprocess_input`).
    The network runs in float32 in inference mode.

    See the module docstring: these Keras weights are not the 2015 graph of
    the original FID code, so values are not comparable with published FID
    tables.

    Cost: one Inception-v3 forward pass per image (several GFLOP at 299 x
    299), in batches of `batch_size` images, the last padded to the same
    shape so one traced program serves every batch. Memory: the activations
    of one batch plus 87 MB of float32 weights (21.8 million parameters).

    Args:
      weights_path: path of the weights file (Keras `.h5` ImageNet weights
        without the top layer, or a `.weights.h5` file saved by
        `keras.Model.save_weights` for this architecture). None reads the
        path from the environment variable DISCREPANCY_INCEPTION_WEIGHTS.
      image_size: side of the square network input; 299 for Inception-v3 as
        trained. Smaller sizes (at least 75) are accepted for tests and
        quick looks, with features that then differ from the 299 ones.

    Attributes:
      network: the Keras model, [b, image_size, image_size, 3] in [-1, 1] to
        [b, 2048].
      weights_path: the file the weights were read from.

    Raises:
      FileNotFoundError: no weights path given, or no file there; the message
        says where to put the weights and how to obtain them.
      ValueError: a file that does not contain weights for this network.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None, *, image_size: int = DEFAULT_IMAGE_SIZE):
        self.weights_path = _resolve_weights_path(weights_path)
        self.image_size = _validation.as_int(image_size, "image_size", minimum=MIN_IMAGE_SIZE)
        if not h5py.is_hdf5(self.weights_path):
            raise ValueError(
                f"Could not load Inception-v3 weights from {str(self.weights_path)!r}: it is not "
                f"an HDF5 file. {_MISSING_WEIGHTS_HELP}"
            )
        self.network = keras.applications.InceptionV3(
            include_top=False,
            weights=None,
            pooling="avg",
            input_shape=(self.image_size, self.image_size, 3),
        )
        try:
            self.network.load_weights(str(self.weights_path))
        except (ValueError, OSError, KeyError) as error:
            raise ValueError(
                f"Could not load Inception-v3 weights from {str(self.weights_path)!r}: {error}. "
                f"{_MISSING_WEIGHTS_HELP}"
            ) from None
        # One trace for every batch and image size.
        self._forward = tf.function(
            self._forward_batch, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)]
        )

    def _forward_batch(self, batch: tf.Tensor) -> tf.Tensor:
        resized = tf.image.resize(
            batch, [self.image_size, self.image_size], method="bicubic", antialias=True
        )
        resized = tf.clip_by_value(resized, 0.0, 1.0)
        return self.network(resized * 2.0 - 1.0, training=False)

    def features(self, images: Any, *, value_range: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Computes pool features, float32 [n, 2048], of images [n, H, W, 3] or grayscale [n, H, W].

        Args:
          images: an array or tensor of images, or a `tf.data.Dataset` of
            image batches. Images may have any size; they are resized.
          value_range: (low, high), the pixel values of black and full
            intensity, for example (0, 255) for uint8 images or (0, 1) for
            float images. Required, because guessing the convention from the
            data silently shifts every feature.
          batch_size: images per forward pass.

        Raises:
          ValueError: wrong shape, NaN or inf, or values outside `value_range`.
        """
        value_range = _check_value_range(value_range)
        batch_size = _validation.as_int(batch_size, "batch_size", minimum=1)
        if isinstance(images, tf.data.Dataset):
            parts = [self.features(batch, value_range=value_range, batch_size=batch_size) for batch in images]
            if not parts:
                raise ValueError("`images` is an empty dataset; pass at least one image.")
            return np.concatenate(parts)

        scaled = _check_images(images, "images", value_range)
        features = np.empty((scaled.shape[0], FEATURE_DIM), dtype=np.float32)
        for start in range(0, scaled.shape[0], batch_size):
            batch = scaled[start : start + batch_size]
            count = batch.shape[0]
            if count < batch_size and scaled.shape[0] > batch_size:
                padding = np.zeros((batch_size - count,) + batch.shape[1:], np.float32)
                batch = np.concatenate([batch, padding])
            features[start : start + count] = self._forward(tf.constant(batch)).numpy()[:count]
        return features

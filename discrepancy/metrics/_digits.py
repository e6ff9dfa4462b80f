"""A small CNN classifier of 8x8 handwritten digits, for features and class labels.

The network is trained on scikit-learn's bundled digits
(`sklearn.datasets.load_digits`: 1797 real 8x8 scans, the test part of the
UCI "Optical recognition of handwritten digits" data, shipped inside the
scikit-learn wheel). Its weights ship with this package in
`discrepancy/metrics/data/digits_cnn.npz` and load with NumPy and Keras only,
so scikit-learn is not needed at run time. The script
`scripts/train_digits_classifier.py` reproduces the file with a fixed seed.

Held-out accuracy: 0.9911 (446 of 450) on the fixed stratified test split
(`train_test_indices(labels)`: 25 % of each class, seed 0), recorded in the
weights file as `test_accuracy`. The 1797 scans come from 13 writers and
load_digits does not say who wrote which, so both parts share writers and
this accuracy is an optimistic estimate for scans by unseen writers.

It plays the role that a pretrained MNIST classifier plays for Stacked MNIST
(Metz et al. 2017; Srivastava et al. 2017; Lin et al. 2018): each channel of
a stacked-digit image is classified on its own, which labels the image with
one of 1000 modes, and the penultimate-layer activations serve as features
for FID, KID and the k-NN metrics.

References:
  E. Alpaydin and C. Kaynak, "Optical recognition of handwritten digits",
  UCI Machine Learning Repository, 1998 (the data of load_digits).
  L. Metz, B. Poole, D. Pfau and J. Sohl-Dickstein, "Unrolled generative
  adversarial networks", ICLR 2017 (Stacked MNIST and its 1000 modes).
"""

from __future__ import annotations

import importlib.resources
import numbers
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from discrepancy import _validation

__all__ = ["DigitsClassifier", "build_network", "train_test_indices", "save_weights"]

IMAGE_SIDE = 8
NUM_CLASSES = 10
FEATURE_DIM = 64
MAX_CHANNELS = 3

# Rows per compiled forward pass; the last batch is padded to this size so
# that one XLA program serves every input size.
DEFAULT_BATCH_SIZE = 256

_WEIGHTS_FILE = "digits_cnn.npz"


def build_network() -> keras.Model:
    """Builds the untrained network: one 8x8 digit [b, 8, 8, 1] in [0, 1] to 10 logits.

    Two 3x3 convolutions and a 2x2 max-pool (8x8 -> 4x4), one more convolution
    and max-pool (4x4 -> 2x2), a 64-unit ReLU layer named "features" (the
    penultimate layer), dropout for training, and a 10-unit linear layer named
    "logits". Every layer runs in float32 whatever the global dtype policy.
    """
    # Layers are named explicitly: weights are stored and loaded by layer
    # name, and Keras's automatic names depend on what was built before.
    def conv(filters, name):
        return keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name, dtype="float32")

    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="digit", dtype="float32")
    hidden = conv(32, "conv_1")(inputs)
    hidden = conv(32, "conv_2")(hidden)
    hidden = keras.layers.MaxPooling2D(2, name="pool_1", dtype="float32")(hidden)
    hidden = conv(64, "conv_3")(hidden)
    hidden = keras.layers.MaxPooling2D(2, name="pool_2", dtype="float32")(hidden)
    hidden = keras.layers.Flatten(name="flatten", dtype="float32")(hidden)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features", dtype="float32")(hidden)
    dropped = keras.layers.Dropout(0.3, name="dropout", dtype="float32")(features)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits", dtype="float32")(dropped)
    return keras.Model(inputs, [features, logits], name="digits_cnn")


def train_test_indices(labels, test_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Splits sample indices into a training and a test part, stratified by class.

    For each class c with n_c samples, a permutation drawn by
    `np.random.default_rng(seed)` (classes in increasing order) sends
    round(test_fraction * n_c) of them to the test part. The defaults define
    the split behind the shipped weights and their reported accuracy.

    Returns:
      (train, test): sorted int64 index arrays that partition range(len(labels)).
    """
    labels = np.asarray(labels)
    test_fraction = _validation.as_float(test_fraction, "test_fraction", minimum=0.0, maximum=1.0)
    generator = np.random.default_rng(_validation.as_int(seed, "seed", minimum=0))

    test_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(test_fraction * members.shape[0]))
        test_parts.append(generator.permutation(members)[:count])

    test = np.sort(np.concatenate(test_parts)).astype(np.int64)
    train = np.setdiff1d(np.arange(labels.shape[0]), test).astype(np.int64)
    return train, test


def save_weights(network: keras.Model, path: str | os.PathLike, **metadata) -> None:
    """Writes the network's weights and scalar metadata to an `.npz` file.

    Weights are stored under "LAYER/INDEX" keys, metadata under "meta/NAME".
    """
    arrays = {}
    for layer in network.layers:
        for index, weight in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{index}"] = np.asarray(weight, dtype=np.float32)
    for name, value in metadata.items():
        arrays[f"meta/{name}"] = np.asarray(value)
    np.savez(path, **arrays)


def _shipped_weights_path() -> Path:
    return Path(str(importlib.resources.files("discrepancy.metrics") / "data" / _WEIGHTS_FILE))


def _load_weights(network: keras.Model, path: Path) -> dict[str, float]:
    """Sets the network's weights from `path` and returns the file's metadata."""
    if not path.exists():
        raise ValueError(
            f"`weights_path`: file not found: {path}. Omit `weights_path` to use the weights "
            "shipped with discrepancy, or create the file with "
            "scripts/train_digits_classifier.py."
        )

    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    for layer in network.layers:
        expected = layer.get_weights()
        found = [arrays.get(f"{layer.name}/{index}") for index in range(len(expected))]
        if any(array is None or array.shape != weight.shape for array, weight in zip(found, expected)):
            raise ValueError(
                f"`weights_path`: {path} does not hold weights of this network (layer "
                f"{layer.name!r} is missing or has other shapes); recreate it with "
                "scripts/train_digits_classifier.py."
            )
        if expected:
            layer.set_weights(found)
    return {key[len("meta/"):]: value.item() for key, value in arrays.items() if key.startswith("meta/")}


def _check_value_range(value_range) -> tuple[float, float]:
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise TypeError(
            f"`value_range` must be a pair (low, high) of the pixel values that mean "
            f"background and full ink, got {value_range!r}; for example (0, 16) for "
            "sklearn.datasets.load_digits images or (0, 1) for discrepancy.datasets.stacked_digits."
        )
    low = _validation.as_float(value_range[0], "value_range[0]")
    high = _validation.as_float(value_range[1], "value_range[1]")
    if not low < high:
        raise ValueError(f"`value_range` must have low < high, got {value_range!r}.")
    return low, high


def _check_images(images, name: str, value_range: tuple[float, float]) -> np.ndarray:
    """Validates digit images and returns them as float32 [n, 8, 8, channels] in [0, 1]."""
    if isinstance(images, (tf.Tensor, tf.Variable)):
        images = images.numpy()
    array = np.asarray(images)
    if array.dtype.kind not in "fiu":
        raise TypeError(
            f"`{name}` must be a numeric array of 8x8 digit images, got dtype {array.dtype}."
        )
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:3] != (IMAGE_SIDE, IMAGE_SIDE) or not 1 <= array.shape[3] <= MAX_CHANNELS:
        raise ValueError(
            f"`{name}` must have shape [n, 8, 8] or [n, 8, 8, channels] with 1 to 3 channels "
            f"(one digit per channel), got shape {list(array.shape)}. Reshape flat 64-value "
            "rows with images.reshape(-1, 8, 8)."
        )
    return _validation.scale_images(
        array,
        value_range,
        name,
        "(0, 16) for load_digits, (0, 1) for stacked_digits or (-1, 1) for a tanh generator",
    )


class DigitsClassifier:
    """Features and class probabilities of 8x8 digits from a small pretrained CNN.

    Input convention: images of shape [n, 8, 8] or [n, 8, 8, 1] contain one
    digit each, and [n, 8, 8, c] with c = 2 or 3 one digit per channel (the
    stacked-digit images of `discrepancy.datasets.stacked_digits` have c = 3).
    Dark background is the low end of `value_range` and full ink the high end,
    as in `load_digits`, whose pixels are integers 0..16: pass
    value_range=(0, 16) for those and value_range=(0, 1) for stacked_digits.
    Images are mapped to [0, 1] by (x - low) / (high - low); values outside
    the range raise ValueError rather than being clipped.

    Each channel is classified on its own. For c channels with predicted
    digits (d_1, ..., d_c) the label is the base-10 number d_1 d_2 ... d_c,
    so 100 a + 10 b + c for three channels (1000 classes), and the class
    probabilities are the products p_1(d_1) ... p_c(d_c) of the per-channel
    softmax probabilities (the channels are treated as independent). Features
    are the 64 penultimate-layer ReLU activations of each channel,
    concatenated in channel order, so 64 c values per image.

    Accuracy: 0.9911 (446 of 450) on held-out scans (see the module
    docstring). `test_accuracy` is the value stored with the weights.

    The network runs in float32 (its weights are float32), so every result
    is a float32 NumPy array whatever the input dtype. The rescaling to
    [0, 1] is done in float64 before the cast. Cost: one forward pass of
    about 1.8 MFLOP per channel, in compiled batches of `batch_size` channel
    images, and memory O(n c) beyond one batch.

    Args:
      weights_path: an `.npz` file written by `save_weights`; None loads
        the weights shipped with the package.

    Attributes:
      network: the Keras model, mapping [b, 8, 8, 1] to (features, logits).
      weights_path: the file the weights were read from.
      metadata: the scalars stored with the weights (test_accuracy, num_test,
        seed, epochs, tensorflow_version).
      test_accuracy: held-out accuracy stored with the weights, or None.

    Raises:
      ValueError: the weights file is missing or does not fit the network.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None):
        path = _shipped_weights_path() if weights_path is None else Path(weights_path)
        self.network = build_network()
        self.metadata = _load_weights(self.network, path)
        self.weights_path = path
        self.test_accuracy = self.metadata.get("test_accuracy")
        self._forward = tf.function(self._forward_batch, jit_compile=True)

    def _forward_batch(self, batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features, logits = self.network(batch, training=False)
        return features, tf.nn.softmax(logits)

    def _per_channel(self, images, value_range, batch_size, name="images"):
        """Returns features [n, c, 64] and probabilities [n, c, 10] as float32 NumPy arrays."""
        value_range = _check_value_range(value_range)
        batch_size = _validation.as_int(batch_size, "batch_size", minimum=1)
        scaled = _check_images(images, name, value_range)
        num_images, channels = scaled.shape[0], scaled.shape[3]

        # One channel per row: [n, 8, 8, c] -> [n * c, 8, 8, 1], image-major.
        rows = np.moveaxis(scaled, 3, 1).reshape(num_images * channels, IMAGE_SIDE, IMAGE_SIDE, 1)
        features = np.empty((rows.shape[0], FEATURE_DIM), dtype=np.float32)
        probabilities = np.empty((rows.shape[0], NUM_CLASSES), dtype=np.float32)
        for start in range(0, rows.shape[0], batch_size):
            batch = rows[start : start + batch_size]
            count = batch.shape[0]
            if count < batch_size:
                batch = np.concatenate([batch, np.zeros((batch_size - count,) + batch.shape[1:], np.float32)])
            batch_features, batch_probabilities = self._forward(tf.constant(batch))
            features[start : start + count] = batch_features.numpy()[:count]
            probabilities[start : start + count] = batch_probabilities.numpy()[:count]

        return (
            features.reshape(num_images, channels, FEATURE_DIM),
            probabilities.reshape(num_images, channels, NUM_CLASSES),
        )

    def features(self, images, *, value_range, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Computes penultimate-layer features, [n, 64 c] float32 for c channels."""
        features, _ = self._per_channel(images, value_range, batch_size)
        return features.reshape(features.shape[0], -1)

    def probabilities(self, images, *, value_range, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Computes class probabilities, [n, 10**c] float32 for c channels.

        Column 100 a + 10 b + c of a three-channel result is p_1(a) p_2(b) p_3(c).
        The product is formed in float64, so rows sum to 1 within float32 rounding.
        """
        _, probabilities = self._per_channel(images, value_range, batch_size)
        joint = probabilities[:, 0].astype(np.float64)
        for channel in range(1, probabilities.shape[1]):
            joint = (joint[:, :, None] * probabilities[:, channel, None, :].astype(np.float64))
            joint = joint.reshape(joint.shape[0], -1)
        return joint.astype(np.float32)

    def predict(self, images, *, value_range, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Predicts labels, int64 [n] in [0, 10**c): the channels' digits read as a base-10 number.

        Ties between equally probable digits go to the smaller digit (np.argmax).
        """
        _, probabilities = self._per_channel(images, value_range, batch_size)
        digits = np.argmax(probabilities, axis=2).astype(np.int64)
        place_values = NUM_CLASSES ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
        return digits @ place_values

    def num_classes(self, channels: int) -> int:
        """Returns the number of labels for images with `channels` channels, 10**channels."""
        if not isinstance(channels, numbers.Integral) or not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"`channels` must be 1, 2 or 3, got {channels!r}.")
        return NUM_CLASSES ** int(channels)

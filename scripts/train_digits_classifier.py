"""Train the digits CNN and write the weights file that ships with discrepancy.

Usage, from the repository root:

    .venv/bin/python scripts/train_digits_classifier.py [--out PATH] [--seed 0]

Trains `discrepancy.metrics._digits.build_network()` on the training part of
`train_test_indices` over scikit-learn's 1797 bundled digit scans, reports
the accuracy on the 450 held-out scans, and writes the weights with that
accuracy to PATH (default: the shipped discrepancy/metrics/data/digits_cnn.npz).

Training: Adam (learning rate 1e-3), 60 epochs of mini-batches of 32, each
epoch on freshly shifted copies of the training images (every image moved by
-1, 0 or +1 pixel along each axis, uniformly, with zero fill). Every random
step draws from the seed, and TensorFlow's op determinism is on, so the same
seed, TensorFlow version and CPU give the same weights bit for bit. Needs
scikit-learn (the `test` or `bench` extra).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from discrepancy.datasets._stacked_digits import load_digit_images  # noqa: E402
from discrepancy.metrics import _digits  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "discrepancy" / "metrics" / "data" / "digits_cnn.npz"
EPOCHS = 60
BATCH_SIZE = 32
LEARNING_RATE = 1e-3


def shift_images(images: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Moves each [8, 8] image by -1, 0 or +1 pixel along each axis, filling with zeros."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    offsets = generator.integers(0, 3, size=(images.shape[0], 2))
    shifted = np.empty_like(images)
    for index, (row, column) in enumerate(offsets):
        shifted[index] = padded[index, row : row + 8, column : column + 8]
    return shifted


def train(seed: int) -> tuple[keras.Model, float, int]:
    """Trains the network and returns it with its held-out accuracy and test-set size."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    images, labels = load_digit_images()
    images = images.astype(np.float32)
    train_indices, test_indices = _digits.train_test_indices(labels)

    network = _digits.build_network()
    classify = keras.Model(network.input, network.outputs[1])
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(batch_images, batch_labels):
        with tf.GradientTape() as tape:
            loss = loss_function(batch_labels, classify(batch_images, training=True))
        gradients = tape.gradient(loss, classify.trainable_variables)
        optimizer.apply_gradients(zip(gradients, classify.trainable_variables))
        return loss

    generator = np.random.default_rng(seed)
    train_labels = labels[train_indices]
    for epoch in range(EPOCHS):
        shifted = shift_images(images[train_indices], generator)[..., None]
        order = generator.permutation(train_indices.shape[0])
        losses = []
        # Whole batches only, so the step compiles once; the shuffled
        # remainder (under 32 images) is left out of this epoch.
        for start in range(0, order.shape[0] - BATCH_SIZE + 1, BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            losses.append(float(train_step(tf.constant(shifted[batch]), tf.constant(train_labels[batch]))))
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: mean training loss {np.mean(losses):.4f}", file=sys.stderr)

    logits = classify(images[test_indices][..., None], training=False).numpy()
    correct = int(np.sum(np.argmax(logits, axis=1) == labels[test_indices]))
    return network, correct / test_indices.shape[0], int(test_indices.shape[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"weights file to write (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, shifts and batch order (default: 0)")
    args = parser.parse_args(argv)

    network, accuracy, num_test = train(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _digits.save_weights(
        network, args.out, test_accuracy=accuracy, num_test=num_test, seed=args.seed,
        epochs=EPOCHS, tensorflow_version=tf.__version__,
    )
    print(f"held-out accuracy {accuracy:.4f} on {num_test} scans; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

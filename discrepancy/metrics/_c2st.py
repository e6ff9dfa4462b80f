"""The classifier two-sample test (C2ST) of Lopez-Paz and Oquab (2017)."""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy import special, stats

from discrepancy import _validation

__all__ = ["c2st", "C2STResult"]

DEFAULT_HIDDEN_UNITS = (64, 64)


@dataclasses.dataclass(frozen=True)
class C2STResult:
    """Outcome of a classifier two-sample test; `float(result)` is the held-out accuracy.

    Attributes:
      accuracy: fraction of held-out samples whose set (real or fake) the
        classifier predicts correctly.
      p_value: one-sided exact binomial p-value of H0: accuracy = chance_level,
        against accuracy > chance_level.
      standard_error: sqrt(accuracy (1 - accuracy) / num_test), the binomial
        standard error of `accuracy` given the trained classifier.
      chance_level: accuracy under H0, 1/2 for balanced test sets, otherwise
        the fraction of the larger set in the test part.
      num_correct: correctly classified held-out samples.
      num_test: held-out samples, both sets together.
      num_train: training samples, both sets together.
      num_real: real samples received, n.
      num_fake: fake samples received, m.
      num_real_used: real samples used for training and testing.
      num_fake_used: fake samples used for training and testing.
      test_probabilities: [num_test] float64 NumPy array, the classifier's
        probability that each held-out sample is fake.
      test_labels: [num_test] int64 NumPy array, 1 for fake and 0 for real.
    """

    accuracy: float
    p_value: float
    standard_error: float
    chance_level: float
    num_correct: int
    num_test: int
    num_train: int
    num_real: int
    num_fake: int
    num_real_used: int
    num_fake_used: int
    test_probabilities: np.ndarray = dataclasses.field(repr=False)
    test_labels: np.ndarray = dataclasses.field(repr=False)

    def __float__(self) -> float:
        return self.accuracy

    def to_dict(self) -> dict[str, Any]:
        """Returns the scalar fields as a JSON-ready dict (the per-sample arrays are left out)."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("test_probabilities", "test_labels")
        }


def c2st(
    real,
    fake,
    classifier=None,
    *,
    test_fraction: float = 0.5,
    balance: bool = True,
    seed: int | None = None,
    epochs: int = 50,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
) -> C2STResult:
    """Tests whether `real` and `fake` come from one distribution by training a classifier.

    Real samples get label 0 and fake samples label 1. Each set is split at
    random into a training part and a held-out part of about `test_fraction`
    of it; a classifier f trained on the training parts predicts "fake" for
    a held-out sample z when f(z) > 1/2, and the statistic is its held-out
    accuracy

        t = (1 / n_test) sum_i [ [f(z_i) > 1/2] = l_i ].

    Under H0 (P = Q) the labels are independent of the samples, so no
    classifier beats chance on held-out data: n_test t follows
    Binomial(n_test, 1/2) for a balanced test set. The p-value is the exact
    one-sided binomial tail P(Binomial(n_test, chance) >= n_test t), from
    `scipy.stats.binomtest`; the paper uses the normal approximation
    N(1/2, 1/(4 n_test)) of the same distribution.

    Balance: with `balance=True` (the default) the larger set is subsampled
    without replacement to the size of the smaller, so both sets enter the
    training and test parts in equal numbers and chance is exactly 1/2. With
    `balance=False` every sample is used, and chance is the test-part
    fraction of the larger set: the accuracy of a classifier that always
    predicts the larger set. The test then stays valid, but it is
    conservative for classifiers that do not always predict the larger set.

    Default classifier: a Keras MLP with two hidden layers of 64 ReLU units
    and one logit, in the inputs' dtype, with Glorot-uniform kernels drawn
    from `seed` and zero biases, trained with Adam on the binary
    cross-entropy for `epochs` passes over the training part in shuffled
    mini-batches. Its compiled training step is kept for the 8 most recent
    (d, dtype) pairs, so repeated calls skip the tracing. Inputs are
    standardised per feature with the training part's mean and standard
    deviation (features with zero spread are only centred) before any
    classifier sees them.

    Bias: t estimates the held-out accuracy of the trained classifier, which
    is at most the Bayes accuracy 1/2 + TV(P, Q)/2 for balanced sets, TV
    being the total variation distance. A weak or undertrained classifier
    biases t towards 1/2 and costs power, never validity: the p-value is
    exact whatever the classifier, as long as it never saw the test part.
    Variance: t is binomial given the classifier, with standard error
    sqrt(t (1 - t) / n_test); the split adds variance on top, so repeat over
    seeds to see it.

    Cost of the default classifier: O(epochs * n_train * (d h + h^2))
    time with h = 64, memory O((n + m) d + d h + h^2).

    Args:
      real: real samples, shape [n, d]. Images must be flattened or turned
        into features first.
      fake: generated samples, shape [m, d].
      classifier: None for the default MLP; a Keras model mapping [b, d] to
        one logit per sample ([b] or [b, 1]), which is trained in place from
        its current weights (so its own initialisers decide whether
        `seed` fixes the result); or an object with scikit-learn's
        `fit(X, y)` and `predict_proba(X)`, fitted in place on float64
        inputs, whose own `random_state` controls its randomness.
      test_fraction: fraction of each set held out, in (0, 1).
      balance: subsample the larger set to the size of the smaller.
      seed: seeds the subsampling, the split, the batch order and the
        default classifier's initial weights; the same seed gives the same
        result. None draws a fresh seed.
      epochs: passes over the training part, for Keras classifiers.
      batch_size: samples per gradient step and per prediction batch, for
        Keras classifiers.
      learning_rate: Adam step size, for Keras classifiers.

    Returns:
      A `C2STResult`; `float(result)` is the accuracy.

    Raises:
      ValueError: wrong shapes, non-finite values, too few samples to hold
        out at least one sample of each set and train on at least one, or a
        classifier whose output has the wrong shape.
      TypeError: a classifier that is neither a Keras model nor has
        `fit` and `predict_proba`.

    References:
      D. Lopez-Paz and M. Oquab, "Revisiting classifier two-sample tests",
      ICLR 2017.
    """
    real = _validation.as_samples(real, "real")
    fake = _validation.as_samples(fake, "fake")
    _validation.check_same_dimension(real, fake, "real", "fake")
    dtype = _validation.result_dtype(real, fake).as_numpy_dtype
    test_fraction = _validation.as_float(test_fraction, "test_fraction")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must lie strictly between 0 and 1, got {test_fraction!r}.")
    if not isinstance(balance, (bool, np.bool_)):
        raise TypeError(f"`balance` must be True or False, got {balance!r}.")
    epochs = _validation.as_int(epochs, "epochs", minimum=1)
    batch_size = _validation.as_int(batch_size, "batch_size", minimum=1)
    learning_rate = _validation.as_float(learning_rate, "learning_rate", positive=True)
    seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else _validation.as_int(seed, "seed", minimum=0)
    _check_classifier(classifier)

    generator = np.random.default_rng(seed)
    real_array = real.numpy().astype(dtype)
    fake_array = fake.numpy().astype(dtype)
    num_real, num_fake = real_array.shape[0], fake_array.shape[0]

    # Step 1: subsample to equal sizes, then split each set on its own.
    if balance:
        size = min(num_real, num_fake)
        real_array = real_array[np.sort(generator.permutation(num_real)[:size])]
        fake_array = fake_array[np.sort(generator.permutation(num_fake)[:size])]
    real_train, real_test = _split(real_array, test_fraction, generator, "real")
    fake_train, fake_test = _split(fake_array, test_fraction, generator, "fake")

    train_x = np.concatenate([real_train, fake_train])
    train_y = np.concatenate([np.zeros(len(real_train)), np.ones(len(fake_train))]).astype(dtype)
    test_x = np.concatenate([real_test, fake_test])
    test_y = np.concatenate([np.zeros(len(real_test)), np.ones(len(fake_test))]).astype(np.int64)

    # Step 2: standardise with training statistics only.
    mean = train_x.mean(axis=0, dtype=np.float64)
    scale = train_x.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0
    train_x = ((train_x - mean) / scale).astype(dtype)
    test_x = ((test_x - mean) / scale).astype(dtype)

    # Step 3: train, then predict the held-out part.
    if classifier is None or isinstance(classifier, keras.Model):
        logits = _fit_keras(classifier, train_x, train_y, test_x, epochs, batch_size, learning_rate, generator)
        probabilities = special.expit(logits)
        predictions = (logits > 0).astype(np.int64)
    else:
        probabilities = _fit_scikit_learn(classifier, train_x, train_y, test_x)
        predictions = (probabilities > 0.5).astype(np.int64)

    # Step 4: held-out accuracy and its exact binomial p-value.
    num_test = int(test_y.shape[0])
    num_correct = int(np.sum(predictions == test_y))
    accuracy = num_correct / num_test
    chance = max(len(real_test), len(fake_test)) / num_test
    p_value = float(stats.binomtest(num_correct, num_test, chance, alternative="greater").pvalue)

    return C2STResult(
        accuracy=accuracy,
        p_value=p_value,
        standard_error=math.sqrt(accuracy * (1.0 - accuracy) / num_test),
        chance_level=chance,
        num_correct=num_correct,
        num_test=num_test,
        num_train=int(train_x.shape[0]),
        num_real=num_real,
        num_fake=num_fake,
        num_real_used=int(real_array.shape[0]),
        num_fake_used=int(fake_array.shape[0]),
        test_probabilities=probabilities,
        test_labels=test_y,
    )


def _check_classifier(classifier) -> None:
    if classifier is None or isinstance(classifier, keras.Model):
        return
    if not (callable(getattr(classifier, "fit", None)) and callable(getattr(classifier, "predict_proba", None))):
        raise TypeError(
            f"`classifier` must be None (the default MLP), a keras.Model that outputs one logit "
            f"per sample, or an object with scikit-learn's fit and predict_proba methods; got "
            f"{type(classifier).__name__}."
        )


def _split(samples: np.ndarray, test_fraction: float, generator: np.random.Generator, name: str):
    """Returns (training part, test part) of one set, the test part round(fraction * n) samples."""
    count = samples.shape[0]
    num_test = int(round(test_fraction * count))
    if num_test < 1 or num_test > count - 1:
        raise ValueError(
            f"`{name}` has {count} usable sample(s); with test_fraction={test_fraction} that "
            f"holds out {num_test}, but the test needs at least 1 held-out and 1 training "
            "sample of each set. Pass more samples (at least 2 per set, more for useful "
            "power) or change test_fraction."
        )
    order = generator.permutation(count)
    return samples[np.sort(order[num_test:])], samples[np.sort(order[:num_test])]


class _KerasTrainer:
    """A Keras classifier with an Adam optimizer and its compiled training and prediction steps.

    Both steps accept any batch size, so each traces once per trainer.
    """

    def __init__(self, model: keras.Model, num_features: int, dtype):
        self.model = model
        self.optimizer = keras.optimizers.Adam()
        self.lock = threading.Lock()
        signature = [tf.TensorSpec([None, num_features], dtype)]

        @tf.function(input_signature=signature)
        def logits_of(inputs):
            logits = model(inputs, training=False)
            if logits.shape.rank == 2 and logits.shape[1] == 1:
                logits = tf.reshape(logits, [-1])
            return logits

        @tf.function(input_signature=signature + [tf.TensorSpec([None], dtype)])
        def train_step(inputs, labels):
            with tf.GradientTape() as tape:
                logits = tf.cast(tf.reshape(model(inputs, training=True), [-1]), labels.dtype)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
            gradients = tape.gradient(loss, model.trainable_variables)
            self.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        self.logits_of = logits_of
        self.train_step = train_step

        first = logits_of(tf.zeros([1, num_features], dtype))
        if first.shape.rank != 1:
            raise ValueError(
                f"`classifier` must output one logit per sample, shape [batch] or [batch, 1]; "
                f"got shape {first.shape.as_list()} for one input. End the model with "
                "keras.layers.Dense(1) and no activation."
            )
        self.optimizer.build(model.trainable_variables)

    def reset_optimizer(self, learning_rate: float) -> None:
        """Sets Adam's step counter and moment estimates to zero and its learning rate."""
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
        self.optimizer.learning_rate = learning_rate

    def fit_predict(self, train_x, train_y, test_x, epochs, batch_size, generator) -> np.ndarray:
        """Trains on shuffled mini-batches and returns the held-out logits in float64."""
        for _ in range(epochs):
            order = generator.permutation(train_x.shape[0])
            for start in range(0, order.shape[0], batch_size):
                batch = order[start : start + batch_size]
                self.train_step(tf.constant(train_x[batch]), tf.constant(train_y[batch]))

        pieces = [
            self.logits_of(tf.constant(test_x[start : start + batch_size])).numpy()
            for start in range(0, test_x.shape[0], batch_size)
        ]
        logits = np.concatenate(pieces).astype(np.float64)
        if not np.isfinite(logits).all():
            raise ValueError(
                "`classifier` produced non-finite logits on the held-out samples; lower "
                "learning_rate or check the model."
            )
        return logits


@functools.lru_cache(maxsize=8)
def _default_trainer(num_features: int, dtype_name: str) -> _KerasTrainer:
    """Returns the default MLP's trainer for one input size and dtype, built once and reused.

    Reusing it avoids tracing the training step again on every call, which
    took about a second on a 2-core CPU. `_reset_default_network` gives it
    fresh weights for each call.
    """
    layers = [keras.Input(shape=(num_features,), dtype=dtype_name)]
    for units in DEFAULT_HIDDEN_UNITS:
        layers.append(keras.layers.Dense(units, activation="relu", dtype=dtype_name))
    layers.append(keras.layers.Dense(1, dtype=dtype_name))
    model = keras.Sequential(layers, name="c2st_classifier")
    return _KerasTrainer(model, num_features, dtype_name)


def _reset_default_network(model: keras.Model, generator: np.random.Generator) -> None:
    """Draws Glorot-uniform kernels from `generator` and sets every bias to zero.

    Glorot uniform: entries uniform on [-a, a] with a = sqrt(6 / (fan_in + fan_out)).
    """
    for layer in model.layers:
        kernel, bias = layer.get_weights()
        limit = np.sqrt(6.0 / (kernel.shape[0] + kernel.shape[1]))
        new_kernel = generator.uniform(-limit, limit, size=kernel.shape).astype(kernel.dtype)
        layer.set_weights([new_kernel, np.zeros_like(bias)])


def _fit_keras(classifier, train_x, train_y, test_x, epochs, batch_size, learning_rate, generator) -> np.ndarray:
    """Trains the default MLP (classifier None) or a given Keras model; returns held-out logits."""
    if classifier is None:
        trainer = _default_trainer(train_x.shape[1], train_x.dtype.name)
        with trainer.lock:
            _reset_default_network(trainer.model, generator)
            trainer.reset_optimizer(learning_rate)
            return trainer.fit_predict(train_x, train_y, test_x, epochs, batch_size, generator)

    trainer = _KerasTrainer(classifier, train_x.shape[1], train_x.dtype)
    trainer.reset_optimizer(learning_rate)
    return trainer.fit_predict(train_x, train_y, test_x, epochs, batch_size, generator)


def _fit_scikit_learn(classifier, train_x, train_y, test_x) -> np.ndarray:
    """Fits a scikit-learn style classifier and returns held-out P(fake) in float64."""
    classifier.fit(train_x.astype(np.float64), train_y.astype(np.int64))
    probabilities = np.asarray(classifier.predict_proba(test_x.astype(np.float64)), dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape != (test_x.shape[0], 2):
        raise ValueError(
            f"`classifier.predict_proba` must return shape [{test_x.shape[0]}, 2] (one column "
            f"per class), got {list(probabilities.shape)}."
        )

    classes = list(getattr(classifier, "classes_", [0, 1]))
    if 1 not in classes:
        raise ValueError(f"`classifier.classes_` is {classes!r}; expected the labels 0 (real) and 1 (fake).")
    return probabilities[:, classes.index(1)]

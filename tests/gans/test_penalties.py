"""Tests of the gradient penalty and spectral normalisation against analytic values."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from discrepancy.gans import _penalties

SEED = tf.constant([3, 4], dtype=tf.int64)


def linear_critic(weights):
    """Returns T(x) = <w, x> + 1, whose input gradient is w at every x."""
    weights = tf.constant(weights, tf.float32)

    def critic(samples, training=True):
        axes = list(range(1, samples.shape.rank))
        return tf.reduce_sum(samples * weights, axis=axes)[:, None] + 1.0

    return critic


@pytest.mark.parametrize("sample_shape", [(3,), (1,), (4, 4, 3), (2, 5, 1)])
def test_penalty_linear_critic(sample_shape):
    generator = np.random.default_rng(0)
    weights = generator.normal(size=sample_shape)
    real = generator.normal(size=(6, *sample_shape)).astype(np.float32)
    fake = generator.normal(size=(6, *sample_shape)).astype(np.float32)

    terms = _penalties.gradient_penalty(linear_critic(weights), real, fake, seed=SEED, weight=10.0)
    # The gradient is w everywhere, so every term is 10 (||w|| - 1)^2 with the
    # norm over all of w's axes; float32 rounding only.
    expected = 10.0 * (np.linalg.norm(weights.ravel()) - 1.0) ** 2
    np.testing.assert_allclose(terms.numpy(), np.full(6, expected), rtol=1e-5)


def test_penalty_norm_over_all_axes():
    # Unit weight in each of 3 channels: the full norm is sqrt(3), while a
    # norm over the channel axis alone would be 1 at one pixel and 0 elsewhere.
    weights = np.zeros((4, 4, 3))
    weights[1, 2, :] = 1.0
    real = np.ones((2, 4, 4, 3), np.float32)
    terms = _penalties.gradient_penalty(linear_critic(weights), real, 0 * real, seed=SEED, weight=1.0)
    np.testing.assert_allclose(terms.numpy(), (np.sqrt(3.0) - 1.0) ** 2, rtol=1e-6)


def test_penalty_one_sided():
    small = np.array([0.3, 0.4])  # norm 0.5
    large = np.array([1.2, 1.6])  # norm 2
    real = np.ones((4, 2), np.float32)

    below = _penalties.gradient_penalty(linear_critic(small), real, 0 * real, seed=SEED,
                                        weight=10.0, one_sided=True)
    above = _penalties.gradient_penalty(linear_critic(large), real, 0 * real, seed=SEED,
                                        weight=10.0, one_sided=True)
    two_sided = _penalties.gradient_penalty(linear_critic(small), real, 0 * real, seed=SEED,
                                            weight=10.0)
    np.testing.assert_array_equal(below.numpy(), 0.0)
    np.testing.assert_allclose(above.numpy(), 10.0, rtol=1e-6)
    np.testing.assert_allclose(two_sided.numpy(), 2.5, rtol=1e-6)


def test_penalty_constant_critic_is_lambda():
    critic = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    real = np.random.default_rng(1).normal(size=(8, 5)).astype(np.float32)

    with tf.GradientTape() as tape:
        terms = _penalties.gradient_penalty(critic, real, real[::-1], seed=SEED, weight=10.0)
        penalty = tf.reduce_mean(terms)
    gradients = tape.gradient(penalty, critic.trainable_variables)

    # Zero input gradient: (0 - 1)^2 = 1 per sample, so exactly lambda.
    assert penalty.numpy() == 10.0
    kernel_gradient, bias_gradient = gradients
    assert np.all(np.isfinite(kernel_gradient.numpy()))
    assert bias_gradient is None  # the input gradient does not depend on the bias


def test_penalty_ignored_input_is_lambda():
    def constant(samples, training=True):
        return tf.ones([tf.shape(samples)[0], 1])

    real = np.ones((3, 2), np.float32)
    terms = _penalties.gradient_penalty(constant, real, real, seed=SEED, weight=7.0)
    np.testing.assert_array_equal(terms.numpy(), 7.0)


def test_gradient_norms_safe_at_zero():
    gradients = tf.constant([[0.0, 0.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        tape.watch(gradients)
        norms = _penalties.gradient_norms(gradients)
    derivative = tape.gradient(norms, gradients)

    np.testing.assert_array_equal(norms.numpy(), [0.0, 5.0])
    np.testing.assert_array_equal(derivative.numpy()[0], [0.0, 0.0])
    np.testing.assert_allclose(derivative.numpy()[1], [0.6, 0.8], rtol=1e-6)


def test_interpolation_weights_per_sample():
    # T(x) = ||x||^2 / 2 has gradient x, so with real = e1 and fake = 0 the
    # norm at x_hat = u e1 is u, and each term is (u - 1)^2.
    def quadratic(samples, training=True):
        return 0.5 * tf.reduce_sum(tf.square(samples), axis=[1, 2, 3])

    real = np.zeros((64, 2, 2, 1), np.float32)
    real[:, 0, 0, 0] = 1.0
    terms = _penalties.gradient_penalty(quadratic, real, 0 * real, seed=SEED, weight=1.0)

    recovered = 1.0 - np.sqrt(terms.numpy())
    expected = tf.random.stateless_uniform([64, 1, 1, 1], seed=SEED).numpy().ravel()
    np.testing.assert_allclose(recovered, expected, atol=1e-6)
    assert np.unique(np.round(recovered, 6)).size == 64


def test_penalty_same_seed_same_value():
    weights = np.array([[0.5], [2.0]])
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"),
                               keras.layers.Dense(1)])
    real = np.random.default_rng(2).normal(size=(5, 2)).astype(np.float32)
    fake = real + weights.T
    first = _penalties.gradient_penalty(critic, real, fake, seed=SEED)
    second = _penalties.gradient_penalty(critic, real, fake, seed=SEED)
    other = _penalties.gradient_penalty(critic, real, fake, seed=SEED + 1)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert not np.array_equal(first.numpy(), other.numpy())


def test_penalty_float16_matches_float32():
    data = np.random.default_rng(3).normal(size=(16, 6)).astype(np.float32)
    fake = data[::-1].copy()

    def build(dtype):
        keras.utils.set_random_seed(5)
        return keras.Sequential([
            keras.Input((6,)),
            keras.layers.Dense(32, activation="tanh", dtype=dtype),
            keras.layers.Dense(1, dtype=dtype),
        ])

    reference = _penalties.gradient_penalty(build("float32"), data, fake, seed=SEED)
    half = _penalties.gradient_penalty(build("mixed_float16"), data, fake, seed=SEED,
                                       loss_scale=tf.constant(2.0**15))

    assert half.dtype == tf.float32
    # float16 carries 11 significant bits (relative rounding 5e-4) through two
    # layers; 1e-2 relative allows for accumulation in the 32-unit layer.
    np.testing.assert_allclose(half.numpy(), reference.numpy(), rtol=1e-2, atol=1e-3)


def test_penalty_float16_without_scaling_underflows():
    # Two float16 layers with weights 1e-4 give input gradients of 1e-8,
    # below float16's smallest subnormal (6e-8): they underflow to 0 without
    # loss scaling and are recovered with it.
    tiny = keras.initializers.Constant(1e-4)
    critic = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(1, dtype="mixed_float16", kernel_initializer=tiny),
        keras.layers.Dense(1, dtype="mixed_float16", kernel_initializer=tiny),
    ])
    real = np.ones((2, 4), np.float32)
    unscaled = _penalties.gradient_penalty(critic, real, 0 * real, seed=SEED, weight=1.0, target=0.0)
    scaled = _penalties.gradient_penalty(critic, real, 0 * real, seed=SEED, weight=1.0, target=0.0,
                                         loss_scale=tf.constant(2.0**15))
    np.testing.assert_array_equal(unscaled.numpy(), 0.0)
    # ||grad|| = 2 * 1e-8 over 4 inputs, so the penalty with target 0 is
    # 4e-16. The scale 2^15 keeps the float16 upstream gradient finite, and
    # float16 rounds 1e-4 to 3 significant digits, twice.
    np.testing.assert_allclose(scaled.numpy(), 4e-16, rtol=1e-2)


def test_spectral_normalization_bounds_lipschitz():
    keras.utils.set_random_seed(0)
    critic = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, kernel_initializer="ones"),
                               keras.layers.Dense(1, kernel_initializer="ones")])
    normalized = _penalties.spectrally_normalized(critic)
    samples = tf.random.stateless_normal([32, 3], seed=[1, 2])
    for _ in range(30):  # power iterations converge to the top singular vectors
        normalized(samples, training=True)

    layers = [layer for layer in normalized.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(layers) == 2
    with tf.GradientTape() as tape:
        tape.watch(samples)
        outputs = normalized(samples, training=False)
    norms = _penalties.gradient_norms(tape.gradient(outputs, samples))
    # Each layer has spectral norm 1 after normalisation, so the linear
    # network is 1-Lipschitz; power iteration converges from below, hence the slack.
    assert float(tf.reduce_max(norms)) <= 1.0 + 1e-3


def test_spectral_normalization_rejects_subclassed():
    class Critic(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    with pytest.raises((TypeError, ValueError), match="SpectralNormalization"):
        _penalties.spectrally_normalized(Critic())

"""Tests of the default generator and critic networks."""

import keras
import numpy as np
import pytest

from discrepancy.gans import _networks


def test_mlp_generator_batch_norm_layers():
    generator = _networks.mlp_generator(2, latent_dim=3, hidden_units=(8, 5), batch_norm=True)
    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dense = [layer for layer in generator.layers if isinstance(layer, keras.layers.Dense)]

    assert len(norms) == 2
    assert [layer.units for layer in dense] == [8, 5, 2]
    # Batch normalisation subtracts the batch mean, so a bias before it has no effect.
    assert [layer.use_bias for layer in dense] == [False, False, True]


def test_mlp_generator_batch_norm_output_shape():
    generator = _networks.mlp_generator(4, latent_dim=3, hidden_units=(8,), batch_norm=True)
    samples = generator(np.zeros((5, 3), np.float32), training=True)
    assert tuple(samples.shape) == (5, 4)


def test_mlp_generator_default_has_no_batch_norm():
    generator = _networks.mlp_generator(2)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in generator.layers)


def test_mlp_image_generator_shape_and_range():
    generator = _networks.mlp_image_generator((8, 8, 3), latent_dim=5, hidden_units=(16,))
    noise = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32) * 100.0
    images = generator(noise).numpy()

    assert images.shape == (4, 8, 8, 3)
    assert images.dtype == np.float32
    # The sigmoid bounds every pixel, even for large inputs.
    assert images.min() >= 0.0
    assert images.max() <= 1.0


def test_mlp_image_generator_trains_in_gan():
    from discrepancy import gans

    generator = _networks.mlp_image_generator((4, 4, 2), latent_dim=3, hidden_units=(8,))
    model = gans.GAN(generator, _networks.mlp_critic(hidden_units=(8,)), pack=2, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
    data = np.random.default_rng(1).uniform(size=(64, 4, 4, 2)).astype(np.float32)
    model.fit(data, batch_size=16, epochs=1, steps_per_epoch=2, verbose=0)

    assert model.sample_shape == (4, 4, 2)
    assert model.generate(3, seed=0).shape == (3, 4, 4, 2)


def _leaky_relu(values):
    return np.where(values > 0.0, values, 0.2 * values)


def test_channel_critic_matches_numpy_reference():
    critic = _networks.channel_critic((4, 3), channel_units=(5, 6), joint_units=(7,), outputs=2)
    images = np.random.default_rng(0).uniform(size=(9, 4, 3, 2)).astype(np.float32)
    values = critic(images).numpy()

    kernels = [layer.get_weights() for layer in critic.layers if isinstance(layer, keras.layers.Dense)]
    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = [[np.float64(a) for a in pair] for pair in kernels]
    # One row of 12 pixel values per channel, encoded by the same two layers.
    rows = np.moveaxis(np.float64(images), 3, 1).reshape(9, 2, 12)
    encoded = _leaky_relu(_leaky_relu(rows @ w1 + b1) @ w2 + b2)
    expected = _leaky_relu(encoded.reshape(9, 12) @ w3 + b3) @ w4 + b4

    assert values.shape == (9, 2)
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5)


def test_channel_critic_image_path_matches_numpy():
    critic = _networks.channel_critic((2, 2), channel_units=(3,), image_units=(4,), joint_units=(5,))
    images = np.random.default_rng(2).normal(size=(6, 2, 2, 3)).astype(np.float32)
    values = critic(images).numpy()

    kernels = [layer.get_weights() for layer in critic.layers if isinstance(layer, keras.layers.Dense)]
    (w_channel, b_channel), (w_image, b_image), (w_joint, b_joint), (w_out, b_out) = [
        [np.float64(a) for a in pair] for pair in kernels]
    rows = np.moveaxis(np.float64(images), 3, 1).reshape(6, 3, 4)
    encoded = _leaky_relu(rows @ w_channel + b_channel).reshape(6, 9)
    # The whole-image path reads the pixels in their stored order.
    whole = _leaky_relu(np.float64(images).reshape(6, 12) @ w_image + b_image)
    joint = _leaky_relu(np.concatenate([encoded, whole], axis=1) @ w_joint + b_joint)
    expected = joint @ w_out + b_out

    assert w_image.shape == (12, 4)
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5)


def test_channel_critic_shares_packed_encoder():
    from discrepancy import gans

    generator = _networks.mlp_image_generator((8, 8, 3), latent_dim=4, hidden_units=(8,))
    model = gans.GAN(generator, _networks.channel_critic((8, 8), channel_units=(16,), joint_units=(8,)),
                     pack=2, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
    data = np.random.default_rng(1).uniform(size=(64, 8, 8, 3)).astype(np.float32)
    model.fit(data, batch_size=16, epochs=1, steps_per_epoch=2, verbose=0)

    dense = [layer for layer in model.critic.layers if isinstance(layer, keras.layers.Dense)]
    # One encoder of 64 pixels for all 2 x 3 channels, then the joint layer
    # reads the 6 encodings of 16 values.
    assert dense[0].kernel.shape == (64, 16)
    assert dense[1].kernel.shape == (6 * 16, 8)


def test_channel_critic_rejects_bad_size():
    with pytest.raises(ValueError, match="image_size"):
        _networks.channel_critic((8,))
    critic = _networks.channel_critic((8, 8), channel_units=(4,), joint_units=(4,))
    with pytest.raises(ValueError, match=r"size \(8, 8\), got input shape \(2, 4, 4, 3\)"):
        critic(np.zeros((2, 4, 4, 3), np.float32))

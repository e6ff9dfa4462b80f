"""Tests of ConditionalGAN, InfoGAN and VEEGAN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from discrepancy import datasets, gans
from discrepancy.gans import _callbacks, _networks, _variants

RING = datasets.ring(256, seed=0)


def compiled(model):
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


def finite_history(history):
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name


# ConditionalGAN.


@pytest.mark.parametrize("conditioning", ["concatenate", "projection"])
def test_conditional_smoke(conditioning):
    model = compiled(gans.ConditionalGAN(
        _networks.mlp_generator(2, latent_dim=4 + 8, hidden_units=(16,)),
        _networks.mlp_critic(hidden_units=(16,), outputs=1 if conditioning == "concatenate" else 8),
        num_classes=8, conditioning=conditioning, latent_dim=4, seed=0,
    ))
    history = model.fit(RING.samples, y=RING.labels, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    finite_history(history)
    assert model.generate(6, labels=[0, 1, 2, 3, 4, 5]).shape == (6, 2)


def test_conditional_needs_labels():
    model = compiled(gans.ConditionalGAN(num_classes=8, sample_shape=(2,), seed=0))
    with pytest.raises(ValueError, match="labels"):
        model.fit(RING.samples, batch_size=32, epochs=1, steps_per_epoch=1, verbose=0)


def test_append_condition_images():
    images = tf.zeros([2, 4, 4, 3])
    condition = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    joined = _variants._append_condition(images, condition)
    assert joined.shape == (2, 4, 4, 5)
    np.testing.assert_array_equal(joined[1, 2, 3, 3:].numpy(), [0.0, 1.0])


def mode_generator(means):
    """A generator [noise, one_hot(label)] -> means[label]: perfect per-class output."""
    num_classes, dimension = means.shape
    latent = 3
    layer = keras.layers.Dense(dimension)
    model = keras.Sequential([keras.Input((latent + num_classes,)), layer])
    kernel = np.zeros((latent + num_classes, dimension), np.float32)
    kernel[latent:] = means
    layer.set_weights([kernel, np.zeros(dimension, np.float32)])
    return model


def test_per_class_coverage_perfect_generator():
    model = gans.ConditionalGAN(mode_generator(RING.means), _networks.mlp_critic(hidden_units=(4,)),
                                num_classes=8, latent_dim=3, seed=0)
    results = model.per_class_mode_coverage(RING, samples_per_class=20, class_modes=range(8))

    assert len(results) == 8
    for result in results:
        # Every sample sits exactly on its class's mode.
        assert result["modes_captured"] == 1
        assert result["high_quality_fraction"] == 1.0
        assert result["on_target_fraction"] == 1.0


# InfoGAN.


def test_info_gan_smoke():
    model = compiled(gans.InfoGAN(num_categories=4, num_continuous=2, sample_shape=(2,), seed=0))
    history = model.fit(RING.samples, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    finite_history(history)
    assert "information_penalty" in history.history
    assert model.generate(7, seed=1).shape == (7, 2)
    fixed = model.generate(3, categories=[0, 0, 0], continuous=np.zeros((3, 2)), seed=1)
    np.testing.assert_array_equal(fixed, model.generate(3, categories=[0, 0, 0],
                                                        continuous=np.zeros((3, 2)), seed=1))
    probabilities, means = model.predict_codes(RING.samples[:5])
    assert probabilities.shape == (5, 4)
    assert means.shape == (5, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_information_loss_zero_head():
    model = compiled(gans.InfoGAN(num_categories=4, num_continuous=2, continuous_weight=0.5,
                                  sample_shape=(2,), seed=0))
    model.build_networks()
    model.code_head.set_weights([np.zeros_like(w) for w in model.code_head.get_weights()])

    categories = tf.constant([0, 3, 1])
    continuous = tf.constant([[0.5, -1.0], [0.0, 0.2], [1.0, 1.0]])
    loss = model.information_loss(tf.zeros([3, 2]), {"categories": categories, "continuous": continuous})
    # Zero logits give cross entropy log 4; zero means give 0.5 * 0.5 * mean ||u||^2.
    expected = np.log(4.0) + 0.25 * np.mean(np.sum(continuous.numpy() ** 2, axis=1))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)


def test_info_gan_codes_reach_generator():
    model = compiled(gans.InfoGAN(num_categories=3, num_continuous=1, sample_shape=(2,), seed=0))
    assert model.generator.input_shape == (None, 16 + 3 + 1)
    categories, continuous = model.draw_codes(500, tf.constant([1, 2], tf.int64))
    assert set(np.unique(categories.numpy())) == {0, 1, 2}
    assert continuous.numpy().min() >= -1.0
    assert continuous.numpy().max() <= 1.0


# VEEGAN.


def test_veegan_smoke_and_checkpoint(tmp_path):
    model = compiled(gans.VEEGAN(sample_shape=(2,), seed=0))
    history = model.fit(RING.samples, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    finite_history(history)
    assert "reconstruction_loss" in history.history

    path = _callbacks.CheckpointCallback(tmp_path).save(model)
    names = [name for name, _ in tf.train.list_variables(path)]
    assert any(name.startswith("reconstructor") for name in names)


def test_veegan_reconstruction_loss():
    model = compiled(gans.VEEGAN(sample_shape=(2,), latent_dim=2, seed=0))
    model.build_networks()
    noise = tf.constant([[1.0, 2.0], [0.0, -1.0]])
    fake = tf.constant([[0.3, 0.1], [2.0, 0.5]])
    rebuilt = model.reconstructor(fake).numpy()
    expected = np.mean(np.sum((noise.numpy() - rebuilt) ** 2, axis=1))
    np.testing.assert_allclose(float(model.reconstruction_loss(noise, fake)), expected, rtol=1e-6)


def test_veegan_pairs_shape():
    pairs = gans.VEEGAN.pairs(tf.zeros([3, 4]), tf.ones([3, 8, 8, 3]))
    assert pairs.shape == (3, 4 + 192)


def test_veegan_pairs_scale_sample_half():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(4, 2)).astype(np.float32)
    samples = rng.normal(size=(4, 3, 2)).astype(np.float32)
    expected = np.concatenate([noise, 30.0 * samples.reshape(4, 6)], axis=1)
    np.testing.assert_allclose(gans.VEEGAN.pairs(noise, samples, 30.0).numpy(), expected, rtol=1e-6)


def test_veegan_critic_loss_scales_samples():
    # The critic loss of the GAN divergence's f-GAN game, with data pairs as
    # the positive class and s = 30:
    # mean softplus(-D(F(x), s x)) + mean softplus(D(z, s G(z))) - log 4.
    model = compiled(gans.VEEGAN(sample_shape=(2,), latent_dim=2, sample_scale=30.0, seed=0))
    model.build_networks()
    real = tf.constant(RING.samples[:8])
    seed = tf.constant([5, 7], tf.int64)
    noise = model.draw_noise(8, seed).numpy()
    fake = model.generator(noise).numpy()
    data_logits = model.critic(np.concatenate([model.reconstructor(real).numpy(), 30.0 * RING.samples[:8]], 1))
    fake_logits = model.critic(np.concatenate([noise, 30.0 * fake], 1))
    data_term = np.mean(np.logaddexp(0.0, -data_logits.numpy().astype(np.float64)))
    fake_term = np.mean(np.logaddexp(0.0, fake_logits.numpy().astype(np.float64)))
    expected = data_term + fake_term - np.log(4.0)
    terms = model.critic_step(real, seed)
    np.testing.assert_allclose(float(terms["loss"]), expected, rtol=1e-5)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_veegan_rejects_invalid_sample_scale(scale):
    with pytest.raises(ValueError, match="sample_scale"):
        gans.VEEGAN(sample_shape=(2,), sample_scale=scale)


def test_veegan_rejects_ipm():
    with pytest.raises(ValueError, match="f-divergence"):
        gans.VEEGAN(sample_shape=(2,), divergence="wasserstein")

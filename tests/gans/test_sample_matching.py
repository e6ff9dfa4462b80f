"""Tests of the sample-matching term that GAN adds to the generator loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from discrepancy import datasets, gans
from discrepancy.gans import _networks

DATA = datasets.grid(256, seed=0).samples


def matching_gan(model_class=gans.GAN, **options):
    """Returns a small compiled model with an MMD sample-matching term."""
    keras.utils.set_random_seed(3)
    generator = _networks.mlp_generator(2, latent_dim=4, hidden_units=(16,))
    critic = _networks.mlp_critic(hidden_units=(16,))
    options.setdefault("sample_matching", gans.MMDObjective(bandwidth=(0.5, 2.0)))
    model = model_class(generator, critic, seed=3, **options)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


def test_loss_is_weighted_mmd_on_first_samples(reference_mmd2):
    model = matching_gan(sample_matching_weight=3.0, sample_matching_size=40)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(64, 2)).astype(np.float32)
    fake = (rng.normal(size=(64, 2)) + 0.7).astype(np.float32)

    value = float(model.sample_matching_loss(real, fake, step=0))

    expected = 3.0 * reference_mmd2(real[:40], fake[:40], (0.5, 2.0))
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_linear_decay_reaches_zero_and_stops_gradients():
    model = matching_gan(sample_matching_weight=8.0, sample_matching_decay_steps=100)
    weights = [float(model.sample_matching_weight_at(step)) for step in (0, 25, 50, 100, 500)]
    np.testing.assert_allclose(weights, [8.0, 6.0, 4.0, 0.0, 0.0])

    real = tf.constant(DATA[:32])
    fake = tf.Variable(DATA[32:64] + 0.5)
    with tf.GradientTape() as tape:
        value = model.sample_matching_loss(real, fake, step=100)
    assert float(value) == 0.0
    np.testing.assert_array_equal(tape.gradient(value, fake, unconnected_gradients="zero"), 0.0)


def test_decay_ends_at_final_weight():
    model = matching_gan(sample_matching_weight=8.0, sample_matching_decay_steps=100,
                         sample_matching_final_weight=2.0)
    weights = [float(model.sample_matching_weight_at(step)) for step in (0, 50, 100, 500)]
    np.testing.assert_allclose(weights, [8.0, 5.0, 2.0, 2.0])
    assert model.settings()["sample_matching"]["final_weight"] == 2.0


def test_callable_weight_is_a_schedule():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([10], [5.0, 1.0])
    model = matching_gan(sample_matching_weight=schedule)
    assert float(model.sample_matching_weight_at(3)) == 5.0
    assert float(model.sample_matching_weight_at(20)) == 1.0
    assert model.settings()["sample_matching"]["weight"]["schedule"] == "PiecewiseConstantDecay"


def test_training_logs_the_term_and_its_decay():
    model = matching_gan(divergence="gan", pack=2, sample_matching_weight=50.0,
                         sample_matching_decay_steps=4)
    history = model.fit(DATA, batch_size=32, epochs=6, steps_per_epoch=1, verbose=0)

    matching = history.history["sample_matching"]
    assert all(np.isfinite(matching))
    assert matching[0] != 0.0
    # Steps 4 and 5 have weight 0.
    assert matching[4:] == [0.0, 0.0]
    settings = model.settings()["sample_matching"]
    assert settings["decay_steps"] == 4
    assert settings["weight"] == 50.0
    assert settings["divergence"]["bandwidth"] == [0.5, 2.0]


def test_gradient_step_lowers_mmd(reference_mmd2):
    # Gradient descent on the generated points themselves must lower the
    # float64 reference MMD: a check of the term's gradient and its sign.
    model = matching_gan(sample_matching_weight=1.0, sample_matching_size=None)
    real = tf.constant(DATA[:128])
    fake = tf.Variable(np.random.default_rng(1).normal(size=(128, 2)).astype(np.float32))
    before = reference_mmd2(DATA[:128], fake.numpy(), (0.5, 2.0))

    for _ in range(20):
        with tf.GradientTape() as tape:
            value = model.sample_matching_loss(real, fake, step=0)
        fake.assign_sub(2.0 * tape.gradient(value, fake) * 128)

    after = reference_mmd2(DATA[:128], fake.numpy(), (0.5, 2.0))
    assert after < 0.5 * before


def test_veegan_adds_the_term():
    model = matching_gan(gans.VEEGAN, sample_matching="energy", sample_matching_weight=2.0)
    history = model.fit(DATA, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    assert np.all(np.isfinite(history.history["sample_matching"]))
    assert history.history["sample_matching"][-1] > 0.0


@pytest.mark.parametrize("options, error, message", [
    ({"sample_matching": "gan"}, ValueError, "raw samples"),
    ({"sample_matching": "mmd-gan"}, ValueError, "raw samples"),
    ({"sample_matching": "mmd", "sample_matching_weight": -1.0}, ValueError, "sample_matching_weight"),
    ({"sample_matching": "mmd", "sample_matching_weight": "big"}, TypeError, "sample_matching_weight"),
    ({"sample_matching": "mmd", "sample_matching_weight": lambda step: 1.0,
      "sample_matching_decay_steps": 10}, ValueError, "sample_matching_decay_steps"),
    ({"sample_matching": "mmd", "sample_matching_decay_steps": 0}, ValueError, "sample_matching_decay_steps"),
    ({"sample_matching": "mmd", "sample_matching_size": 1}, ValueError, "sample_matching_size"),
    ({"sample_matching": "mmd", "sample_matching_final_weight": 1.0}, ValueError,
     "sample_matching_decay_steps"),
    ({"sample_matching": "mmd", "sample_matching_decay_steps": 5, "sample_matching_final_weight": -1.0},
     ValueError, "sample_matching_final_weight"),
    ({"sample_matching": "mmd", "sample_matching_weight": lambda step: 1.0,
      "sample_matching_final_weight": 1.0}, ValueError, "sample_matching_final_weight"),
])
def test_rejects_bad_options(options, error, message):
    with pytest.raises(error, match=message):
        matching_gan(**options)


def test_loss_without_term_is_an_error():
    model = matching_gan(sample_matching=None)
    with pytest.raises(ValueError, match="sample_matching"):
        model.sample_matching_loss(DATA[:4], DATA[4:8], step=0)
    assert model.settings()["sample_matching"] is None


def test_xla_train_step_with_matching():
    model = gans.GAN(_networks.mlp_generator(2, latent_dim=4, hidden_units=(8,)),
                     _networks.mlp_critic(hidden_units=(8,)), seed=0, sample_matching="mmd",
                     sample_matching_weight=1.0, sample_matching_decay_steps=1)
    model.compile(jit_compile=True)
    history = model.fit(DATA, batch_size=32, epochs=3, steps_per_epoch=1, verbose=0)
    assert model.jit_compile
    assert history.history["sample_matching"][0] > 0.0
    assert history.history["sample_matching"][1:] == [0.0, 0.0]

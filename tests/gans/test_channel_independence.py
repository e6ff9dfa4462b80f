"""Tests of the channel-independence term that GAN adds to the generator loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from discrepancy import gans
from discrepancy.gans import _networks
from discrepancy.gans._gan import roll_channels

BANDWIDTHS = (2.0, 4.0)


def independence_gan(model_class=gans.GAN, sample_shape=(2, 2, 3), **options):
    """Returns a small compiled image model with a channel-independence term."""
    keras.utils.set_random_seed(5)
    generator = _networks.mlp_image_generator(sample_shape, latent_dim=4, hidden_units=(16,))
    critic = _networks.mlp_critic(hidden_units=(16,))
    options.setdefault("channel_independence", gans.MMDObjective(bandwidth=BANDWIDTHS))
    model = model_class(generator, critic, seed=5, **options)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


def reference_shuffle(samples):
    """Channel c of row i taken from row i - c, written with a loop over rows."""
    out = np.empty_like(samples)
    b = len(samples)
    for i in range(b):
        for c in range(samples.shape[-1]):
            out[i, ..., c] = samples[(i - c) % b, ..., c]
    return out


def coin_images(num_rows, tied, seed):
    """2x2 images with 3 channels, each channel a constant +-1 picked by a fair coin.

    With `tied`, one coin per image sets all three channels. Otherwise each
    channel has its own coin.
    """
    rng = np.random.default_rng(seed)
    coins = rng.choice([-1.0, 1.0], size=(num_rows, 1 if tied else 3))
    coins = np.broadcast_to(coins, (num_rows, 3))
    return np.broadcast_to(coins[:, None, None, :], (num_rows, 2, 2, 3)).astype(np.float32)


def test_roll_matches_loop():
    samples = np.random.default_rng(0).normal(size=(7, 2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(roll_channels(samples).numpy(), reference_shuffle(samples))


def test_loss_is_weighted_mmd_to_shuffled_batch(reference_mmd2):
    model = independence_gan(channel_independence_weight=2.5)
    fake = np.random.default_rng(1).normal(size=(48, 2, 2, 3)).astype(np.float32)
    fake[:, :, :, 1] += 0.8 * fake[:, :, :, 0]  # channels 0 and 1 dependent

    value = float(model.channel_independence_loss(fake))

    expected = 2.5 * reference_mmd2(reference_shuffle(fake), fake, BANDWIDTHS)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_tied_channels_give_closed_form():
    # Each channel is a constant +-1 over 4 pixels, so two images at Hamming
    # distance h (channels that differ) are 16 h apart in squared distance.
    # With one bandwidth of 4 the kernel is exp(-h / 2). Tied channels put
    # half the mass on h = 0 and half on h = 3. The product law and the
    # cross term have h ~ Binomial(3, 1/2). So the population value is
    # MMD^2 = (1 + exp(-3/2)) / 2 - ((1 + exp(-1/2)) / 2)^3 = 0.0933.
    model = independence_gan(channel_independence=gans.MMDObjective(bandwidth=4.0),
                             channel_independence_weight=1.0)
    expected = (1.0 + np.exp(-1.5)) / 2.0 - ((1.0 + np.exp(-0.5)) / 2.0) ** 3

    tied = float(model.channel_independence_loss(coin_images(2000, tied=True, seed=2)))
    independent = float(model.channel_independence_loss(coin_images(2000, tied=False, seed=3)))

    assert abs(tied - expected) < 0.01
    assert abs(independent) < 0.01


def test_gradient_steps_untie_channels(reference_mmd2):
    # Gradient descent on the generated images themselves must lower the
    # float64 reference value: a check of the term's gradient and its sign.
    model = independence_gan(channel_independence_weight=1.0)
    start = coin_images(96, tied=True, seed=4) + np.random.default_rng(4).normal(
        scale=0.3, size=(96, 2, 2, 3)).astype(np.float32)
    fake = tf.Variable(start)
    before = reference_mmd2(reference_shuffle(start), start, BANDWIDTHS)

    for _ in range(30):
        with tf.GradientTape() as tape:
            value = model.channel_independence_loss(fake)
        fake.assign_sub(5.0 * tape.gradient(value, fake) * 96)

    after = reference_mmd2(reference_shuffle(fake.numpy()), fake.numpy(), BANDWIDTHS)
    assert after < 0.5 * before


@pytest.mark.parametrize("model_class", [gans.GAN, gans.VEEGAN])
def test_training_logs_the_term(model_class):
    model = independence_gan(model_class, channel_independence_weight=3.0)
    data = coin_images(64, tied=False, seed=6)
    history = model.fit(data, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    logged = history.history["channel_independence"]
    assert np.all(np.isfinite(logged))
    assert logged[-1] != 0.0


def test_settings_record_the_term():
    settings = independence_gan(channel_independence_weight=7.0).settings()["channel_independence"]
    assert settings["weight"] == 7.0
    assert settings["divergence"]["bandwidth"] == list(BANDWIDTHS)


def test_no_term_by_default():
    model = independence_gan(channel_independence=None)
    assert model.settings()["channel_independence"] is None
    with pytest.raises(ValueError, match="channel_independence='mmd'"):
        model.channel_independence_loss(tf.zeros((4, 2, 2, 3)))


@pytest.mark.parametrize("options, error, message", [
    ({"channel_independence": "gan"}, ValueError, "`channel_independence` must be a discrepancy"),
    ({"channel_independence": "mmd-gan"}, ValueError, "`channel_independence` must be a discrepancy"),
    ({"channel_independence_weight": -1.0}, ValueError, "channel_independence_weight"),
    ({"channel_independence_weight": "big"}, TypeError, "channel_independence_weight"),
    ({"sample_shape": (4, 4, 1)}, ValueError, r"at least 2 channels.*\(4, 4, 1\)"),
    ({"sample_shape": (6,)}, ValueError, r"at least 2 channels.*\(6,\)"),
])
def test_rejects_bad_options(options, error, message):
    sample_shape = options.pop("sample_shape", (2, 2, 3))
    options.setdefault("channel_independence", "mmd")
    with pytest.raises(error, match=message):
        gans.GAN(sample_shape=sample_shape, latent_dim=4, **options)

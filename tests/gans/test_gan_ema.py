"""Tests of the exponential moving average (EMA) of the generator's weights in `GAN`."""

import keras
import numpy as np
import pytest

from discrepancy import datasets, gans
from discrepancy.gans import _callbacks, _networks

DATA = datasets.grid(256, seed=0).samples


def small_gan(*, ema_decay=0.9, seed=1, batch_norm=False, jit_compile=False, **options):
    """Returns a GAN with one hidden layer of 16 units in each network."""
    generator = _networks.mlp_generator(2, latent_dim=4, hidden_units=(16,), batch_norm=batch_norm)
    critic = _networks.mlp_critic(hidden_units=(16,))
    model = gans.GAN(generator, critic, seed=seed, ema_decay=ema_decay, **options)
    model.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
    return model


def train(model, steps, *, callbacks=None, steps_per_epoch=None):
    per_epoch = steps_per_epoch or steps
    return model.fit(DATA, batch_size=32, epochs=steps // per_epoch, steps_per_epoch=per_epoch,
                     callbacks=callbacks, verbose=0)


class RecordGeneratorWeights(keras.callbacks.Callback):
    """Stores the generator's weights after every step."""

    def __init__(self):
        super().__init__()
        self.history = []

    def on_train_batch_end(self, batch, logs=None):
        self.history.append([variable.numpy() for variable in self.model.generator.variables])


@pytest.mark.parametrize("decay,batch_norm,jit_compile", [(0.0, False, False), (0.9, False, False), (0.9, True, True)])
def test_ema_equals_average_of_sequence(decay, batch_norm, jit_compile):
    model = small_gan(ema_decay=decay, batch_norm=batch_norm, jit_compile=jit_compile)
    model.build_networks()
    initial = [variable.numpy() for variable in model.generator.variables]
    recorder = RecordGeneratorWeights()
    train(model, 6, callbacks=[recorder])

    # Reference: a_0 = w_0 and a_t = d a_{t-1} + (1 - d) w_t in float64 NumPy.
    expected = [value.astype(np.float64) for value in initial]
    for weights in recorder.history:
        expected = [decay * average + (1 - decay) * value for average, value in zip(expected, weights)]

    assert len(recorder.history) == 6
    assert len(model.ema_weights) == len(initial)
    for average, reference in zip(model.ema_weights, expected):
        # Six float32 updates of values of order 1: rounding stays near 1e-7.
        np.testing.assert_allclose(average.numpy(), reference, rtol=1e-5, atol=1e-6)


def test_ema_differs_from_weights():
    model = small_gan(ema_decay=0.9)
    train(model, 4)
    trained = model.generator.variables[0].numpy()
    assert not np.allclose(model.ema_weights[0].numpy(), trained)


def test_generate_uses_ema():
    model = small_gan(ema_decay=0.9)
    train(model, 4)
    averaged = model.generate(50, seed=2)
    trained = model.generate(50, seed=2, use_ema=False)

    # Reference: a copy of the generator holding the averaged weights.
    copy = keras.models.clone_model(model.generator)
    for variable, average in zip(copy.variables, model.ema_weights):
        variable.assign(average.value)
    noise = model._noise_for_sampling(50, gans._gan._fold(np.array([2, 0], np.int64), 0))
    np.testing.assert_allclose(averaged, copy(noise, training=False).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(trained, model.generator(noise, training=False).numpy())
    assert not np.allclose(averaged, trained)


def test_generate_restores_trained_weights():
    model = small_gan(ema_decay=0.9)
    train(model, 3)
    before = [variable.numpy() for variable in model.generator.variables]
    model.generate(10, seed=0)
    for a, b in zip(before, model.generator.variables):
        np.testing.assert_array_equal(a, b.numpy())


def test_resume_keeps_ema(tmp_path):
    reference = small_gan(ema_decay=0.7, seed=3)
    reference.build_networks()
    interrupted = small_gan(ema_decay=0.7, seed=3)
    interrupted.build_networks()
    for source, target in zip(reference.generator.variables + reference.critic.variables + reference.ema_weights,
                              interrupted.generator.variables + interrupted.critic.variables
                              + interrupted.ema_weights):
        target.assign(source.value)

    train(reference, 6, steps_per_epoch=3)
    checkpoints = _callbacks.CheckpointCallback(tmp_path)
    train(interrupted, 3, steps_per_epoch=3, callbacks=[checkpoints])

    resumed = small_gan(ema_decay=0.7, seed=3)
    assert _callbacks.CheckpointCallback(tmp_path).restore(resumed) == 3
    train(resumed, 6, steps_per_epoch=3)
    for a, b in zip(reference.ema_weights, resumed.ema_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_settings_record_ema_decay():
    assert small_gan(ema_decay=0.99).settings()["ema_decay"] == 0.99
    assert small_gan(ema_decay=None).settings()["ema_decay"] is None


@pytest.mark.parametrize("decay", [1.0, -0.1, 2.0])
def test_ema_decay_out_of_range(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        small_gan(ema_decay=decay)


def test_ema_decay_wrong_type():
    with pytest.raises(TypeError, match="ema_decay"):
        small_gan(ema_decay="0.9")


def test_use_ema_without_average():
    model = small_gan(ema_decay=None)
    train(model, 1)
    assert model.ema_weights == []
    with pytest.raises(ValueError, match="ema_decay"):
        model.generate(5, use_ema=True)


def test_conditional_generate_uses_ema():
    model = gans.ConditionalGAN(num_classes=2, sample_shape=(2,), latent_dim=4, seed=0, ema_decay=0.5)
    model.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2), jit_compile=False)
    labels = np.arange(64) % 2
    model.fit(datasets.grid(64, seed=0).samples, labels, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    averaged = model.generate(8, seed=1)

    # References: the same call with the average switched off, on the trained
    # weights and on the averaged weights copied into the generator.
    pairs, model._ema_pairs = model._ema_pairs, []
    trained = model.generate(8, seed=1)
    for variable, average in pairs:
        variable.assign(average.value)
    manual = model.generate(8, seed=1)
    model._ema_pairs = pairs

    np.testing.assert_array_equal(averaged, manual)
    assert not np.allclose(averaged, trained)

"""Tests of the GAN trainer: every divergence trains, seeds reproduce, checkpoints resume exactly."""

import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from discrepancy import datasets, gans
from discrepancy.gans import _callbacks, _networks, _objectives

DATA = datasets.ring(256, seed=0).samples


def small_gan(divergence="gan", *, seed=1, critic_outputs=1, **options):
    """Returns a GAN with one hidden layer of 16 units in each network."""
    generator = _networks.mlp_generator(2, latent_dim=4, hidden_units=(16,))
    critic = _networks.mlp_critic(hidden_units=(16,), outputs=critic_outputs)
    model = gans.GAN(generator, critic, divergence=divergence, seed=seed, **options)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


def weights_of(model):
    critic_variables = model.critic.variables if model.critic else []
    return [v.numpy() for v in model.generator.variables + critic_variables]


def train(model, steps, *, callbacks=None, steps_per_epoch=None):
    per_epoch = steps_per_epoch or steps
    return model.fit(DATA, batch_size=32, epochs=steps // per_epoch, steps_per_epoch=per_epoch,
                     callbacks=callbacks, verbose=0)


def _has_module(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


_F_NAMES = ["gan", "kl", "reverse-kl", "pearson", "neyman", "squared-hellinger", "jeffreys",
            "jensen-shannon", "total-variation"]
_IPM_NAMES = ["wasserstein", "wasserstein-gp-one-sided", "wasserstein-sn"]


@pytest.mark.parametrize("divergence", _F_NAMES + _IPM_NAMES)
def test_divergence_smoke(divergence):
    model = small_gan(divergence)
    model.build_networks()
    before = weights_of(model)
    history = train(model, 3)

    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    after = weights_of(model)
    critic_kernel = len(model.generator.variables)  # first critic kernel
    assert not np.array_equal(before[0], after[0])  # first generator kernel
    assert not np.array_equal(before[critic_kernel], after[critic_kernel])
    assert model.step == 3


def test_alpha_divergence_object_smoke():
    from discrepancy.divergences._f_divergences import f_divergence

    model = small_gan(f_divergence("alpha", alpha_order=0.5))
    history = train(model, 2)
    assert np.isfinite(history.history["generator_loss"][-1])
    assert model.objective.name == f_divergence("alpha", alpha_order=0.5).name


@pytest.mark.parametrize("divergence,core", [
    ("mmd", "discrepancy.divergences._mmd"),
    ("mmd-gan", "discrepancy.divergences._mmd"),
    ("energy", "discrepancy.divergences._energy"),
    ("sinkhorn", "discrepancy.divergences._sinkhorn"),
])
def test_sample_divergence_smoke(divergence, core):
    if not _has_module(core):
        pytest.skip(f"{core} is not available")
    model = small_gan(divergence, critic_outputs=8)
    model.build_networks()
    before = weights_of(model)
    history = train(model, 3)

    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert not np.array_equal(before[0], weights_of(model)[0])


def test_gan_objective_is_original():
    # The f-GAN game for `gan` is E_P[log D] + E_Q[log(1 - D)], D = sigmoid(v).
    objective = _objectives.resolve_objective("gan")
    v_real = tf.constant([0.3, -1.2, 2.0])
    v_fake = tf.constant([-0.5, 0.7])

    def critic(samples, training=True):
        return samples

    terms = objective.critic_loss(critic, v_real, v_fake, seed=tf.constant([0, 0], tf.int64))
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-np.asarray(v, np.float64)))  # noqa: E731
    # The catalogue normalises f(1) = 0, which adds the constant log 4.
    bound = np.mean(np.log(sigmoid(v_real))) + np.mean(np.log(1.0 - sigmoid(v_fake))) + np.log(4.0)
    np.testing.assert_allclose(float(terms["bound"]), bound, rtol=1e-6)
    np.testing.assert_allclose(float(terms["loss"]), -bound, rtol=1e-6)

    non_saturating = objective.generator_loss(critic, v_real, v_fake)
    np.testing.assert_allclose(float(non_saturating), -np.mean(np.log(sigmoid(v_fake))), rtol=1e-6)
    saturating = _objectives.FGANObjective("gan", non_saturating=False).generator_loss(critic, v_real, v_fake)
    np.testing.assert_allclose(float(saturating), np.mean(np.log(1.0 - sigmoid(v_fake))) + np.log(4.0),
                               rtol=1e-6)


@pytest.mark.parametrize("name", _F_NAMES)
def test_f_objective_uses_catalogue_bound(name):
    from discrepancy.divergences._f_divergences import f_divergence

    divergence = f_divergence(name)
    objective = _objectives.FGANObjective(divergence)
    v_real = tf.constant([0.1, -0.4, 0.9])
    v_fake = tf.constant([0.2, -0.3])
    terms = objective.critic_loss(lambda s, training=True: s, v_real, v_fake,
                                  seed=tf.constant([0, 0], tf.int64))
    np.testing.assert_allclose(float(terms["bound"]), float(divergence.lower_bound(v_real, v_fake)),
                               rtol=1e-6)


def test_wasserstein_linear_critic_estimate():
    objective = _objectives.WassersteinObjective()
    real = tf.constant([[1.0, 0.0], [3.0, 0.0]])
    fake = tf.constant([[0.0, 0.0], [0.0, 0.0]])

    def critic(samples, training=True):
        return samples[:, :1]  # T(x) = x_1, gradient (1, 0): 1-Lipschitz

    terms = objective.critic_loss(critic, real, fake, seed=tf.constant([0, 0], tf.int64))
    assert float(terms["estimate"]) == 2.0  # E_P[x_1] - E_Q[x_1]
    assert float(terms["penalty"]) == 0.0  # gradient norm exactly 1
    assert float(terms["loss"]) == -2.0


def test_resolve_objective_rejects_unknown():
    with pytest.raises(ValueError, match="divergence"):
        gans.GAN(divergence="not-a-divergence", sample_shape=(2,))
    with pytest.raises(TypeError, match="divergence"):
        gans.GAN(divergence=3.0, sample_shape=(2,))


def test_same_seed_same_weights():
    # Keras draws initial weights from its global seed; the GAN seed drives
    # everything after that.
    keras.utils.set_random_seed(0)
    first = small_gan(seed=5)
    first.build_networks()
    keras.utils.set_random_seed(0)
    second = small_gan(seed=5)
    second.build_networks()
    train(first, 4)
    train(second, 4)
    for a, b in zip(weights_of(first), weights_of(second)):
        np.testing.assert_array_equal(a, b)


def test_different_seed_different_noise():
    first, second = small_gan(seed=5), small_gan(seed=6)
    seed = tf.constant([1, 2], tf.int64)
    noise_first = first.draw_noise(4, first.seed_state.value + seed)
    noise_second = second.draw_noise(4, second.seed_state.value + seed)
    assert not np.array_equal(noise_first.numpy(), noise_second.numpy())


def test_generate_reproducible():
    model = small_gan()
    np.testing.assert_array_equal(model.generate(10, seed=3), model.generate(10, seed=3))
    assert model.generate(10, seed=3).shape == (10, 2)


def _copy_initial_weights(source, target):
    for a, b in zip(source.generator.variables + source.critic.variables,
                    target.generator.variables + target.critic.variables):
        b.assign(a)


class StopAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.stop_step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.model.step >= self.stop_step:
            self.model.stop_training = True


@pytest.mark.parametrize("divergence", ["wasserstein", "gan"])
def test_resume_equals_uninterrupted(tmp_path, divergence):
    reference = small_gan(divergence, seed=3)
    reference.build_networks()
    interrupted = small_gan(divergence, seed=3)
    interrupted.build_networks()
    _copy_initial_weights(reference, interrupted)

    train(reference, 12, steps_per_epoch=6)

    # Stop mid-epoch, after 4 of 12 steps, with a checkpoint every 2 steps.
    checkpoints = _callbacks.CheckpointCallback(tmp_path, every_steps=2)
    train(interrupted, 12, steps_per_epoch=6, callbacks=[checkpoints, StopAtStep(4)])
    assert interrupted.step == 4

    resumed = small_gan(divergence, seed=3)
    assert _callbacks.CheckpointCallback(tmp_path).restore(resumed) == 4
    train(resumed, 12, steps_per_epoch=6)

    assert resumed.step == 12
    for a, b in zip(weights_of(reference), weights_of(resumed)):
        np.testing.assert_array_equal(a, b)
    assert int(reference.g_optimizer.iterations.numpy()) == int(resumed.g_optimizer.iterations.numpy())


def test_checkpoint_holds_seed_and_optimizers(tmp_path):
    model = small_gan(seed=9)
    train(model, 2)
    path = _callbacks.CheckpointCallback(tmp_path).save(model)
    names = [name for name, _ in tf.train.list_variables(path)]
    assert any(name.startswith("seed_state") for name in names)
    assert any(name.startswith("g_optimizer") for name in names)
    assert any(name.startswith("d_optimizer") for name in names)
    assert any(name.startswith("critic") for name in names)


class SendSignal(keras.callbacks.Callback):
    def __init__(self, signum, step):
        super().__init__()
        self.signum = signum
        self.at_step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.model.step == self.at_step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum,error", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)])
def test_signal_saves_checkpoint(tmp_path, signum, error):
    model = small_gan()
    checkpoints = _callbacks.CheckpointCallback(tmp_path)
    previous = signal.getsignal(signum)
    with pytest.raises(error):
        train(model, 20, callbacks=[checkpoints, SendSignal(signum, 2)])

    assert model.step == 2  # the step in flight finishes, then training stops
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    assert signal.getsignal(signum) is previous


class LogsSeen(keras.callbacks.Callback):
    """Keeps the logs of every batch end that reaches it."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({name: float(np.asarray(value).reshape(-1)[0]) for name, value in logs.items()})


def test_fit_stops_at_nonfinite_loss(overflowing_gan):
    model = overflowing_gan()
    seen = LogsSeen()
    with pytest.raises(gans.TrainingDivergedError, match="diverged at generator step 1:") as stopped:
        train(model, 50, callbacks=[seen])

    error = stopped.value
    assert error.step == 1
    assert model.step == 1
    assert error.name in {"critic_loss", "bound", "generator_loss"}
    assert not np.isfinite(error.value)
    # The user's callbacks never see the broken step.
    assert seen.logs == []


def test_fit_without_check_finite_runs_on(overflowing_gan):
    model = overflowing_gan()
    model.fit(DATA, batch_size=32, epochs=1, steps_per_epoch=50, verbose=0, check_finite=False)
    assert model.step == 50
    assert not np.all(np.isfinite(model.generate(16)))


def test_pack_builds_packed_critic():
    model = small_gan(pack=4)
    train(model, 2)
    # The first Dense layer after Flatten sees 4 samples of 2 features.
    dense = [layer for layer in model.critic.layers if isinstance(layer, keras.layers.Dense)][0]
    assert dense.kernel.shape[0] == 8


def test_pack_clones_built_critic():
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model = gans.GAN(_networks.mlp_generator(2, latent_dim=4, hidden_units=(8,)), critic, pack=3, seed=0)
    assert model.critic is not critic
    assert model.critic.input_shape == (None, 6)


def test_pack_rejects_batch_not_multiple():
    model = small_gan(pack=3)
    with pytest.raises(ValueError, match="multiple of pack"):
        model.fit(DATA, batch_size=32, epochs=1, verbose=0)


def test_fit_rejects_wrong_shape():
    model = small_gan()
    with pytest.raises(ValueError, match="shape"):
        model.fit(np.zeros((64, 3), np.float32), batch_size=32, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((64, 2), np.nan, np.float32), batch_size=32, verbose=0)


@pytest.mark.parametrize("divergence, loss", [("wasserstein", "critic_loss"), ("mmd", "generator_loss")])
def test_xla_train_step(divergence, loss):
    # The MMD loss differentiates tiled while loops, which XLA accepts only
    # with a static iteration bound.
    model = gans.GAN(_networks.mlp_generator(2, latent_dim=4, hidden_units=(8,)),
                     _networks.mlp_critic(hidden_units=(8,)), divergence=divergence, seed=0)
    model.compile(jit_compile=True)
    history = model.fit(DATA, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    assert model.jit_compile
    assert np.isfinite(history.history[loss][-1])


def test_mixed_float16_training():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = small_gan("wasserstein")
        history = train(model, 3)
    finally:
        keras.config.set_dtype_policy(previous)

    assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert model.generate(4).dtype == np.float32


def test_default_networks_images():
    model = gans.GAN(divergence="wasserstein", sample_shape=(8, 8, 3), seed=0)
    model.compile(jit_compile=False)
    images = datasets.stacked_digits(64, seed=0).samples
    model.fit(images, batch_size=32, epochs=1, steps_per_epoch=1, verbose=0)
    assert model.generate(2).shape == (2, 8, 8, 3)


def test_missing_sample_shape_message():
    with pytest.raises(ValueError, match="sample_shape"):
        gans.GAN(divergence="gan")


def test_one_dimensional_data():
    data = np.random.default_rng(0).normal(3.0, 0.5, size=(128, 1))  # float64 input
    model = gans.GAN(_networks.mlp_generator(1, latent_dim=2, hidden_units=(8,)),
                     _networks.mlp_critic(hidden_units=(8,)), divergence="wasserstein", seed=0)
    model.compile(jit_compile=False)
    history = model.fit(data, batch_size=32, epochs=1, steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["critic_loss"][-1])
    assert model.generate(5).shape == (5, 1)


@pytest.mark.slow
def test_learns_gaussian_distribution():
    # A 1-D Gaussian N(3, 0.5^2): after training, the generated mean and
    # standard deviation match the data's within 0.15 (2000 samples give a
    # standard error of 0.011 for the mean). The penalty is one-sided: in
    # 1-D a critic's slope can change sign only through zero, where the
    # two-sided penalty charges its full weight, so the two-sided critic
    # lags behind the generator and the generator's mean drifts far from 3.
    data = np.random.default_rng(1).normal(3.0, 0.5, size=(8192, 1)).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = gans.GAN(_networks.mlp_generator(1, latent_dim=4, hidden_units=(64, 64)),
                     _networks.mlp_critic(hidden_units=(64, 64)),
                     divergence="wasserstein-gp-one-sided", critic_steps=5, seed=0)

    def optimizer():
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, 3000, alpha=0.01)
        return keras.optimizers.Adam(schedule, beta_1=0.5, beta_2=0.9)

    model.compile(optimizer(), optimizer())
    model.fit(data, batch_size=256, epochs=1, steps_per_epoch=3000, verbose=0)
    samples = model.generate(2000, seed=2)
    assert abs(float(samples.mean()) - 3.0) < 0.15
    assert abs(float(samples.std()) - 0.5) < 0.15


def test_pack_needs_critic():
    with pytest.raises(ValueError, match="pack=2"):
        gans.GAN(divergence="energy", sample_shape=(2,), pack=2)

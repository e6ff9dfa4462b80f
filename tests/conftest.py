"""Shared pytest set-up: quiet TensorFlow logs and deterministic seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seeds NumPy and TensorFlow before each test so every test is reproducible."""
    np.random.seed(0)
    tf.random.set_seed(0)
    yield


@pytest.fixture
def overflowing_gan():
    """Returns a builder of compiled GANs whose generator outputs 3e38 * 10 = inf, so the first losses are NaN."""
    import keras

    from discrepancy.gans import GAN, _networks

    def build(seed=1):
        generator = keras.Sequential([
            keras.Input(shape=(4,)),
            keras.layers.Dense(2, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(3e38)),
            keras.layers.Rescaling(10.0),
        ])
        model = GAN(generator, _networks.mlp_critic(hidden_units=(16,)), divergence="kl", seed=seed)
        model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), jit_compile=False)
        return model

    return build

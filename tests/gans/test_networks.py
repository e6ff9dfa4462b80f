"""Tests of the default generator and critic networks."""

import keras
import numpy as np

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

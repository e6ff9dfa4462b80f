"""Tests for InceptionFeatures, with small random weights the tests create.

The network is built at its smallest input size (75 x 75) so a forward pass
is cheap. The weights are random, not ImageNet's, which is all the
preprocessing and loading checks need.
"""

import numpy as np
import pytest
import tensorflow as tf

from discrepancy.metrics import InceptionFeatures
from discrepancy.metrics._features import WEIGHTS_ENVIRONMENT_VARIABLE, _resolve_weights_path

SIZE = 75


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    network = keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(SIZE, SIZE, 3)
    )
    path = tmp_path_factory.mktemp("inception") / "random.weights.h5"
    network.save_weights(str(path))
    return path


@pytest.fixture(scope="module")
def extractor(weights_file):
    return InceptionFeatures(weights_file, image_size=SIZE)


def images(rng, n, side=SIZE, channels=3):
    return rng.uniform(0.0, 1.0, size=(n, side, side, channels)).astype(np.float32)


def test_features_shape_and_range(extractor):
    features = extractor.features(images(np.random.default_rng(0), 3), value_range=(0, 1))
    assert features.shape == (3, 2048)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    # Global average pooling of ReLU outputs.
    assert (features >= 0).all()


def test_features_match_network(extractor):
    # At the network's own size the bicubic resize is the identity, so the
    # features are the network applied to 2 x - 1.
    batch = images(np.random.default_rng(1), 2)
    expected = extractor.network(tf.constant(batch * 2.0 - 1.0), training=False).numpy()
    np.testing.assert_allclose(extractor.features(batch, value_range=(0, 1)), expected, rtol=1e-5, atol=1e-6)


def test_features_value_range_conventions(extractor):
    rng = np.random.default_rng(2)
    uint8 = rng.integers(0, 256, size=(2, SIZE, SIZE, 3), dtype=np.uint8)
    from_uint8 = extractor.features(uint8, value_range=(0, 255))
    from_unit = extractor.features(uint8 / 255.0, value_range=(0, 1))
    from_tanh = extractor.features(uint8 / 127.5 - 1.0, value_range=(-1, 1))
    # The same pixels in three conventions; float32 rounding of the scaling only.
    np.testing.assert_allclose(from_uint8, from_unit, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(from_uint8, from_tanh, rtol=1e-4, atol=1e-5)


def test_features_grayscale_repeats_channels(extractor):
    gray = images(np.random.default_rng(3), 2, channels=1)
    rgb = np.repeat(gray, 3, axis=3)
    expected = extractor.features(rgb, value_range=(0, 1))
    np.testing.assert_allclose(extractor.features(gray[..., 0], value_range=(0, 1)), expected, rtol=1e-6)
    np.testing.assert_allclose(extractor.features(gray, value_range=(0, 1)), expected, rtol=1e-6)


def test_features_antialiased_downscale(extractor):
    # A one-pixel checkerboard halved in size averages to mid-grey when the
    # resize is antialiased; point sampling would return all 0 or all 1.
    checkerboard = (np.indices((2 * SIZE, 2 * SIZE)).sum(axis=0) % 2).astype(np.float32)
    checkerboard = np.repeat(checkerboard[None, :, :, None], 3, axis=3)
    grey = np.full((1, SIZE, SIZE, 3), 0.5, np.float32)
    black = np.zeros((1, SIZE, SIZE, 3), np.float32)
    from_checkerboard = extractor.features(checkerboard, value_range=(0, 1))
    from_grey = extractor.features(grey, value_range=(0, 1))
    from_black = extractor.features(black, value_range=(0, 1))
    distance_to_grey = np.linalg.norm(from_checkerboard - from_grey)
    distance_grey_black = np.linalg.norm(from_grey - from_black)
    assert distance_to_grey < 0.1 * distance_grey_black


def test_features_batch_invariance(extractor):
    batch = images(np.random.default_rng(4), 5)
    whole = extractor.features(batch, value_range=(0, 1), batch_size=5)
    # Batches of 2 pad the last one; inference mode keeps samples independent.
    np.testing.assert_allclose(extractor.features(batch, value_range=(0, 1), batch_size=2), whole, rtol=1e-5, atol=1e-6)


def test_features_dataset_input(extractor):
    batch = images(np.random.default_rng(5), 3)
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(2)
    np.testing.assert_allclose(
        extractor.features(dataset, value_range=(0, 1)),
        extractor.features(batch, value_range=(0, 1)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_features_reject_bad_images(extractor):
    batch = images(np.random.default_rng(6), 1)
    with pytest.raises(ValueError, match="outside value_range"):
        extractor.features(batch * 2.0, value_range=(0, 1))
    with pytest.raises(ValueError, match="Channel-first"):
        extractor.features(np.moveaxis(batch, 3, 1), value_range=(0, 1))
    with pytest.raises(TypeError, match="`value_range` must be a pair"):
        extractor.features(batch, value_range=255)
    with pytest.raises(ValueError, match="NaN"):
        extractor.features(np.full_like(batch, np.nan), value_range=(0, 1))


def test_weights_missing(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENVIRONMENT_VARIABLE, raising=False)
    with pytest.raises(FileNotFoundError, match=f"{WEIGHTS_ENVIRONMENT_VARIABLE} is not set.*never downloaded"):
        InceptionFeatures()
    with pytest.raises(FileNotFoundError, match="not found.*notop.h5"):
        InceptionFeatures(tmp_path / "missing.h5")


def test_weights_invalid_file(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="Could not load Inception-v3 weights"):
        InceptionFeatures(path, image_size=SIZE)


def test_weights_from_environment(monkeypatch, weights_file):
    monkeypatch.setenv(WEIGHTS_ENVIRONMENT_VARIABLE, str(weights_file))
    assert _resolve_weights_path(None) == weights_file
    assert _resolve_weights_path(weights_file) == weights_file

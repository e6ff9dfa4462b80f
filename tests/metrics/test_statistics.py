"""Tests for FeatureStatistics: streaming float64 mean and covariance."""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from discrepancy.metrics import FeatureStatistics


def two_pass_reference(x):
    """Exactly rounded mean (math.fsum per column), then the centred covariance in float64."""
    x = np.asarray(x, dtype=np.float64)
    mean = np.array([math.fsum(column) / x.shape[0] for column in x.T])
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def offset_features(rng, n, d, offset=1e4, spread=1e-2):
    """Features with means around `offset` and correlated spread around `spread`."""
    mixing = rng.standard_normal((d, d)) / math.sqrt(d)
    return offset + spread * rng.standard_normal((n, d)) @ mixing


def accumulate(x, batch_size, order=None):
    statistics = FeatureStatistics()
    order = np.arange(x.shape[0]) if order is None else order
    for start in range(0, x.shape[0], batch_size):
        statistics.update(x[order[start : start + batch_size]])
    return statistics


def relative_error(value, expected):
    return np.abs(value - expected).max() / np.abs(expected).max()


# --- accuracy and invariance ------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 13, 250, 500])
@pytest.mark.parametrize("shuffle", [False, True])
def test_statistics_large_offset(batch_size, shuffle):
    rng = np.random.default_rng(batch_size)
    x = offset_features(rng, 500, 6)
    order = rng.permutation(500) if shuffle else None
    statistics = accumulate(x, batch_size, order)
    mean, covariance = two_pass_reference(x)
    assert statistics.count == 500
    # The mean of values near 1e4 is representable to about 2e-12 absolute.
    assert np.abs(statistics.mean - mean).max() <= 1e-11
    # Raw sums of x x^T would lose all digits here (1e8 against 1e-4).
    assert relative_error(statistics.covariance, covariance) <= 1e-12


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_statistics_scales(scale):
    rng = np.random.default_rng(2)
    x = scale * rng.standard_normal((300, 4)) + 3.0 * scale
    statistics = accumulate(x, 7)
    mean, covariance = two_pass_reference(x)
    assert relative_error(statistics.mean, mean) <= 1e-14
    assert relative_error(statistics.covariance, covariance) <= 1e-13


def test_statistics_batching_invariance():
    rng = np.random.default_rng(3)
    x = offset_features(rng, 211, 5, offset=-3e3, spread=0.5)
    reference = accumulate(x, 211)
    for batch_size, order in [(1, None), (17, None), (17, rng.permutation(211)), (100, rng.permutation(211))]:
        other = accumulate(x, batch_size, order)
        # Float64 rounding differs between orders at about 1e-15 relative.
        assert relative_error(other.mean, reference.mean) <= 1e-14
        assert relative_error(other.covariance, reference.covariance) <= 1e-12


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_statistics_input_dtypes(dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((50, 3)) * 4).astype(dtype)
    statistics = FeatureStatistics.from_features(x, batch_size=8)
    mean, covariance = two_pass_reference(x.astype(np.float64))
    # Values convert exactly to float64 before any arithmetic.
    assert statistics.mean.dtype == np.float64
    assert relative_error(statistics.mean, mean) <= 1e-14
    assert relative_error(statistics.covariance, covariance) <= 1e-13


def test_statistics_matches_numpy_cov_square():
    # n = d catches a covariance taken over samples instead of features.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 8)) + np.arange(8)
    statistics = FeatureStatistics.from_features(x, batch_size=3)
    np.testing.assert_allclose(statistics.covariance, np.cov(x, rowvar=False), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(statistics.mean, x.mean(axis=0), rtol=1e-14)


def test_statistics_one_feature():
    x = np.array([[1.0], [2.0], [4.0]])
    statistics = FeatureStatistics.from_features(x)
    assert statistics.mean.shape == (1,)
    assert statistics.covariance[0, 0] == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1), rel=1e-15)


def test_statistics_identical_rows():
    statistics = FeatureStatistics.from_features(np.full((10, 3), 7.25))
    np.testing.assert_array_equal(statistics.mean, np.full(3, 7.25))
    np.testing.assert_array_equal(statistics.covariance, np.zeros((3, 3)))


def test_statistics_covariance_symmetric():
    rng = np.random.default_rng(6)
    statistics = accumulate(rng.standard_normal((40, 9)), 3)
    np.testing.assert_array_equal(statistics.covariance, statistics.covariance.T)


# --- merge ----------------------------------------------------------------------------


def test_merge_equals_concatenation():
    rng = np.random.default_rng(7)
    x = offset_features(rng, 300, 4)
    left = FeatureStatistics.from_features(x[:120])
    right = FeatureStatistics.from_features(x[120:] + 0.0)
    merged = left.copy().merge(right)
    mean, covariance = two_pass_reference(x)
    assert merged.count == 300
    assert np.abs(merged.mean - mean).max() <= 1e-11
    assert relative_error(merged.covariance, covariance) <= 1e-12
    assert left.count == 120
    assert right.count == 180


def test_merge_empty_sides():
    rng = np.random.default_rng(8)
    full = FeatureStatistics.from_features(rng.standard_normal((20, 3)))
    assert FeatureStatistics().merge(full).count == 20
    assert full.copy().merge(FeatureStatistics()).count == 20
    np.testing.assert_array_equal(FeatureStatistics().merge(full).covariance, full.covariance)


def test_update_empty_batch():
    statistics = FeatureStatistics.from_features(np.ones((3, 2)))
    statistics.update(np.zeros((0, 2)))
    assert statistics.count == 3


# --- validation --------------------------------------------------------------------------


def test_rejects_dimension_change():
    statistics = FeatureStatistics().update(np.ones((2, 3)))
    with pytest.raises(ValueError, match="`batch` has 4 features, but these statistics contain 3"):
        statistics.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="`other` has 2 features"):
        statistics.merge(FeatureStatistics.from_features(np.ones((2, 2))))


def test_rejects_bad_batches():
    with pytest.raises(ValueError, match="`batch` must have shape"):
        FeatureStatistics().update(np.ones(3))
    with pytest.raises(ValueError, match="`batch` contains 1 non-finite"):
        FeatureStatistics().update(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="`other` must be a FeatureStatistics"):
        FeatureStatistics().merge(np.ones((2, 2)))


def test_covariance_needs_two_samples():
    statistics = FeatureStatistics.from_features(np.ones((1, 2)))
    np.testing.assert_array_equal(statistics.mean, np.ones(2))
    with pytest.raises(ValueError, match="contains 1 sample.*at least 2"):
        statistics.covariance
    with pytest.raises(ValueError, match="contains 0 sample"):
        FeatureStatistics().mean


def test_symbolic_batch_rejected():
    statistics = FeatureStatistics()

    @tf.function
    def update(batch):
        statistics.update(batch)
        return batch

    with pytest.raises(TypeError, match="batch_moments"):
        update(tf.ones((2, 2)))


# --- files ------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    statistics = FeatureStatistics.from_features(offset_features(rng, 50, 5))
    path = tmp_path / "real.npz"
    statistics.save(path)
    loaded = FeatureStatistics.load(path)
    assert loaded.count == 50
    np.testing.assert_array_equal(loaded.mean, statistics.mean)
    np.testing.assert_array_equal(loaded.covariance, statistics.covariance)
    assert sorted(os.listdir(tmp_path)) == ["real.npz"]


def test_loaded_statistics_keep_merging(tmp_path):
    rng = np.random.default_rng(10)
    x = offset_features(rng, 90, 3)
    FeatureStatistics.from_features(x[:40]).save(tmp_path / "part.npz")
    merged = FeatureStatistics.load(tmp_path / "part.npz").update(x[40:])
    mean, covariance = two_pass_reference(x)
    assert relative_error(merged.covariance, covariance) <= 1e-12


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "stats.npz"
    FeatureStatistics.from_features(np.eye(3)).save(path)
    FeatureStatistics.from_features(2 * np.eye(3)).save(path)
    np.testing.assert_allclose(FeatureStatistics.load(path).mean, np.full(3, 2 / 3))
    assert sorted(os.listdir(tmp_path)) == ["stats.npz"]


def test_load_rejects_other_formats(tmp_path):
    np.savez(tmp_path / "fid_stats.npz", mu=np.zeros(2), sigma=np.eye(2))
    with pytest.raises(ValueError, match="from_moments"):
        FeatureStatistics.load(tmp_path / "fid_stats.npz")
    np.savez(tmp_path / "other.npz", values=np.zeros(2))
    with pytest.raises(ValueError, match="missing"):
        FeatureStatistics.load(tmp_path / "other.npz")


def test_from_moments():
    statistics = FeatureStatistics.from_moments(11, [1.0, 2.0], [[2.0, 0.5], [0.5, 1.0]])
    assert statistics.count == 11
    np.testing.assert_array_equal(statistics.covariance, [[2.0, 0.5], [0.5, 1.0]])


# --- tf.distribute -------------------------------------------------------------------------


def test_batch_moments_matches_update():
    rng = np.random.default_rng(11)
    x = offset_features(rng, 30, 4, offset=10.0, spread=1.0)
    count, mean, scatter = FeatureStatistics.batch_moments(tf.constant(x))
    statistics = FeatureStatistics.from_features(x)
    assert float(count) == 30.0
    np.testing.assert_allclose(mean.numpy(), statistics.mean, rtol=1e-14)
    np.testing.assert_allclose(scatter.numpy(), statistics.scatter, rtol=1e-12, atol=1e-12)


_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    from discrepancy.metrics import FeatureStatistics

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = 1e4 + 1e-2 * rng.standard_normal((103, 5))
    # A global batch of 10 splits 5 + 5; the last batch of 3 leaves a replica
    # with fewer rows.
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(10)
    statistics = FeatureStatistics()
    for batch in strategy.experimental_distribute_dataset(dataset):
        statistics.update_distributed(strategy, batch)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "count": statistics.count,
        "mean": statistics.mean.tolist(),
        "covariance": statistics.covariance.tolist(),
    }))
    """
)


def test_distributed_parity():
    # Logical devices must be configured before TensorFlow starts, so the
    # strategy runs in a fresh process.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    completed = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTED_SCRIPT],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    rng = np.random.default_rng(0)
    x = 1e4 + 1e-2 * rng.standard_normal((103, 5))
    mean, covariance = two_pass_reference(x)
    assert result["replicas"] == 2
    assert result["count"] == 103
    assert np.abs(np.array(result["mean"]) - mean).max() <= 1e-11
    # Per-replica moments run through TensorFlow's float64 reductions; the
    # merge keeps the offsets out of the products.
    assert relative_error(np.array(result["covariance"]), covariance) <= 1e-10

"""Tests for the shared input checks, directly and through the public functions."""

import numpy as np
import pytest
import tensorflow as tf

from discrepancy import _validation
from discrepancy.divergences import energy_distance, estimate, mmd2, mmd_test


def samples(seed=0, n=6, m=5, d=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d))


# The public entry points that share the sample checks. Each takes (x, y).
PUBLIC = {
    "mmd2": lambda x, y: mmd2(x, y, bandwidth=1.0),
    "energy_distance": lambda x, y: energy_distance(x, y),
    "estimate": lambda x, y: estimate(x, y, "mmd2", bandwidth=1.0),
}


# --- sample shapes ----------------------------------------------------------------


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_rank_one(function):
    x, y = samples()
    with pytest.raises(ValueError, match=r"`x` must have shape \[num_samples, num_features\], got shape \[6\] "
                       r"\(rank 1\); reshape it to \[n, 1\] with x\[:, None\]"):
        function(x[:, 0], y)


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_rank_three(function):
    x, y = samples()
    with pytest.raises(ValueError, match=r"`y` must have shape .* got shape \[5, 3, 1\] \(rank 3\); flatten the feature axes"):
        function(x, y[:, :, None])


def test_as_samples_rank_zero():
    with pytest.raises(ValueError, match=r"got shape \[\] \(rank 0\); pass an array of shape"):
        _validation.as_samples(3.0, "x")


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_empty(function):
    _, y = samples()
    with pytest.raises(ValueError, match=r"`x` has 0 sample\(s\), but at least \d are required"):
        function(np.zeros((0, 3)), y)


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_zero_features(function):
    with pytest.raises(ValueError, match=r"`x` has shape \[4, 0\] with zero features"):
        function(np.zeros((4, 0)), np.zeros((4, 0)))


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_mismatched_features(function):
    x, _ = samples()
    _, y = samples(d=2)
    with pytest.raises(ValueError, match=r"same number of features, got x.shape=\[6, 3\] and y.shape=\[5, 2\]"):
        function(x, y)


@pytest.mark.parametrize(
    "estimator, minimum",
    [("unbiased", 2), ("linear", 2)],
)
def test_mmd2_too_few_samples(estimator, minimum):
    x, y = samples(n=1)
    with pytest.raises(ValueError, match=f"`x` has 1 sample\\(s\\), but at least {minimum} are required"):
        mmd2(x, y, bandwidth=1.0, estimator=estimator)


def test_mmd2_biased_one_sample_allowed():
    x, y = samples(n=1)
    assert np.isfinite(float(mmd2(x, y, bandwidth=1.0, estimator="biased")))


# --- non-finite values ----------------------------------------------------------------


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_public_non_finite(function, bad):
    x, y = samples()
    x[4, 2] = bad
    x[5, 0] = bad
    with pytest.raises(
        ValueError,
        match=rf"`x` contains 2 non-finite value\(s\) \(NaN or inf\); the first is {bad!r} at row 4, column 2",
    ):
        function(x, y)


def test_as_samples_non_finite_half_precision():
    x, _ = samples()
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="row 1, column 1"):
        _validation.as_samples(x.astype(np.float16), "x")


def test_as_samples_non_finite_in_graph():
    # A graph cannot read values while it is traced, so the check runs with it.
    @tf.function
    def validate(value):
        return _validation.as_samples(value, "x")

    x, _ = samples()
    x[2, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="`x` contains NaN or inf values"):
        validate(tf.constant(x))


def test_as_samples_unchecked():
    x, _ = samples()
    x[0, 0] = np.nan
    assert np.isnan(_validation.as_samples(x, "x", check_finite=False).numpy()[0, 0])


# --- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.float32, tf.float32),
        (np.float64, tf.float64),
        (np.float16, tf.float32),
        (np.int8, tf.float64),
        (np.int64, tf.float64),
        (np.uint16, tf.float64),
        (np.bool_, tf.float64),
    ],
)
def test_as_samples_dtype(dtype, expected):
    x, _ = samples()
    tensor = _validation.as_samples((3 * x).astype(dtype), "x")
    assert tensor.dtype == expected
    np.testing.assert_array_equal(tensor.numpy(), (3 * x).astype(dtype).astype(expected.as_numpy_dtype))


def test_as_samples_bfloat16():
    x, _ = samples()
    tensor = _validation.as_samples(tf.cast(x, tf.bfloat16), "x")
    assert tensor.dtype == tf.float32


def test_as_samples_large_integers_exact():
    # Integers up to 2**53 are exact in float64 (a float32 copy would round them).
    value = np.array([[2**53 - 1], [3]], dtype=np.int64)
    assert _validation.as_samples(value, "x").numpy()[0, 0] == 2**53 - 1


def test_mmd2_integer_input_float64():
    x, y = samples()
    value = mmd2(np.round(3 * x).astype(np.int32), np.round(3 * y).astype(np.int32), bandwidth=2.0)
    expected = mmd2(np.round(3 * x), np.round(3 * y), bandwidth=2.0)
    assert value.dtype == tf.float64
    assert float(value) == float(expected)


def test_mmd2_float16_computed_in_float32():
    x, y = samples()
    half_x, half_y = x.astype(np.float16), y.astype(np.float16)
    value = mmd2(half_x, half_y, bandwidth=1.0)
    expected = mmd2(half_x.astype(np.float32), half_y.astype(np.float32), bandwidth=1.0)
    assert value.dtype == tf.float32
    assert float(value) == float(expected)


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_complex(function):
    x, y = samples()
    with pytest.raises(TypeError, match="`x` has complex dtype complex128; pass real-valued samples"):
        function(x.astype(np.complex128), y)


@pytest.mark.parametrize("function", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_strings(function):
    x, y = samples()
    with pytest.raises(TypeError, match="`y` has dtype <U.*expected a numeric array"):
        function(x, y.astype(str))


def test_as_samples_ragged():
    with pytest.raises(TypeError, match="`x` could not be converted to an array"):
        _validation.as_samples([[1.0, 2.0], [3.0]], "x")


def test_as_samples_string_tensor():
    with pytest.raises(TypeError, match="`x` has dtype string; expected float32 or float64"):
        _validation.as_samples(tf.constant([["a"]]), "x")


def test_as_samples_dataset():
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="`x` is a tf.data.Dataset; pass an array or tensor"):
        _validation.as_samples(dataset, "x")


def test_as_samples_variable():
    variable = tf.Variable(np.ones((3, 2)))
    tensor = _validation.as_samples(variable, "x")
    np.testing.assert_array_equal(tensor.numpy(), np.ones((3, 2)))


def test_as_sample_pair_upcasts():
    x, y = samples()
    pair_x, pair_y = _validation.as_sample_pair(x.astype(np.float32), y)
    assert pair_x.dtype == tf.float64
    assert pair_y.dtype == tf.float64


def test_result_dtype():
    single = tf.zeros([1], tf.float32)
    double = tf.zeros([1], tf.float64)
    assert _validation.result_dtype(single, single) == tf.float32
    assert _validation.result_dtype(single, double) == tf.float64


def test_check_min_samples_reason():
    with pytest.raises(ValueError, match=r"`y` has 3 sample\(s\), but at least 5 are required. k = 4 needs 5."):
        _validation.check_min_samples(3, 5, "y", "k = 4 needs 5.")


# --- weights -------------------------------------------------------------------------------


def test_as_weights_none():
    assert _validation.as_weights(None, 3, "x_weights") is None


def test_as_weights_renormalised():
    weights = _validation.as_weights(np.full(3, 1.0 / 3.0, np.float32), 3, "x_weights")
    assert weights.dtype == tf.float64
    assert float(tf.reduce_sum(weights)) == 1.0


def test_as_weights_float16_normalised():
    # Each float16 weight 1/3 rounds to 0.33325, so the sum is 0.99976.
    weights = _validation.as_weights(np.full(3, 1.0 / 3.0, np.float16), 3, "x_weights")
    np.testing.assert_allclose(weights.numpy(), np.full(3, 1.0 / 3.0), rtol=1e-15)


def test_as_weights_integer_counts():
    np.testing.assert_array_equal(_validation.as_weights(np.array([0, 1, 0]), 3, "w").numpy(), [0.0, 1.0, 0.0])


def test_as_weights_tensor():
    weights = _validation.as_weights(tf.constant([0.25, 0.75], tf.float64), 2, "w")
    np.testing.assert_array_equal(weights.numpy(), [0.25, 0.75])


@pytest.mark.parametrize(
    "weights, error, message",
    [
        (np.array([0.5, 0.5]), ValueError, r"`x_weights` must have shape \[3\] \(one weight per sample\), got shape \[2\]"),
        (np.full((3, 1), 1 / 3), ValueError, r"must have shape \[3\].*got shape \[3, 1\]"),
        (np.array([0.5, np.nan, 0.5]), ValueError, "`x_weights` contains NaN or inf values"),
        (np.array([0.6, -0.1, 0.5]), ValueError, "`x_weights` contains negative weight -0.1 at index 1"),
        (np.zeros(3), ValueError, "`x_weights` sums to 0.0; at least one weight must be positive"),
        (np.array([1.0, 2.0, 3.0]), ValueError, r"`x_weights` sums to 6.0, expected 1.*pass x_weights / x_weights.sum\(\)"),
        (np.array([0.3, 0.3, 0.4 + 1e-6]), ValueError, "sums to 1.000001"),
        (np.array(["a", "b", "c"]), TypeError, "`x_weights` must be numeric"),
        (np.array([True, False, False]), TypeError, "`x_weights` must be numeric"),
    ],
)
def test_as_weights_invalid(weights, error, message):
    with pytest.raises(error, match=message):
        _validation.as_weights(weights, 3, "x_weights")


def test_as_weights_tolerance_by_dtype():
    # 1e-6 off: within float32's tolerance of 1e-4, beyond float64's of 1e-8.
    weights = np.array([0.3, 0.3, 0.4 + 1e-6])
    accepted = _validation.as_weights(weights.astype(np.float32), 3, "w")
    np.testing.assert_allclose(float(tf.reduce_sum(accepted)), 1.0, rtol=1e-15)
    with pytest.raises(ValueError, match="expected 1"):
        _validation.as_weights(weights, 3, "w")


# --- options and scalars ---------------------------------------------------------------------


def test_check_option():
    assert _validation.check_option("b", "estimator", ("a", "b")) == "b"
    with pytest.raises(ValueError, match="`estimator` must be one of 'a', 'b'; got 'c'."):
        _validation.check_option("c", "estimator", ("a", "b"))
    with pytest.raises(ValueError, match="`estimator` must be one of 'a', 'b'; got None."):
        _validation.check_option(None, "estimator", ("a", "b"))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda x, y: mmd2(x, y, estimator="U"), ValueError, "`estimator` must be one of 'unbiased', 'biased', 'linear'; got 'U'"),
        (lambda x, y: mmd2(x, y, kernel="rbf"), ValueError, "`kernel` must be one of 'gaussian'"),
        (lambda x, y: mmd2(x, y, bandwidth="scott"), ValueError, "`bandwidth` must be one of 'median', 'multiscale'"),
        (lambda x, y: mmd2(x, y, bandwidth=1.0, tile_size=4), ValueError, "`tile_size` must be at least 8, got 4"),
        (lambda x, y: mmd2(x, y, bandwidth=1.0, tile_size=8.0), TypeError, "`tile_size` must be an integer, got 8.0"),
        (lambda x, y: energy_distance(x, y, "V"), ValueError, "`estimator` must be one of 'biased', 'unbiased'; got 'V'"),
        (lambda x, y: energy_distance(x, y, tile_size=True), TypeError, "`tile_size` must be an integer, got True"),
        (lambda x, y: estimate(x, y, "mmd3"), ValueError, "`divergence` must be one of 'mmd2', 'energy'"),
        (lambda x, y: estimate(x, y, "energy", method="exact"), ValueError, "`method` must be one of 'biased', 'unbiased'; got 'exact'"),
        (lambda x, y: estimate(x, y, "energy", kernel="gaussian"), ValueError, r"Unknown option\(s\) for divergence='energy': kernel"),
        (lambda x, y: mmd_test(x, y, num_permutations=-5), ValueError, "`num_permutations` must be at least 1, got -5"),
        (lambda x, y: mmd_test(x, y, num_permutations=2.5), TypeError, "`num_permutations` must be an integer"),
    ],
)
def test_public_options(call, error, message):
    x, y = samples()
    with pytest.raises(error, match=message):
        call(x, y)


@pytest.mark.parametrize(
    "value, options, error, message",
    [
        (True, {}, TypeError, "`k` must be an integer, got True"),
        (2.0, {}, TypeError, "`k` must be an integer, got 2.0"),
        (1, {"minimum": 2}, ValueError, "`k` must be at least 2, got 1"),
        (9, {"maximum": 8}, ValueError, "`k` must be at most 8, got 9"),
    ],
)
def test_as_int_invalid(value, options, error, message):
    with pytest.raises(error, match=message):
        _validation.as_int(value, "k", **options)


def test_as_int_numpy_integer():
    assert _validation.as_int(np.int64(7), "k", minimum=1) == 7


@pytest.mark.parametrize(
    "value, options, error, message",
    [
        (False, {}, TypeError, "`epsilon` must be a real number, got False"),
        ("0.1", {}, TypeError, "`epsilon` must be a real number, got '0.1'"),
        (np.array([0.1]), {}, TypeError, "`epsilon` must be a real number"),
        (float("nan"), {}, ValueError, "`epsilon` must be finite, got nan"),
        (float("inf"), {}, ValueError, "`epsilon` must be finite, got inf"),
        (0.0, {"positive": True}, ValueError, "`epsilon` must be positive, got 0.0"),
        (0.5, {"minimum": 1.0}, ValueError, "`epsilon` must be at least 1.0, got 0.5"),
        (2.5, {"maximum": 2.0}, ValueError, "`epsilon` must be at most 2.0, got 2.5"),
    ],
)
def test_as_float_invalid(value, options, error, message):
    with pytest.raises(error, match=message):
        _validation.as_float(value, "epsilon", **options)


def test_as_float_scalars():
    assert _validation.as_float(np.float32(0.5), "epsilon") == 0.5
    assert _validation.as_float(np.array(0.25), "epsilon") == 0.25
    assert _validation.as_float(tf.constant(2.0), "epsilon") == 2.0
    assert _validation.as_float(3, "epsilon") == 3.0


# --- seeds --------------------------------------------------------------------------------


def test_as_seed_int():
    seed = _validation.as_seed(2**31 + 5)
    assert seed.dtype == tf.int64
    np.testing.assert_array_equal(seed.numpy(), [5, 1])


def test_as_seed_pair():
    np.testing.assert_array_equal(_validation.as_seed((3, -4)).numpy(), [3, -4])
    np.testing.assert_array_equal(_validation.as_seed(np.array([1, 2])).numpy(), [1, 2])


def test_as_seed_none_fresh():
    seed = _validation.as_seed(None)
    assert seed.shape == (2,)
    assert seed.dtype == tf.int64


@pytest.mark.parametrize(
    "seed, error, message",
    [
        (-1, ValueError, "`seed` must be at least 0, got -1"),
        (1.5, TypeError, "`seed` must be an integer, got 1.5"),
        ("ab", TypeError, "`seed` must be an integer, got 'a'"),
        (True, TypeError, "`seed` must be an integer, got True"),
    ],
)
def test_as_seed_invalid(seed, error, message):
    with pytest.raises(error, match=message):
        _validation.as_seed(seed)


def test_mmd_test_invalid_seed():
    x, y = samples()
    with pytest.raises(ValueError, match="`seed` must be at least 0, got -2"):
        mmd_test(x, y, num_permutations=5, seed=-2)

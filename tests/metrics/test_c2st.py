"""Tests of the classifier two-sample test."""

import math

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from discrepancy.metrics import C2STResult, c2st


def gaussian_sets(num_real, num_fake, dimension=2, shift=0.0, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((num_real, dimension))
    fake = rng.standard_normal((num_fake, dimension))
    fake[:, 0] += shift
    return real.astype(dtype), fake.astype(dtype)


def binomial_upper_tail(successes, trials, probability):
    """P(Binomial(trials, probability) >= successes), summed exactly in float64."""
    return math.fsum(
        math.comb(trials, k) * probability**k * (1 - probability) ** (trials - k)
        for k in range(successes, trials + 1)
    )


def test_calibration_same_distribution():
    p_values, accuracies = [], []
    for seed in range(30):
        real, fake = gaussian_sets(100, 100, seed=100 + seed)
        result = c2st(real, fake, seed=seed, epochs=20, batch_size=32)
        p_values.append(result.p_value)
        accuracies.append(result.accuracy)
    p_values = np.array(p_values)
    # Under P = Q each p-value is uniform or larger (the binomial is discrete),
    # and each bound below fails with probability about 0.003 for such p-values:
    # Binomial(30, 0.05) >= 6, Binomial(30, 0.2) >= 13, mean below 0.5 - 2.8 sd.
    assert np.sum(p_values < 0.05) <= 5
    assert np.sum(p_values < 0.2) <= 12
    assert np.mean(p_values) > 0.35
    # 30 x 100 held-out samples: the mean accuracy has standard error 0.009.
    assert abs(np.mean(accuracies) - 0.5) < 0.03


def test_calibration_memorising_classifier():
    # 1-NN classifies its own training samples perfectly, so any leak of
    # training samples into the test part would push accuracy towards 1.
    p_values = []
    for seed in range(30):
        real, fake = gaussian_sets(100, 100, seed=200 + seed)
        p_values.append(c2st(real, fake, KNeighborsClassifier(n_neighbors=1), seed=seed).p_value)
    p_values = np.array(p_values)
    # Same bounds as above, each failing with probability about 0.003 under H0.
    assert np.sum(p_values < 0.05) <= 5
    assert np.mean(p_values) > 0.35


def test_power_under_shift():
    real, fake = gaussian_sets(200, 200, shift=1.5)
    result = c2st(real, fake, seed=0, epochs=20)
    # Bayes accuracy for a mean shift of 1.5 is Phi(0.75) = 0.77.
    assert result.accuracy > 0.65
    assert result.p_value < 1e-4


def test_p_value_exact_binomial():
    real, fake = gaussian_sets(60, 60, shift=0.7)
    result = c2st(real, fake, seed=3, epochs=5)
    expected = binomial_upper_tail(result.num_correct, result.num_test, 0.5)
    assert result.p_value == pytest.approx(expected, rel=1e-10)
    assert result.chance_level == 0.5


def test_result_conventions():
    real, fake = gaussian_sets(40, 40)
    result = c2st(real, fake, seed=0, epochs=2)
    assert isinstance(result, C2STResult)
    assert float(result) == result.accuracy
    assert result.accuracy == result.num_correct / result.num_test
    assert result.num_test == 40
    assert result.num_train == 40
    assert result.test_labels.sum() == 20
    assert result.test_probabilities.shape == (40,)
    assert result.standard_error == pytest.approx(
        math.sqrt(result.accuracy * (1 - result.accuracy) / 40), rel=1e-12
    )
    assert set(result.to_dict()) >= {"accuracy", "p_value", "num_test", "chance_level"}


def test_seed_determinism():
    real, fake = gaussian_sets(80, 70, shift=0.5)
    first = c2st(real, fake, seed=7, epochs=5)
    second = c2st(real, fake, seed=7, epochs=5)
    other = c2st(real, fake, seed=8, epochs=5)
    assert first.accuracy == second.accuracy
    np.testing.assert_array_equal(first.test_probabilities, second.test_probabilities)
    assert not np.array_equal(first.test_probabilities, other.test_probabilities)


def test_balanced_when_sizes_differ():
    real, fake = gaussian_sets(150, 90)
    result = c2st(real, fake, seed=0, epochs=2)
    assert result.num_real == 150
    assert result.num_fake == 90
    assert result.num_real_used == 90
    assert result.num_fake_used == 90
    assert result.num_test == 90
    assert result.chance_level == 0.5


def test_unbalanced_chance_level():
    real, fake = gaussian_sets(150, 90)
    result = c2st(real, fake, balance=False, seed=0, epochs=2)
    # round(0.5 * 150) = 75 real and round(0.5 * 90) = 45 fake held out.
    assert result.num_test == 120
    assert result.chance_level == pytest.approx(75 / 120, abs=1e-15)
    expected = binomial_upper_tail(result.num_correct, 120, 75 / 120)
    assert result.p_value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_and_one_dimension(dtype):
    real, fake = gaussian_sets(100, 80, dimension=1, shift=3.0, dtype=dtype)
    result = c2st(real, fake, seed=0, epochs=20)
    # A shift of 3 standard deviations: Bayes accuracy Phi(1.5) = 0.93.
    assert result.accuracy > 0.8


def test_scikit_learn_classifier():
    real, fake = gaussian_sets(200, 200, shift=1.5)
    result = c2st(real, fake, LogisticRegression(), seed=0)
    assert result.accuracy > 0.65
    assert result.p_value < 1e-4


def test_scikit_learn_same_distribution():
    real, fake = gaussian_sets(200, 200, seed=5)
    result = c2st(real, fake, LogisticRegression(), seed=0)
    # One draw under P = Q: 200 held-out samples put accuracy within 0.5 +- 0.1 at 2.8 sigma.
    assert abs(result.accuracy - 0.5) < 0.1


def test_keras_classifier_trained_in_place():
    model = keras.Sequential(
        [keras.Input(shape=(2,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    before = [weight.copy() for weight in model.get_weights()]
    real, fake = gaussian_sets(200, 200, shift=1.5)
    result = c2st(real, fake, model, seed=0, epochs=30, batch_size=32)
    assert result.accuracy > 0.65
    assert not np.array_equal(model.get_weights()[0], before[0])


def test_keras_classifier_wrong_output():
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(2)])
    real, fake = gaussian_sets(20, 20)
    with pytest.raises(ValueError, match="one logit"):
        c2st(real, fake, model, seed=0, epochs=1)


def test_bad_classifier_rejected():
    real, fake = gaussian_sets(20, 20)
    with pytest.raises(TypeError, match="predict_proba"):
        c2st(real, fake, object(), seed=0)


@pytest.mark.parametrize("test_fraction", [0.0, 1.0, -0.2])
def test_bad_test_fraction(test_fraction):
    real, fake = gaussian_sets(20, 20)
    with pytest.raises(ValueError, match="test_fraction"):
        c2st(real, fake, test_fraction=test_fraction, seed=0)


def test_too_few_samples():
    real, fake = gaussian_sets(1, 5)
    with pytest.raises(ValueError, match="at least 1 held-out and 1 training"):
        c2st(real, fake, seed=0)


def test_mismatched_dimensions():
    real, _ = gaussian_sets(20, 20, dimension=2)
    _, fake = gaussian_sets(20, 20, dimension=3)
    with pytest.raises(ValueError, match="same number of features"):
        c2st(real, fake, seed=0)


def test_rank_three_rejected():
    with pytest.raises(ValueError, match="num_samples, num_features"):
        c2st(np.zeros((10, 2, 2)), np.zeros((10, 2, 2)), seed=0)


def test_nan_rejected():
    real, fake = gaussian_sets(20, 20)
    fake[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        c2st(real, fake, seed=0)

"""Tests of the fold splits, standardisation, objectives and default critic."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from discrepancy.divergences import f_divergence
from discrepancy.divergences._critic_training import (
    Objective,
    Parts,
    check_sizes,
    default_critic,
    fold_indices,
    seed_streams,
    standardise,
)


@pytest.mark.parametrize("num_samples, folds", [(103, 5), (40, 2), (9, 3)])
def test_folds_partition_samples(num_samples, folds):
    parts = fold_indices(num_samples, folds, 0.5, 0.2, np.random.default_rng(0))
    tests = np.concatenate([test for _, _, test in parts])
    assert len(parts) == folds
    assert np.array_equal(np.sort(tests), np.arange(num_samples))
    for train, validation, test in parts:
        together = np.concatenate([train, validation, test])
        assert np.array_equal(np.sort(together), np.arange(num_samples))
        assert len(validation) == round((num_samples - len(test)) * 0.2)


def test_single_split_holds_out_fraction():
    ((train, validation, test),) = fold_indices(101, 1, 0.3, 0.25, np.random.default_rng(1))
    assert len(test) == round(101 * 0.3)
    assert len(validation) == round((101 - len(test)) * 0.25)
    assert len(train) + len(validation) + len(test) == 101


@pytest.mark.parametrize("folds, held_out_fraction", [(1, 0.5), (2, 0.5), (5, 0.5), (1, 0.9)])
def test_named_minimum_is_smallest_size_that_passes(folds, held_out_fraction):
    with pytest.raises(ValueError, match=r"at least \d+ are required") as error:
        check_sizes(3, "x", folds, held_out_fraction, 0.2)
    minimum = int(re.search(r"at least (\d+) are required", str(error.value)).group(1))
    check_sizes(minimum, "x", folds, held_out_fraction, 0.2)
    with pytest.raises(ValueError):
        check_sizes(minimum - 1, "x", folds, held_out_fraction, 0.2)


def test_standardise_scales_by_pooled_training_parts():
    rng = np.random.default_rng(2)
    x = Parts(rng.normal(5.0, 3.0, (50, 3)), rng.normal(size=(10, 3)), rng.normal(size=(20, 3)))
    y = Parts(rng.normal(-1.0, 0.5, (40, 3)), rng.normal(size=(8, 3)), rng.normal(size=(16, 3)))
    x.train[:, 2] = 7.0
    y.train[:, 2] = 7.0
    x_scaled, y_scaled = standardise(x, y)
    pooled = np.concatenate([x_scaled.train, y_scaled.train])
    np.testing.assert_allclose(pooled.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pooled[:, :2].std(axis=0), 1.0, rtol=1e-12)
    # A feature with zero spread is centred but keeps its scale.
    np.testing.assert_allclose(x_scaled.validation[:, 2], x.validation[:, 2] - 7.0)
    # Held-out parts use the training statistics, not their own.
    centre = np.concatenate([x.train, y.train]).mean(axis=0)
    scale = np.concatenate([x.train, y.train]).std(axis=0)
    np.testing.assert_allclose(x_scaled.test[:, 0], (x.test[:, 0] - centre[0]) / scale[0])


OBJECTIVES = [
    Objective("f", f_divergence("kl")),
    Objective("f", f_divergence("gan")),
    Objective("dv"),
    Objective("classifier"),
]


@pytest.mark.parametrize("objective", OBJECTIVES, ids=["f-kl", "f-gan", "dv", "classifier"])
def test_objective_ignores_padding_rows(objective):
    rng = np.random.default_rng(3)
    v_real = rng.normal(size=7)
    v_fake = rng.normal(size=5)
    uniform = objective(
        tf.constant(v_real),
        tf.constant(v_fake),
        tf.constant(np.full(7, 1.0 / 7)),
        tf.constant(np.full(5, 1.0 / 5)),
    )
    # Padding rows carry zero weight, whatever their (even extreme) values.
    padded_real = np.concatenate([v_real, [1e3, -1e3]])
    padded_fake = np.concatenate([v_fake, [1e3, 0.0, -1e3]])
    weights_real = np.concatenate([np.full(7, 1.0 / 7), np.zeros(2)])
    weights_fake = np.concatenate([np.full(5, 1.0 / 5), np.zeros(3)])
    padded = objective(
        tf.constant(padded_real),
        tf.constant(padded_fake),
        tf.constant(weights_real),
        tf.constant(weights_fake),
    )
    assert float(padded) == pytest.approx(float(uniform), rel=1e-12)


def test_objective_values_match_formulas():
    rng = np.random.default_rng(4)
    v_real = rng.normal(size=6)
    v_fake = rng.normal(size=9)
    weights = (tf.constant(np.full(6, 1.0 / 6)), tf.constant(np.full(9, 1.0 / 9)))
    arguments = (tf.constant(v_real), tf.constant(v_fake)) + weights
    dv = float(Objective("dv")(*arguments))
    assert dv == pytest.approx(v_real.mean() - np.log(np.mean(np.exp(v_fake))), rel=1e-12)
    classifier = float(Objective("classifier")(*arguments))
    expected = np.mean(-np.log1p(np.exp(-v_real))) + np.mean(-np.log1p(np.exp(v_fake)))
    assert classifier == pytest.approx(expected, rel=1e-12)
    nwj = float(Objective("f", f_divergence("kl"))(*arguments))
    assert nwj == pytest.approx(v_real.mean() - np.mean(np.exp(v_fake - 1.0)), rel=1e-12)


def test_objectives_hashable_for_cache_keys():
    assert Objective("dv") == Objective("dv")
    assert hash(Objective("f", f_divergence("kl"))) == hash(Objective("f", f_divergence("kl")))
    assert Objective("f", f_divergence("kl")) != Objective("f", f_divergence("gan"))


def test_default_critic_seeded_initial_weights():
    first = default_critic(3, seed=5).get_weights()
    second = default_critic(3, seed=5).get_weights()
    other = default_critic(3, seed=6).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_default_critic_width_from_dimension():
    def hidden_widths(critic):
        return [layer.units for layer in critic.layers if isinstance(layer, keras.layers.Dense)][:-1]

    assert hidden_widths(default_critic(2)) == [64, 64]
    assert hidden_widths(default_critic(20)) == [160, 160]
    assert default_critic(20).output_shape == (None, 1)


def test_default_critic_represents_quadratics():
    # The skip connections alone give v(x) = a . x + b . x^2 + c exactly,
    # the log density ratio of two Gaussians with diagonal covariances.
    critic = default_critic(3, seed=0)
    output = critic.layers[-1]
    kernel, bias = output.get_weights()
    linear, quadratic = np.array([0.5, -1.0, 2.0]), np.array([0.25, 0.0, -0.5])
    kernel[:] = 0.0
    kernel[-6:-3, 0] = linear
    kernel[-3:, 0] = quadratic
    output.set_weights([kernel, np.array([0.3], np.float32)])

    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    expected = x @ linear + (x * x) @ quadratic + 0.3
    np.testing.assert_allclose(critic(x).numpy()[:, 0], expected, rtol=1e-5, atol=1e-5)


def test_seed_streams_reproducible_and_distinct():
    rng_a, seeds_a, init_a = seed_streams(7, 3)
    rng_b, seeds_b, init_b = seed_streams(7, 3)
    _, seeds_c, init_c = seed_streams(8, 3)
    assert np.array_equal(rng_a.permutation(10), rng_b.permutation(10))
    assert [s.numpy().tolist() for s in seeds_a] == [s.numpy().tolist() for s in seeds_b]
    assert len({tuple(s.numpy()) for s in seeds_a}) == 3
    assert init_a == init_b
    assert init_a != init_c
    assert [s.numpy().tolist() for s in seeds_a] != [s.numpy().tolist() for s in seeds_c]

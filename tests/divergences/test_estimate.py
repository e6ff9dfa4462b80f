"""Tests for the `estimate()` front door on its MMD and energy paths, and for `Estimate`."""

import json

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.distance import cdist

from discrepancy.divergences import Estimate, energy_distance, estimate, median_bandwidth, mmd2

# Normal quantiles for two-sided 95 % and 90 % intervals.
Z_95 = 1.959963984540054
Z_90 = 1.6448536269514722


def samples(seed, n=40, m=30, d=2, shift=0.6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) + shift
    return x, y


def first_order_standard_error(k_xx, k_yy, k_xy):
    """sqrt(4 Var(g_x)/n + 4 Var(g_y)/m) with g_x(i) = mean_{j != i} K_xx - mean_j K_xy."""
    n, m = k_xx.shape[0], k_yy.shape[0]
    g_x = (k_xx.sum(axis=1) - np.diag(k_xx)) / (n - 1) - k_xy.mean(axis=1)
    g_y = (k_yy.sum(axis=1) - np.diag(k_yy)) / (m - 1) - k_xy.mean(axis=0)
    return np.sqrt(4.0 * np.var(g_x, ddof=1) / n + 4.0 * np.var(g_y, ddof=1) / m)


# --- the Estimate fields -------------------------------------------------------------


def test_estimate_mmd2_fields():
    x, y = samples(0)
    result = estimate(x, y, "mmd2", bandwidth=1.3)
    assert isinstance(result, Estimate)
    assert result.divergence == "mmd2"
    assert result.method == "unbiased"
    assert result.num_x == 40
    assert result.num_y == 30
    assert result.confidence_level == 0.95
    np.testing.assert_allclose(result.value, float(mmd2(x, y, bandwidth=1.3)), rtol=1e-12)
    assert float(result) == result.value
    assert result.diagnostics["kernel"] == "ExponentiatedQuadratic"
    assert "first-order" in result.diagnostics["standard_error_method"]


def test_estimate_mmd2_median_diagnostics():
    x, y = samples(1)
    result = estimate(x, y)
    np.testing.assert_allclose(result.diagnostics["bandwidth"], median_bandwidth(x, y), rtol=1e-12)
    np.testing.assert_allclose(result.value, float(mmd2(x, y)), rtol=1e-12)


def test_estimate_interval():
    x, y = samples(2)
    result = estimate(x, y, "mmd2", bandwidth=1.3)
    low, high = result.confidence_interval
    assert low < result.value < high
    np.testing.assert_allclose(high - result.value, Z_95 * result.standard_error, rtol=1e-12)
    np.testing.assert_allclose(result.value - low, Z_95 * result.standard_error, rtol=1e-12)


def test_estimate_confidence_level():
    x, y = samples(3)
    result = estimate(x, y, "mmd2", bandwidth=1.3, confidence_level=0.9)
    low, high = result.confidence_interval
    assert result.confidence_level == 0.9
    np.testing.assert_allclose(high - low, 2.0 * Z_90 * result.standard_error, rtol=1e-12)


def test_estimate_to_dict_json():
    x, y = samples(4)
    result = estimate(x, y, "mmd2")
    payload = result.to_dict()
    decoded = json.loads(json.dumps(payload))
    assert decoded == payload
    assert decoded["value"] == result.value
    assert decoded["standard_error"] == result.standard_error
    assert decoded["confidence_interval"] == list(result.confidence_interval)
    assert decoded["num_x"] == 40
    assert decoded["divergence"] == "mmd2"


def test_estimate_without_standard_error():
    result = Estimate.from_normal(0.5, None, num_x=3, num_y=4, divergence="mmd2", method="linear")
    assert result.confidence_interval is None
    assert json.loads(json.dumps(result.to_dict()))["standard_error"] is None
    assert "+-" not in str(result)


def test_estimate_str():
    x, y = samples(5)
    text = str(estimate(x, y, "mmd2", bandwidth=1.3))
    assert text.startswith("mmd2 = ")
    assert "standard error" in text
    assert "95% CI" in text
    assert "n=40, m=30" in text


def test_estimate_tensor_inputs():
    x, y = samples(6)
    result = estimate(tf.constant(x), tf.constant(y), "energy")
    assert result.num_x == 40
    assert result.num_y == 30
    np.testing.assert_allclose(result.value, float(energy_distance(x, y)), rtol=1e-12)


# --- standard errors ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["unbiased", "biased"])
def test_estimate_mmd2_standard_error_formula(method):
    x, y = samples(7)

    def kernel(a, b):
        return np.exp(-cdist(a, b, "sqeuclidean") / (2.0 * 1.3**2))

    result = estimate(x, y, "mmd2", method=method, bandwidth=1.3)
    # With a constant kernel diagonal, including it shifts g_x by a constant,
    # so both estimators share this first-order standard error.
    expected = first_order_standard_error(kernel(x, x), kernel(y, y), kernel(x, y))
    np.testing.assert_allclose(result.standard_error, expected, rtol=1e-10)


@pytest.mark.parametrize("method", ["biased", "unbiased"])
def test_estimate_energy_standard_error_formula(method):
    x, y = samples(8)
    result = estimate(x, y, "energy", method=method)
    # The energy distance has the form of MMD^2 with -|a - b| in place of the
    # kernel, so the same first-order formula applies to it.
    expected = first_order_standard_error(-cdist(x, x), -cdist(y, y), -cdist(x, y))
    np.testing.assert_allclose(result.standard_error, expected, rtol=1e-10)
    np.testing.assert_allclose(result.value, float(energy_distance(x, y, method)), rtol=1e-12)
    assert result.method == method


def test_estimate_linear_standard_error():
    x, y = samples(9, n=41, m=30)

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2, axis=1) / (2.0 * 1.3**2))

    x1, x2, y1, y2 = x[0:30:2], x[1:30:2], y[0:30:2], y[1:30:2]
    terms = k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)
    result = estimate(x, y, "mmd2", method="linear", bandwidth=1.3)
    assert result.diagnostics["num_pairs"] == 15
    np.testing.assert_allclose(result.value, terms.mean(), rtol=1e-12)
    np.testing.assert_allclose(result.standard_error, terms.std(ddof=1) / np.sqrt(15), rtol=1e-10)


def spread_and_standard_error(divergence, seeds, **options):
    values, errors = [], []
    for seed in seeds:
        x, y = samples(seed, n=60, m=50)
        result = estimate(x, y, divergence, **options)
        values.append(result.value)
        errors.append(result.standard_error)
    return np.std(values, ddof=1), np.mean(errors)


def test_estimate_mmd2_standard_error_matches_spread():
    # P != Q, so the first-order term dominates the variance. Over 30 seeds the
    # sample standard deviation is itself uncertain by about 13 %.
    spread, standard_error = spread_and_standard_error("mmd2", range(100, 130), bandwidth=1.3)
    assert spread / 1.5 < standard_error < 1.5 * spread


@pytest.mark.slow
def test_estimate_energy_standard_error_matches_spread():
    spread, standard_error = spread_and_standard_error("energy", range(200, 230))
    assert spread / 1.5 < standard_error < 1.5 * spread


# --- options and methods ------------------------------------------------------------------


def test_estimate_default_methods():
    x, y = samples(10)
    assert estimate(x, y, "mmd2").method == "unbiased"
    assert estimate(x, y, "energy").method == "biased"


def test_estimate_kernel_options():
    x, y = samples(11)
    result = estimate(x, y, "mmd2", kernel="polynomial", degree=2, offset=0.5)
    expected = float(mmd2(x, y, kernel="polynomial", degree=2, offset=0.5))
    np.testing.assert_allclose(result.value, expected, rtol=1e-12)
    assert result.diagnostics["kernel"] == "InhomogeneousPolynomial"


def test_estimate_energy_exponent():
    x, y = samples(12)
    result = estimate(x, y, "energy", exponent=0.5)
    np.testing.assert_allclose(result.value, float(energy_distance(x, y, exponent=0.5)), rtol=1e-12)
    assert result.diagnostics["exponent"] == 0.5


def test_estimate_same_seed_same_result():
    x, y = samples(13)
    assert estimate(x, y, "mmd2", seed=3) == estimate(x, y, "mmd2", seed=3)


def test_estimate_unknown_divergence():
    x, y = samples(14)
    with pytest.raises(ValueError, match="`divergence` must be one of 'mmd2', 'energy', .*; got 'mmd3'"):
        estimate(x, y, "mmd3")


@pytest.mark.parametrize(
    "divergence, method, allowed",
    [("mmd2", "exact", "'unbiased', 'biased', 'linear'"), ("energy", "linear", "'biased', 'unbiased'")],
)
def test_estimate_unknown_method(divergence, method, allowed):
    x, y = samples(15)
    with pytest.raises(ValueError, match=f"`method` must be one of {allowed}; got '{method}'"):
        estimate(x, y, divergence, method=method)


@pytest.mark.parametrize("divergence", ["mmd2", "energy"])
def test_estimate_unknown_option(divergence):
    x, y = samples(16)
    with pytest.raises(ValueError, match=f"Unknown option\\(s\\) for divergence='{divergence}': bandwith"):
        estimate(x, y, divergence, bandwith=1.0)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"seed": -1}, ValueError, "`seed` must be at least 0, got -1"),
        ({"seed": 1.5}, TypeError, "`seed` must be an integer"),
        ({"confidence_level": 1.0}, ValueError, "`confidence_level` must be at most"),
        ({"confidence_level": 0.2}, ValueError, "`confidence_level` must be at least 0.5"),
    ],
)
def test_estimate_invalid_arguments(options, error, message):
    x, y = samples(17)
    with pytest.raises(error, match=message):
        estimate(x, y, "mmd2", **options)


def test_estimate_invalid_samples():
    x, y = samples(18)
    y[4, 1] = np.inf
    with pytest.raises(ValueError, match="`y` contains 1 non-finite value.*row 4, column 1"):
        estimate(x, y, "energy")


def test_estimate_accepts_mmd_alias():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(15, 2)) + 0.5
    aliased = estimate(x, y, "mmd")
    assert aliased.divergence == "mmd2"
    assert aliased.value == estimate(x, y, "mmd2").value

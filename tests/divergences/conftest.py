"""Fixtures shared by the divergence tests."""

import numpy as np
import pytest
import tensorflow as tf


def _check_directional_derivatives(function, x, y, num_directions=2, step=1e-5, atol=1e-8):
    """Checks the gradient of function(x, y) against central differences along random directions.

    Each direction costs two evaluations, where a full Jacobian check would
    cost two per coordinate. With float64 inputs and step 1e-5 the central
    difference carries truncation of about 1e-10 and rounding of about 1e-11.
    """
    x = tf.constant(x, tf.float64)
    y = tf.constant(y, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        value = function(x, y)
    gradient_x, gradient_y = tape.gradient(value, [x, y])

    rng = np.random.default_rng(0)
    for _ in range(num_directions):
        direction_x = rng.normal(size=x.shape)
        direction_y = rng.normal(size=y.shape)
        analytic = np.sum(gradient_x.numpy() * direction_x) + np.sum(gradient_y.numpy() * direction_y)
        forward = float(function(x + step * direction_x, y + step * direction_y))
        backward = float(function(x - step * direction_x, y - step * direction_y))
        np.testing.assert_allclose(analytic, (forward - backward) / (2.0 * step), atol=atol)


@pytest.fixture
def check_directional_derivatives():
    """Returns a function that checks a gradient of f(x, y) by central differences."""
    return _check_directional_derivatives

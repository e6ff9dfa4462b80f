"""Fixtures shared by the GAN tests."""

import numpy as np
import pytest


def _reference_mmd2(x, y, bandwidths):
    """Returns the unbiased squared MMD with a sum of Gaussian kernels on flattened samples, float64 NumPy."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)

    def kernel(a, b):
        squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-squared / (2.0 * h * h)) for h in bandwidths)

    n, m = len(x), len(y)
    kxx = kernel(x, x)
    kyy = kernel(y, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return within_x + within_y - 2.0 * kernel(x, y).mean()


@pytest.fixture
def reference_mmd2():
    """Returns the float64 NumPy reference of the unbiased squared MMD, reference_mmd2(x, y, bandwidths)."""
    return _reference_mmd2

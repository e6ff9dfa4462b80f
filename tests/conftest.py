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

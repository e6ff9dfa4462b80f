"""discrepancy: how far apart two distributions are, from their samples.

Three faces:
  * `discrepancy.divergences`: MMD, energy distance, Wasserstein, Sinkhorn,
    Gaussian closed forms, f-divergences and their estimators.
  * `discrepancy.gans`: GANs trained by minimising any of those discrepancies.
  * `discrepancy.metrics`: FID, KID, precision/recall, density/coverage and
    mode coverage for generated samples.

By convention `x` holds samples of P (real data) and `y` samples of Q
(generated data); several quantities are asymmetric.

Subpackages load on first use, so `import discrepancy` and the command line's
help do not pay for importing TensorFlow until a computation needs it.
"""

import importlib

__version__ = "0.1.0"

__all__ = ["Estimate", "estimate", "datasets", "divergences", "gans", "metrics", "__version__"]

_SUBPACKAGES = ("datasets", "divergences", "gans", "metrics")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"discrepancy.{name}")
    if name in ("Estimate", "estimate"):
        return getattr(importlib.import_module("discrepancy.divergences"), name)
    raise AttributeError(f"module 'discrepancy' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

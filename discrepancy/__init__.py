"""discrepancy: how far apart two distributions are, from their samples.

Three faces:
  * `discrepancy.divergences`: MMD, energy distance, Wasserstein, Sinkhorn,
    Gaussian closed forms, f-divergences and their estimators.
  * `discrepancy.gans`: GANs trained by minimising any of those discrepancies.
  * `discrepancy.metrics`: FID, KID, precision/recall, density/coverage and
    mode coverage for generated samples.

By convention `x` holds samples of P (real data) and `y` samples of Q
(generated data); several quantities are asymmetric.
"""

__version__ = "0.1.0"

from discrepancy import datasets, divergences, gans, metrics
from discrepancy.divergences import Estimate, estimate

__all__ = ["Estimate", "estimate", "datasets", "divergences", "gans", "metrics", "__version__"]

"""Discrepancies between two sample sets: x (real, P) and y (generated, Q).

Integral probability metrics (MMD, energy distance, Wasserstein, Sinkhorn),
Gaussian closed forms, and f-divergences with their estimators. Each public
function takes `x` of shape [n, d] and `y` of shape [m, d] with n and m free to
differ, and returns a scalar tensor in the input dtype unless it says otherwise.
"""

from discrepancy.divergences._result import Estimate
from discrepancy.divergences._kernels import InhomogeneousPolynomial, make_kernel, median_bandwidth
from discrepancy.divergences._mmd import MMDTestResult, mmd2, mmd_test
from discrepancy.divergences._energy import energy_distance
from discrepancy.divergences._estimate import estimate
from discrepancy.divergences._knn import knn_kl
from discrepancy.divergences._gaussian import frechet_distance, gaussian_kl
from discrepancy.divergences._f_divergences import FDivergence, f_divergence
from discrepancy.divergences._variational import classifier_divergence, variational_divergence
from discrepancy.divergences._wasserstein import sliced_wasserstein, wasserstein
from discrepancy.divergences._sinkhorn import sinkhorn_divergence

__all__ = [
    "Estimate",
    "estimate",
    "InhomogeneousPolynomial",
    "make_kernel",
    "median_bandwidth",
    "mmd2",
    "mmd_test",
    "MMDTestResult",
    "energy_distance",
    "knn_kl",
    "gaussian_kl",
    "frechet_distance",
    "FDivergence",
    "f_divergence",
    "variational_divergence",
    "classifier_divergence",
    "wasserstein",
    "sliced_wasserstein",
    "sinkhorn_divergence",
]

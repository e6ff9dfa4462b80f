"""Closed forms between two Gaussians P = N(m_p, C_p) and Q = N(m_q, C_q).

P is the Gaussian fitted to real data and Q the one fitted to generated data.
`gaussian_kl` is asymmetric and `frechet_distance` is symmetric.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from discrepancy import _validation

__all__ = [
    "gaussian_kl",
    "frechet_distance",
    "frechet_distance_numpy",
    "GaussianFactor",
    "factor_gaussian",
    "frechet_from_factors",
]

_EPS64 = float(np.finfo(np.float64).eps)

# Order of the diagnostics when they travel through tf.numpy_function as one vector.
_DIAGNOSTIC_NAMES = (
    "mean_term",
    "trace_p",
    "trace_q",
    "trace_sqrt_product",
    "clipped_eigenvalue_mass_p",
    "clipped_eigenvalue_mass_q",
    "clipped_eigenvalue_mass",
    "negative_residual",
)


@tf.function(jit_compile=True, reduce_retracing=True)
def _gaussian_kl_core(mean_p, cov_p, mean_q, cov_q):
    """Returns (KL(P || Q), Cholesky of C_p finite, Cholesky of C_q finite) in float64.

    XLA's Cholesky returns NaN for a matrix that is not positive definite, so
    the two flags tell the caller which covariance failed.
    """
    scale_p = tf.linalg.cholesky(cov_p)
    scale_q = tf.linalg.cholesky(cov_q)
    p = tfp.distributions.MultivariateNormalTriL(loc=mean_p, scale_tril=scale_p)
    q = tfp.distributions.MultivariateNormalTriL(loc=mean_q, scale_tril=scale_q)
    kl = tfp.distributions.kl_divergence(p, q)
    finite_p = tf.reduce_all(tf.math.is_finite(scale_p))
    finite_q = tf.reduce_all(tf.math.is_finite(scale_q))
    return kl, finite_p, finite_q


def _not_positive_definite_message(name: str, covariance: np.ndarray | None) -> str:
    """Builds the error message for a covariance whose Cholesky factorisation failed."""
    detail = ""
    if covariance is not None:
        eigenvalues = np.linalg.eigvalsh(covariance)
        detail = (
            f" (smallest eigenvalue {eigenvalues[0]:.3g}, largest {eigenvalues[-1]:.3g})"
        )
    return (
        f"`{name}` is not positive definite{detail}, so the Gaussian has no density and "
        "its KL divergence is undefined. Add a ridge to the diagonal, for example "
        f"{name} + 1e-6 * np.trace({name}) / d * np.eye(d), or estimate it from more "
        "samples than features."
    )


def gaussian_kl(mean_p: Any, cov_p: Any, mean_q: Any, cov_q: Any) -> tf.Tensor:
    """Computes KL(P || Q) between the Gaussians P = N(mean_p, cov_p) and Q = N(mean_q, cov_q).

        KL(P || Q) = 0.5 * [ tr(C_q^-1 C_p) + (m_q - m_p)^T C_q^-1 (m_q - m_p) - d
                             + log det C_q - log det C_p ]

    The value comes from `tfp.distributions.kl_divergence` between two
    `MultivariateNormalTriL` distributions built from Cholesky factors. It is
    exact up to rounding (no sampling, so no bias or variance). It is computed
    in float64 whatever the input dtype and returned in the input dtype,
    because the log-determinants of badly conditioned covariances lose most of
    float32's digits. It is differentiable in all four arguments.

    Cost: two Cholesky factorisations and triangular solves, O(d^3) time and
    O(d^2) memory, compiled with XLA (one compilation per d).

    Args:
      mean_p: mean of P (the real data), shape [d].
      cov_p: covariance of P, shape [d, d], symmetric positive definite.
      mean_q: mean of Q (the generated data), shape [d].
      cov_q: covariance of Q, shape [d, d], symmetric positive definite.

    Returns:
      A scalar tensor in the input dtype (float64 if any argument is float64).

    Raises:
      ValueError: shapes that do not match, NaN or inf, a covariance that is
        not symmetric, or one that is not positive definite (the message names
        which and suggests a ridge). Inside `tf.function` the last two fail at
        run time with `tf.errors.InvalidArgumentError` carrying the same advice.

    References:
      S. Kullback and R. A. Leibler, "On information and sufficiency", Annals of
      Mathematical Statistics 22(1), 1951.
    """
    mean_p, cov_p, mean_q, cov_q = _validation.as_gaussian_pair(mean_p, cov_p, mean_q, cov_q)
    dtype = mean_p.dtype

    kl, finite_p, finite_q = _gaussian_kl_core(
        *(tf.cast(t, tf.float64) for t in (mean_p, cov_p, mean_q, cov_q))
    )

    if tf.executing_eagerly():
        if not bool(finite_p):
            raise ValueError(_not_positive_definite_message("cov_p", cov_p.numpy()))
        if not bool(finite_q):
            raise ValueError(_not_positive_definite_message("cov_q", cov_q.numpy()))
    else:
        checks = [
            tf.debugging.Assert(finite_p, [_not_positive_definite_message("cov_p", None)]),
            tf.debugging.Assert(finite_q, [_not_positive_definite_message("cov_q", None)]),
        ]
        with tf.control_dependencies(checks):
            kl = tf.identity(kl)
    return tf.cast(kl, dtype)


@dataclasses.dataclass(frozen=True)
class GaussianFactor:
    """A Gaussian N(mean, F F^T) with its covariance factored for `frechet_from_factors`.

    Attributes:
      mean: float64 mean, shape [d].
      factor: float64 F with F F^T = C, shape [d, d]: the lower Cholesky factor
        when C is positive definite, else V diag(w)^1/2 from the
        eigendecomposition C = V diag(w) V^T with negative eigenvalues set to zero.
      trace: Tr(F F^T).
      clipped_mass: summed magnitude of the eigenvalues set to zero (0 for a
        Cholesky factor).
    """

    mean: np.ndarray
    factor: np.ndarray
    trace: float
    clipped_mass: float


def factor_gaussian(mean: Any, covariance: Any, name: str, input_eps: float = _EPS64) -> GaussianFactor:
    """Factors a symmetric covariance as C = F F^T in float64.

    A positive definite covariance gets its Cholesky factor, which costs d^3 / 3
    flops against about 9 d^3 for a symmetric eigendecomposition with vectors.
    Where Cholesky fails (a singular covariance, for example with fewer samples
    than features, or rounding below zero), the factor comes from a symmetric
    eigendecomposition: eigenvalues below zero are set to zero, and their
    summed magnitude is the clipped mass. A negative eigenvalue larger than
    sqrt(eps) * lambda_max, with eps the machine epsilon of the caller's
    dtype, is not rounding, so the covariance is rejected instead of silently
    repaired.

    Raises:
      ValueError: the covariance is not positive semi-definite; the message
        names it by `name`.
    """
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)

    try:
        factor = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        factor = None
    if factor is not None and np.isfinite(factor).all():
        return GaussianFactor(mean, factor, float(np.trace(covariance)), 0.0)

    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    largest = max(float(eigenvalues[-1]), 0.0)
    smallest = float(eigenvalues[0])
    if smallest < -math.sqrt(input_eps) * largest or (largest == 0.0 and smallest < 0.0):
        raise ValueError(
            f"`{name}` is not positive semi-definite: its smallest eigenvalue is "
            f"{smallest:.3g} against a largest of {largest:.3g}, beyond rounding. A "
            "covariance accumulated in float32 or from uncentred sums often ends up "
            "like this; recompute it in float64 (for example with "
            "discrepancy.metrics.FeatureStatistics) or add a ridge to the diagonal."
        )

    negative = eigenvalues < 0.0
    clipped_mass = float(np.abs(eigenvalues[negative]).sum())
    eigenvalues = np.where(negative, 0.0, eigenvalues)
    factor = eigenvectors * np.sqrt(eigenvalues)
    return GaussianFactor(mean, factor, float(eigenvalues.sum()), clipped_mass)


def frechet_from_factors(p: GaussianFactor, q: GaussianFactor) -> tuple[float, dict[str, float]]:
    """Returns (squared Frechet distance, diagnostics) from two factored Gaussians, in float64."""
    num_features = p.mean.shape[0]

    # Tr (C_p^1/2 C_q C_p^1/2)^1/2 is the sum of the singular values of
    # F_q^T F_p for any factors with F F^T = C. Taking singular values of the
    # product keeps absolute errors at eps * |F_p| |F_q|; taking eigenvalues of
    # F_p^T C_q F_p and then square roots would lose half the digits near zero
    # (measured: 1e-8 of the trace instead of 1e-15 for d^2(X, X)).
    singular_values = np.linalg.svd(q.factor.T @ p.factor, compute_uv=False)
    trace_sqrt_product = float(singular_values.sum())

    difference = p.mean - q.mean
    mean_term = float(difference @ difference)
    value = mean_term + p.trace + q.trace - 2.0 * trace_sqrt_product

    # With the clipped factors the value equals |dm|^2 + |F_p|_F^2 + |F_q|_F^2
    # - 2 |F_q^T F_p|_* >= 0 exactly, so a negative value is rounding in the
    # sums, bounded by about d * eps times the terms added.
    negative_residual = 0.0
    if value < 0.0:
        negative_residual = -value
        tolerance = 4.0 * max(num_features, 1) * _EPS64 * (mean_term + p.trace + q.trace)
        if negative_residual > tolerance:
            warnings.warn(
                f"frechet_distance: the computed value {value:.3g} is negative beyond "
                f"rounding (tolerance {tolerance:.3g}); it is reported as 0. Check "
                "that both covariances are finite and of a sensible scale.",
                RuntimeWarning,
                stacklevel=2,
            )
        value = 0.0

    diagnostics = {
        "mean_term": mean_term,
        "trace_p": p.trace,
        "trace_q": q.trace,
        "trace_sqrt_product": trace_sqrt_product,
        "clipped_eigenvalue_mass_p": p.clipped_mass,
        "clipped_eigenvalue_mass_q": q.clipped_mass,
        "clipped_eigenvalue_mass": p.clipped_mass + q.clipped_mass,
        "negative_residual": negative_residual,
    }
    return value, diagnostics


def frechet_distance_numpy(
    mean_p: np.ndarray,
    cov_p: np.ndarray,
    mean_q: np.ndarray,
    cov_q: np.ndarray,
    input_eps: float = _EPS64,
) -> tuple[float, dict[str, float]]:
    """Computes the squared Frechet distance in float64 NumPy; returns (value, diagnostics).

    This is the core of `frechet_distance` without input validation: the
    covariances must already be symmetric, and `input_eps` is the machine
    epsilon of the dtype they arrived in (it sets the tolerance of the
    positive semi-definiteness check). See `frechet_distance` for the method.
    """
    p = factor_gaussian(mean_p, cov_p, "cov_p", input_eps)
    q = factor_gaussian(mean_q, cov_q, "cov_q", input_eps)
    return frechet_from_factors(p, q)


def frechet_distance(
    mean_p: Any,
    cov_p: Any,
    mean_q: Any,
    cov_q: Any,
    *,
    return_diagnostics: bool = False,
):
    """Computes the squared Frechet (2-Wasserstein) distance between two Gaussians.

        d^2(P, Q) = |m_p - m_q|^2 + Tr(C_p + C_q - 2 (C_p^1/2 C_q C_p^1/2)^1/2)

    This is W_2(P, Q)^2 for P = N(m_p, C_p) and Q = N(m_q, C_q), and the
    quantity FID reports for Gaussians fitted to real (P) and generated (Q)
    features. It is symmetric in P and Q. Given exact means and covariances it
    is exact up to rounding; the bias of FID from estimated covariances is
    discussed in `discrepancy.metrics.fid`.

    Method: both covariances are factored as C = F F^T in float64, by
    Cholesky when C is positive definite and otherwise by a symmetric
    eigendecomposition (`numpy.linalg.eigh`) with F = V diag(w)^1/2. For any
    such factors the trace of the matrix square root is the sum of the
    singular values of F_q^T F_p (its nuclear norm). No general `sqrtm` of
    the non-symmetric product C_p C_q is taken, so the result is never
    complex, and the singular values avoid squaring the condition number.
    Eigenvalues below zero (rounding in a positive semi-definite input) are
    set to zero, and their summed magnitude is reported as clipped mass.
    Measured errors of d^2(X, X) are about 1e-14 of Tr C for condition
    numbers up to 1e16 and any rank.

    Guarantees: never NaN, never complex, never negative. The exact value is
    non-negative, so a negative result can only be rounding, bounded by about
    d * eps * (|m_p - m_q|^2 + Tr C_p + Tr C_q); such a residual is reported
    in the diagnostics and the value is set to 0. A larger negative value
    (not seen in testing) would also be set to 0, with a RuntimeWarning.

    The float64 linear algebra runs in NumPy's LAPACK, which measured 1.3 to
    4.8 times faster than TensorFlow's `tf.linalg.eigh` at d = 2048 on a
    shared 2-core CPU (`benchmarks/fid.py`; the spread comes from the load of
    other processes). Inside `tf.function` the same NumPy code runs through
    `tf.numpy_function`, so the result is not differentiable: gradients with
    respect to the inputs are None. It runs on the host CPU even when
    TensorFlow has a GPU.

    Cost: two d x d Cholesky factorisations (eigendecompositions for a
    singular covariance), one d x d matrix product and the singular values of
    one d x d matrix, O(d^3) time and O(d^2) memory; the singular values
    dominate. Measured times are in docs/benchmarks.md.

    Args:
      mean_p: mean of P (the real data), shape [d].
      cov_p: covariance of P, shape [d, d], symmetric positive semi-definite.
      mean_q: mean of Q (the generated data), shape [d].
      cov_q: covariance of Q, shape [d, d], symmetric positive semi-definite.
      return_diagnostics: also return a dict with the terms of the formula
        ("mean_term", "trace_p", "trace_q", "trace_sqrt_product"), the clipped
        eigenvalue mass per covariance and in total
        ("clipped_eigenvalue_mass_p", "clipped_eigenvalue_mass_q",
        "clipped_eigenvalue_mass") and the negative rounding residual set to
        zero ("negative_residual"). Values are Python floats in eager mode and
        float64 scalar tensors inside `tf.function`.

    Returns:
      A scalar tensor in the input dtype (float64 if any argument is float64),
      or (value, diagnostics) when `return_diagnostics` is true.

    Raises:
      ValueError: shapes that do not match, NaN or inf, a covariance that is
        not symmetric within sqrt(eps) of its largest entry, or one with a
        negative eigenvalue beyond sqrt(eps) * lambda_max (not positive
        semi-definite). Inside `tf.function` the last two surface at run time
        as `tf.errors.InvalidArgumentError` with the same message.

    References:
      M. Frechet, "Sur la distance de deux lois de probabilite", Comptes Rendus
      de l'Academie des Sciences 244, 1957.
      D. C. Dowson and B. V. Landau, "The Frechet distance between multivariate
      normal distributions", Journal of Multivariate Analysis 12(3), 1982.
      M. Heusel et al., "GANs trained by a two time-scale update rule converge
      to a local Nash equilibrium", NeurIPS 2017 (FID).
    """
    return_diagnostics = bool(return_diagnostics)
    mean_p, cov_p, mean_q, cov_q = _validation.as_gaussian_pair(mean_p, cov_p, mean_q, cov_q)
    dtype = mean_p.dtype
    input_eps = float(np.finfo(dtype.as_numpy_dtype).eps)

    if tf.executing_eagerly():
        value, diagnostics = frechet_distance_numpy(
            mean_p.numpy(), cov_p.numpy(), mean_q.numpy(), cov_q.numpy(), input_eps
        )
        result = tf.constant(value, dtype=dtype)
        return (result, diagnostics) if return_diagnostics else result

    def host_core(mean_p, cov_p, mean_q, cov_q):
        value, diagnostics = frechet_distance_numpy(mean_p, cov_p, mean_q, cov_q, input_eps)
        return np.float64(value), np.array(
            [diagnostics[name] for name in _DIAGNOSTIC_NAMES], dtype=np.float64
        )

    value, vector = tf.numpy_function(
        host_core, [mean_p, cov_p, mean_q, cov_q], (tf.float64, tf.float64), stateful=False
    )
    value = tf.cast(tf.reshape(value, []), dtype)
    if not return_diagnostics:
        return value
    vector = tf.reshape(vector, [len(_DIAGNOSTIC_NAMES)])
    return value, {name: vector[i] for i, name in enumerate(_DIAGNOSTIC_NAMES)}

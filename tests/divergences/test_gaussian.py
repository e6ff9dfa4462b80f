"""Tests for the Gaussian closed forms: gaussian_kl and frechet_distance."""

import math

import numpy as np
import pytest
import tensorflow as tf

from discrepancy.divergences import frechet_distance, gaussian_kl

DTYPES = [np.float32, np.float64]
EPS64 = np.finfo(np.float64).eps


# --- constructions and float64 references ------------------------------------


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def spectrum(d, condition, rank):
    """Eigenvalues from 1 down to 1 / condition, log-spaced, the last d - rank set to 0."""
    values = np.logspace(0.0, -math.log10(condition), d) if d > 1 else np.ones(1)
    values[rank:] = 0.0
    return values


def psd_factor(rng, d, condition=1.0, rank=None):
    """Returns F with F F^T a covariance of the given condition number and rank."""
    rank = d if rank is None else rank
    return random_orthogonal(rng, d) * np.sqrt(spectrum(d, condition, rank))


def gram(factor):
    covariance = factor @ factor.T
    return 0.5 * (covariance + covariance.T)


def transport_pair(rng, d, condition=1.0, rank=None):
    """Returns (C_p, C_q, exact squared distance) for zero-mean Gaussians that do not commute.

    With C_q = T C_p T and T symmetric positive definite, T is the optimal
    transport map, so d^2 = E|x - T x|^2 = |(I - T) F|_F^2 for C_p = F F^T. The
    right side has no cancellation, so it is exact to about eps relative.
    """
    factor = psd_factor(rng, d, condition, rank)
    transport = gram(random_orthogonal(rng, d) * np.sqrt(rng.uniform(0.5, 2.0, d)))
    exact = float(np.sum(((np.eye(d) - transport) @ factor) ** 2))
    return gram(factor), gram(transport @ factor), exact


def reference_frechet(mean_p, cov_p, mean_q, cov_q):
    """Float64 eigen reference: Tr sqrt(C_q^1/2 C_p C_q^1/2), square roots by eigh.

    Takes the square root of C_q (the other order from the library), then the
    eigenvalues of the symmetric product. Its error near zero eigenvalues is
    about sqrt(eps) of the traces, so it serves full-rank, moderately
    conditioned cases.
    """
    mean_p, cov_p, mean_q, cov_q = (np.asarray(a, np.float64) for a in (mean_p, cov_p, mean_q, cov_q))
    values, vectors = np.linalg.eigh(cov_q)
    root_q = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_q @ cov_p @ root_q
    eigenvalues = np.linalg.eigvalsh(0.5 * (product + product.T))
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    return float(np.sum((mean_p - mean_q) ** 2) + np.trace(cov_p) + np.trace(cov_q) - 2.0 * trace_sqrt)


def reference_kl(mean_p, cov_p, mean_q, cov_q):
    """KL(P || Q) from the textbook formula, float64."""
    d = mean_p.shape[0]
    inverse_q = np.linalg.inv(cov_q)
    difference = mean_q - mean_p
    _, logdet_p = np.linalg.slogdet(cov_p)
    _, logdet_q = np.linalg.slogdet(cov_q)
    return 0.5 * (
        np.trace(inverse_q @ cov_p) + difference @ inverse_q @ difference - d + logdet_q - logdet_p
    )


def fd(mean_p, cov_p, mean_q, cov_q, **options):
    return frechet_distance(mean_p, cov_p, mean_q, cov_q, **options)


# --- frechet_distance: closed forms ------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 7, 64, 160])
@pytest.mark.parametrize("condition", [1.0, 1e4, 1e8, 1e12])
def test_frechet_transport_pair(d, condition):
    rng = np.random.default_rng(d)
    for rank in sorted({d, max(d - 1, 0), d // 2, 1, 0}):
        cov_p, cov_q, exact = transport_pair(rng, d, condition, rank)
        mean = np.zeros(d)
        value = float(fd(mean, cov_p, mean, cov_q))
        # Rounding of C_q = T C_p T moves d^2 by about d * eps * Tr; allow 50x.
        scale = np.trace(cov_p) + np.trace(cov_q)
        assert abs(value - exact) <= 50 * d * EPS64 * scale + 1e-300, (rank, value, exact)


@pytest.mark.parametrize("d", [1, 5, 100])
@pytest.mark.parametrize("condition", [1.0, 1e6, 1e12])
def test_frechet_commuting_diagonal(d, condition):
    rng = np.random.default_rng(3)
    for rank in sorted({d, max(d - 1, 0), d // 2, 1, 0}):
        a = rng.permutation(spectrum(d, condition, rank))
        b = rng.permutation(spectrum(d, condition, d))
        mean_p, mean_q = rng.normal(size=d), rng.normal(size=d)
        exact = np.sum((mean_p - mean_q) ** 2) + a.sum() + b.sum() - 2.0 * np.sqrt(a * b).sum()
        value = float(fd(mean_p, np.diag(a), mean_q, np.diag(b)))
        scale = np.sum((mean_p - mean_q) ** 2) + a.sum() + b.sum()
        # Diagonal inputs decompose exactly; only the final sums round.
        assert abs(value - exact) <= 8 * d * EPS64 * scale, (rank, value, exact)


def test_frechet_commuting_rotated():
    rng = np.random.default_rng(4)
    d = 40
    rotation = random_orthogonal(rng, d)
    a, b = spectrum(d, 1e8, d), rng.permutation(spectrum(d, 1e3, d))
    cov_p = gram(rotation * np.sqrt(a))
    cov_q = gram(rotation * np.sqrt(b))
    exact = a.sum() + b.sum() - 2.0 * np.sqrt(a * b).sum()
    value = float(fd(np.zeros(d), cov_p, np.zeros(d), cov_q))
    # The rotation rounds C_p and C_q at eps. The gradient of d^2 in C_p is
    # I - T, where the transport map T has eigenvalues sqrt(b_i / a_i), so d^2
    # moves by about d * eps * Tr * max sqrt(b_i / a_i) (and the same for C_q).
    # Singular inputs would make that factor infinite; the diagonal and
    # transport-pair tests cover them.
    ratio = np.sqrt(np.maximum(a / b, b / a)).max()
    assert abs(value - exact) <= 10 * d * EPS64 * (a.sum() + b.sum()) * ratio


def test_frechet_one_dimension():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    value = float(fd([1.5], [[4.0]], [-0.5], [[0.25]]))
    assert value == pytest.approx(2.0**2 + (2.0 - 0.5) ** 2, rel=1e-15)


def test_frechet_two_dimension_closed_form():
    # For 2 x 2 PSD M, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)), and
    # M = C_p^1/2 C_q C_p^1/2 has Tr M = Tr(C_p C_q) and det M = det C_p det C_q.
    cov_p = np.array([[2.0, 0.7], [0.7, 1.0]])
    cov_q = np.array([[0.5, -0.3], [-0.3, 3.0]])
    trace_sqrt = math.sqrt(np.trace(cov_p @ cov_q) + 2 * math.sqrt(np.linalg.det(cov_p) * np.linalg.det(cov_q)))
    exact = np.trace(cov_p) + np.trace(cov_q) - 2 * trace_sqrt + 1.0**2 + 2.0**2
    value = float(fd([0.0, 0.0], cov_p, [1.0, -2.0], cov_q))
    assert value == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("d", [3, 50, 257])
def test_frechet_matches_eigen_reference(d):
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(2 * d, d)), rng.normal(size=(3 * d, d)) @ rng.normal(size=(d, d))
    cov_p, cov_q = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    mean_p, mean_q = x.mean(0), y.mean(0)
    expected = reference_frechet(mean_p, cov_p, mean_q, cov_q)
    value = float(fd(mean_p, cov_p, mean_q, cov_q))
    # Full-rank inputs with condition below 1e4: both methods carry about 1e-12 relative error.
    assert value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("d", [1024, pytest.param(2048, marks=pytest.mark.slow)])
def test_frechet_large_dimension(d):
    # d = 2048 is the size of Inception pool features; it takes minutes on a
    # loaded 2-core machine, so the default run stops at 1024.
    rng = np.random.default_rng(d)
    cov_p, cov_q, exact = transport_pair(rng, d, 1e8, 3 * d // 4)
    value = float(fd(np.zeros(d), cov_p, np.zeros(d), cov_q))
    assert abs(value - exact) <= 50 * d * EPS64 * (np.trace(cov_p) + np.trace(cov_q))


# --- frechet_distance: identities ---------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 17, 128])
@pytest.mark.parametrize("condition", [1.0, 1e6, 1e12, 1e16])
def test_frechet_self_is_zero(d, condition):
    rng = np.random.default_rng(7)
    for rank in sorted({d, max(d - 1, 0), d // 2, 1, 0}):
        covariance = gram(psd_factor(rng, d, condition, rank))
        mean = rng.normal(size=d)
        value, diagnostics = fd(mean, covariance, mean, covariance, return_diagnostics=True)
        trace = np.trace(covariance)
        # Zero up to rounding of the traces.
        assert 0.0 <= float(value) <= 16 * d * EPS64 * trace, (rank, float(value))
        assert diagnostics["negative_residual"] <= 16 * d * EPS64 * trace


def test_frechet_symmetric():
    rng = np.random.default_rng(8)
    cov_p, cov_q, _ = transport_pair(rng, 30, 1e6, 20)
    mean_p, mean_q = rng.normal(size=30), rng.normal(size=30)
    forward = float(fd(mean_p, cov_p, mean_q, cov_q))
    backward = float(fd(mean_q, cov_q, mean_p, cov_p))
    assert forward == pytest.approx(backward, rel=1e-12)


@pytest.mark.parametrize("d", [1, 10, 100])
def test_frechet_sweep_finite_nonnegative(d):
    rng = np.random.default_rng(9)
    for condition in (1.0, 1e6, 1e12):
        for rank_p in sorted({0, 1, d // 2, max(d - 1, 0), d}):
            for rank_q in sorted({0, 1, d}):
                cov_p = gram(psd_factor(rng, d, condition, rank_p))
                cov_q = gram(psd_factor(rng, d, condition, rank_q))
                value = fd(np.zeros(d), cov_p, np.ones(d), cov_q).numpy()
                assert np.isrealobj(value)
                assert np.isfinite(value)
                assert value >= 0.0


# --- frechet_distance: dtypes, graphs, diagnostics ----------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_frechet_dtype(dtype):
    rng = np.random.default_rng(10)
    cov_p, cov_q, _ = transport_pair(rng, 6, 1e3)
    args = [a.astype(dtype) for a in (rng.normal(size=6), cov_p, rng.normal(size=6), cov_q)]
    value = fd(*args)
    assert value.dtype == tf.as_dtype(dtype)
    expected = reference_frechet(*args)
    # The computation is float64 on the given values; the result then rounds to dtype.
    assert float(value) == pytest.approx(expected, rel=2 * float(np.finfo(dtype).eps) + 1e-11)


def test_frechet_float32_psd_rounding_accepted():
    # A singular float64 covariance rounded to float32 gains eigenvalues of
    # about -1e-8 relative; they are clipped and reported, not rejected.
    rng = np.random.default_rng(11)
    covariance = gram(psd_factor(rng, 50, 1e3, 10)).astype(np.float32)
    value, diagnostics = fd(np.zeros(50, np.float32), covariance, np.zeros(50, np.float32), covariance, return_diagnostics=True)
    assert diagnostics["clipped_eigenvalue_mass"] > 0.0
    assert diagnostics["clipped_eigenvalue_mass"] == pytest.approx(
        diagnostics["clipped_eigenvalue_mass_p"] + diagnostics["clipped_eigenvalue_mass_q"]
    )
    assert float(value) >= 0.0


def test_frechet_diagnostics_terms():
    cov_p, cov_q = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    value, diagnostics = fd([0.0, 0.0], cov_p, [3.0, 4.0], cov_q, return_diagnostics=True)
    assert diagnostics["mean_term"] == pytest.approx(25.0, rel=1e-15)
    assert diagnostics["trace_p"] == pytest.approx(5.0, rel=1e-15)
    assert diagnostics["trace_q"] == pytest.approx(10.0, rel=1e-15)
    assert diagnostics["trace_sqrt_product"] == pytest.approx(2.0 + 3.0, rel=1e-15)
    assert diagnostics["clipped_eigenvalue_mass"] == 0.0
    assert float(value) == pytest.approx(25.0 + 15.0 - 10.0, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_frechet_in_tf_function(dtype):
    rng = np.random.default_rng(12)
    cov_p, cov_q, _ = transport_pair(rng, 5, 10.0)
    args = [tf.constant(a, dtype) for a in (rng.normal(size=5), cov_p, rng.normal(size=5), cov_q)]
    compiled = tf.function(lambda *a: fd(*a, return_diagnostics=True))
    value, diagnostics = compiled(*args)
    assert value.dtype == tf.as_dtype(dtype)
    assert float(value) == pytest.approx(float(fd(*args)), rel=1e-15)
    assert float(diagnostics["trace_p"]) == pytest.approx(np.trace(args[1].numpy().astype(np.float64)), rel=1e-12)


def test_frechet_gradient_is_none():
    # The host NumPy core is not differentiable; gradients are None, not zeros.
    cov = tf.Variable(np.eye(3))
    with tf.GradientTape() as tape:
        value = tf.function(fd)(tf.zeros(3, tf.float64), cov, tf.ones(3, tf.float64), tf.eye(3, dtype=tf.float64))
    assert tape.gradient(value, cov) is None


# --- frechet_distance: validation ---------------------------------------------


def test_frechet_rejects_asymmetric():
    cov = np.array([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="`cov_q` is not symmetric"):
        fd(np.zeros(2), np.eye(2), np.zeros(2), cov)


def test_frechet_rejects_indefinite():
    cov = np.diag([1.0, -0.1])
    with pytest.raises(ValueError, match="`cov_p` is not positive semi-definite"):
        fd(np.zeros(2), cov, np.zeros(2), np.eye(2))


def test_frechet_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same number of features"):
        fd(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="`cov_p` must be a square matrix"):
        fd(np.zeros(2), np.ones((2, 3)), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="`mean_q` has shape"):
        fd(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="`mean_p` must be a vector"):
        fd(np.zeros((2, 1)), np.eye(2), np.zeros(2), np.eye(2))


def test_frechet_rejects_nan():
    cov = np.eye(2)
    cov[0, 0] = np.nan
    with pytest.raises(ValueError, match="`cov_q` contains 1 non-finite"):
        fd(np.zeros(2), np.eye(2), np.zeros(2), cov)
    with pytest.raises(ValueError, match="`mean_p` contains"):
        fd([np.inf, 0.0], np.eye(2), np.zeros(2), np.eye(2))


def test_frechet_rejects_complex():
    with pytest.raises(TypeError, match="`cov_p` has complex dtype"):
        fd(np.zeros(2), np.eye(2, dtype=complex), np.zeros(2), np.eye(2))


# --- gaussian_kl ----------------------------------------------------------------


def random_covariance(rng, d, condition=10.0):
    return gram(psd_factor(rng, d, condition, d))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 4, 33])
def test_kl_matches_formula(dtype, d):
    rng = np.random.default_rng(d)
    mean_p, mean_q = rng.normal(size=d), rng.normal(size=d)
    cov_p, cov_q = random_covariance(rng, d), random_covariance(rng, d, 1e3)
    args = [a.astype(dtype) for a in (mean_p, cov_p, mean_q, cov_q)]
    value = gaussian_kl(*args)
    assert value.dtype == tf.as_dtype(dtype)
    expected = reference_kl(*(a.astype(np.float64) for a in args))
    # Computed in float64 from the given values; float32 only rounds the result.
    assert float(value) == pytest.approx(expected, rel=2 * float(np.finfo(dtype).eps) + 1e-10)


def test_kl_one_dimension_direction():
    # KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2.
    value = float(gaussian_kl([0.0], [[1.0]], [1.0], [[4.0]]))
    assert value == pytest.approx(math.log(2.0) + (1.0 + 1.0) / 8.0 - 0.5, rel=1e-14)
    reverse = float(gaussian_kl([1.0], [[4.0]], [0.0], [[1.0]]))
    assert reverse == pytest.approx(math.log(0.5) + (4.0 + 1.0) / 2.0 - 0.5, rel=1e-14)


def test_kl_self_is_zero():
    rng = np.random.default_rng(5)
    cov, mean = random_covariance(rng, 20, 1e6), rng.normal(size=20)
    # Each term rounds at about d * eps * condition number.
    assert abs(float(gaussian_kl(mean, cov, mean, cov))) <= 1e-8


def test_kl_gradient_in_mean_q():
    # d KL / d m_q = C_q^-1 (m_q - m_p).
    rng = np.random.default_rng(6)
    cov_p, cov_q = random_covariance(rng, 3), random_covariance(rng, 3)
    mean_p, mean_q = tf.constant(rng.normal(size=3)), tf.Variable(rng.normal(size=3))
    with tf.GradientTape() as tape:
        value = gaussian_kl(mean_p, cov_p, mean_q, cov_q)
    gradient = tape.gradient(value, mean_q).numpy()
    expected = np.linalg.solve(cov_q, mean_q.numpy() - mean_p.numpy())
    np.testing.assert_allclose(gradient, expected, rtol=1e-10)


def test_kl_in_tf_function():
    rng = np.random.default_rng(7)
    args = (rng.normal(size=3), random_covariance(rng, 3), rng.normal(size=3), random_covariance(rng, 3))
    compiled = tf.function(gaussian_kl)
    assert float(compiled(*args)) == pytest.approx(float(gaussian_kl(*args)), rel=1e-14)


@pytest.mark.parametrize("name", ["cov_p", "cov_q"])
def test_kl_rejects_singular(name):
    singular = np.ones((3, 3))
    args = {"mean_p": np.zeros(3), "cov_p": np.eye(3), "mean_q": np.zeros(3), "cov_q": np.eye(3)}
    args[name] = singular
    with pytest.raises(ValueError, match=f"`{name}` is not positive definite.*ridge"):
        gaussian_kl(**args)


def test_kl_rejects_singular_in_tf_function():
    compiled = tf.function(gaussian_kl)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`cov_q` is not positive definite"):
        compiled(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0]))


def test_frechet_rejects_indefinite_in_tf_function():
    compiled = tf.function(fd)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`cov_q` is not positive semi-definite"):
        compiled(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -0.5]))

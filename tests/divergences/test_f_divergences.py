"""Tests of the f-divergence catalogue against float64 references written here."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import integrate, special, stats

from discrepancy.divergences import FDivergence, f_divergence

ALPHA_ORDERS = (-1.5, -0.5, 0.3, 0.5, 0.9, 2.0, 3.5)

CATALOGUE = [
    ("kl", {}),
    ("reverse-kl", {}),
    ("pearson", {}),
    ("neyman", {}),
    ("squared-hellinger", {}),
    ("jeffreys", {}),
    ("jensen-shannon", {}),
    ("gan", {}),
    ("total-variation", {}),
] + [("alpha", {"alpha_order": a}) for a in ALPHA_ORDERS]

CATALOGUE_IDS = [name + "".join(f"{v:g}" for v in params.values()) for name, params in CATALOGUE]


def reference_generator(name, params, u):
    """f(u) in float64 NumPy, written from each divergence's definition."""
    u = np.asarray(u, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "kl":
            return special.xlogy(u, u)
        if name == "reverse-kl":
            return -np.log(u)
        if name == "pearson":
            return (u - 1.0) ** 2
        if name == "neyman":
            return (1.0 - u) ** 2 / u
        if name == "squared-hellinger":
            return (np.sqrt(u) - 1.0) ** 2
        if name == "jeffreys":
            return (u - 1.0) * np.log(u)
        if name == "jensen-shannon":
            return 0.5 * (special.xlogy(u, u) - (u + 1.0) * np.log((u + 1.0) / 2.0))
        if name == "gan":
            return special.xlogy(u, u) - (u + 1.0) * np.log(u + 1.0) + np.log(4.0)
        if name == "total-variation":
            return 0.5 * np.abs(u - 1.0)
        a = params["alpha_order"]
        return (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0))


def make(name, params):
    return f_divergence(name, **params)


def as_numpy(tensor):
    return np.asarray(tensor.numpy(), dtype=np.float64)


def domain_grid(divergence, num=2001, width=30.0):
    """Points of the conjugate domain (inside its closure), clipped to [-width, width]."""
    low, high = divergence.conjugate_domain
    low = max(low, -width)
    high = min(high, width)
    grid = np.linspace(low, high, num)
    if not divergence.conjugate_domain_closed[1] and high == divergence.conjugate_domain[1]:
        grid = grid[:-1]
    return grid


# Generator.


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_generator_zero_at_one(name, params, dtype):
    value = make(name, params).generator(tf.zeros([1], dtype))
    assert value.dtype == dtype
    assert float(value[0]) == 0.0


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_generator_matches_reference(name, params):
    log_u = np.linspace(-5.0, 5.0, 201)
    got = as_numpy(make(name, params).generator(tf.constant(log_u)))
    expected = reference_generator(name, params, np.exp(log_u))
    # Both float64; the reference cancels near u = 1, so allow 1e-12 absolute.
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_generator_float32_matches_float64(name, params):
    divergence = make(name, params)
    log_u = np.linspace(-20.0, 20.0, 401)
    single = as_numpy(divergence.generator(tf.constant(log_u, tf.float32)))
    double = as_numpy(divergence.generator(tf.constant(log_u, tf.float64)))
    # float32 rounding of log_u (6e-8 relative) is amplified by |d log f / d log u|
    # (at most about 20 here) and by cancellation near u = 1, hence the atol.
    np.testing.assert_allclose(single, double, rtol=5e-6, atol=1e-6)


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_generator_convex_on_grid(name, params):
    u = np.linspace(1e-3, 20.0, 4001)
    values = as_numpy(make(name, params).generator(tf.constant(np.log(u))))
    second_differences = values[:-2] - 2.0 * values[1:-1] + values[2:]
    # Rounding of values up to about 1e3 in float64.
    assert second_differences.min() >= -1e-10


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_generator_no_nan_at_extremes(name, params, dtype):
    values = as_numpy(make(name, params).generator(tf.constant(np.linspace(-200, 200, 801), dtype)))
    assert not np.isnan(values).any()


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_generator_finite_within_100(name, params):
    values = as_numpy(make(name, params).generator(tf.constant(np.linspace(-100, 100, 401))))
    assert np.isfinite(values).all()


def test_special_alpha_orders():
    log_u = tf.constant(np.linspace(-4.0, 4.0, 81))
    pearson = as_numpy(f_divergence("pearson").generator(log_u))
    neyman = as_numpy(f_divergence("neyman").generator(log_u))
    hellinger = as_numpy(f_divergence("squared-hellinger").generator(log_u))
    alpha = {
        a: as_numpy(f_divergence("alpha", alpha_order=a).generator(log_u)) for a in (2, -1, 0.5)
    }
    np.testing.assert_allclose(alpha[2], pearson / 2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(alpha[-1], neyman / 2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(alpha[0.5], 2 * hellinger, rtol=1e-12, atol=1e-14)


def test_js_generator_is_half_gan():
    log_u = np.linspace(-6.0, 6.0, 121)
    js = as_numpy(f_divergence("jensen-shannon").generator(tf.constant(log_u)))
    gan = as_numpy(f_divergence("gan").generator(tf.constant(log_u)))
    # A term c (u - 1) integrates to zero under normalised P and Q.
    np.testing.assert_allclose(2 * js - gan, np.log(2.0) * np.expm1(log_u), rtol=1e-10, atol=1e-13)


def test_matches_tfp_csiszar_scaling():
    log_u = tf.constant(np.linspace(-5.0, 5.0, 101))
    pairs = [
        ("kl", tfp.vi.kl_forward(log_u)),
        ("jeffreys", 2.0 * tfp.vi.jeffreys(log_u)),
        ("jensen-shannon", 0.5 * tfp.vi.jensen_shannon(log_u, self_normalized=True)),
        ("squared-hellinger", tfp.vi.squared_hellinger(log_u)),
    ]
    for name, expected in pairs:
        np.testing.assert_allclose(
            as_numpy(f_divergence(name).generator(log_u)),
            as_numpy(expected),
            rtol=1e-12,
            atol=1e-14,
        )
    alpha = f_divergence("alpha", alpha_order=0.3).generator(log_u)
    expected = tfp.vi.amari_alpha(log_u, alpha=0.3, self_normalized=True)
    np.testing.assert_allclose(as_numpy(alpha), as_numpy(expected), rtol=1e-9, atol=1e-12)


# Conjugate.


def brute_force_conjugate(name, params, t):
    """sup over u >= 0 of u t - f(u), on a float64 grid of u = 0, u = 1 and u = e^l."""
    log_u = np.linspace(-30.0, 12.0, 400001)
    u = np.concatenate([[0.0, 1.0], np.exp(log_u)])
    f = reference_generator(name, params, u)
    return np.array([np.max(u * value - f) for value in t])


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_conjugate_matches_brute_force(name, params):
    divergence = make(name, params)
    # Slopes f'(u) for log u in [-6, 6] put the maximiser inside the grid,
    # and the three points below the slopes' range test the flat part where
    # the supremum sits at u = 0 (Pearson, total variation, alpha > 1).
    slopes = as_numpy(divergence.optimal_critic(tf.constant(np.linspace(-6.0, 6.0, 25))))
    t = np.concatenate([slopes, slopes.min() - np.array([0.5, 2.0, 10.0])])
    expected = brute_force_conjugate(name, params, t)
    got = as_numpy(divergence.conjugate(tf.constant(t)))
    # The grid step in log u is 1e-4, so the sup is low by about f'' u^2 1e-8 / 2.
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_biconjugate_recovers_generator(name, params):
    divergence = make(name, params)
    t = np.unique(
        np.concatenate(
            [
                as_numpy(divergence.optimal_critic(tf.constant(np.linspace(-8.0, 8.0, 200001)))),
                domain_grid(divergence, num=20001),
            ]
        )
    )
    t = t[np.isfinite(t)]
    conjugate = as_numpy(divergence.conjugate(tf.constant(t)))
    log_u = np.linspace(-3.0, 3.0, 25)
    biconjugate = np.array([np.max(np.exp(l) * t - conjugate) for l in log_u])
    expected = reference_generator(name, params, np.exp(log_u))
    # The t grid has steps of about 1e-4 f''(u) u, so f** is low by at most ~1e-6.
    np.testing.assert_allclose(biconjugate, expected, rtol=1e-5, atol=5e-6)


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_fenchel_young_inequality(name, params):
    divergence = make(name, params)
    u = np.exp(np.linspace(-6.0, 6.0, 61))
    t = domain_grid(divergence, num=301, width=10.0)
    f = reference_generator(name, params, u)
    conjugate = as_numpy(divergence.conjugate(tf.constant(t)))
    gap = f[:, None] + conjugate[None, :] - u[:, None] * t[None, :]
    scale = 1.0 + np.abs(f[:, None]) + np.abs(u[:, None] * t[None, :])
    assert (gap >= -1e-12 * scale).all()


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_fenchel_young_equality_at_optimum(name, params):
    divergence = make(name, params)
    log_u = np.linspace(-5.0, 5.0, 41)
    t = as_numpy(divergence.optimal_critic(tf.constant(log_u)))
    u = np.exp(log_u)
    lhs = reference_generator(name, params, u) + as_numpy(divergence.conjugate(tf.constant(t)))
    np.testing.assert_allclose(lhs, u * t, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_conjugate_infinite_outside_domain(name, params):
    divergence = make(name, params)
    low, high = divergence.conjugate_domain
    if math.isinf(high):
        pytest.skip("domain unbounded above")
    outside = [high + 1e-3, high + 1.0, high + 100.0]
    if not divergence.conjugate_domain_closed[1]:
        outside.append(high)
    values = as_numpy(divergence.conjugate(tf.constant(outside, tf.float64)))
    assert np.all(values == np.inf)


# Activation.


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_activation_maps_into_open_domain(name, params):
    divergence = make(name, params)
    low, high = divergence.conjugate_domain
    t = as_numpy(divergence.activation(tf.constant(np.linspace(-30.0, 30.0, 601))))
    # In float64 the activation stays off the open ends for |v| <= 30.
    if divergence.conjugate_domain_closed[1]:
        assert (t <= high).all()
    else:
        assert (t < high).all()
    assert (t > low).all()


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_activation_in_closure_at_extremes(name, params, dtype):
    divergence = make(name, params)
    # Compare with the bounds rounded to the dtype, which the activation can reach.
    low, high = (float(np.asarray(b, dtype.as_numpy_dtype)) for b in divergence.conjugate_domain)
    t = as_numpy(divergence.activation(tf.constant(np.linspace(-200.0, 200.0, 801), dtype)))
    assert np.isfinite(t).all()
    assert (t <= high).all()
    assert (t >= low).all()


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_conjugate_of_activation_composed(name, params):
    divergence = make(name, params)
    v = tf.constant(np.linspace(-15.0, 15.0, 301))
    direct = as_numpy(divergence.conjugate_of_activation(v))
    composed = as_numpy(divergence.conjugate(divergence.activation(v)))
    np.testing.assert_allclose(direct, composed, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_terms_and_gradients_finite_within_200(name, params, dtype):
    divergence = make(name, params)
    v_real = tf.constant(np.linspace(-200.0, 200.0, 4001), dtype)
    v_fake = tf.constant(np.linspace(200.0, -200.0, 4001), dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([v_real, v_fake])
        real_terms, fake_terms = divergence.variational_terms(v_real, v_fake)
        bound = divergence.lower_bound(v_real, v_fake)
    for tensor in (real_terms, fake_terms, bound):
        assert tensor.dtype == dtype
        assert np.isfinite(tensor.numpy()).all()
    for gradient in (
        tape.gradient(real_terms, v_real),
        tape.gradient(fake_terms, v_fake),
        tape.gradient(bound, v_real),
    ):
        assert np.isfinite(gradient.numpy()).all()


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_optimal_logit_round_trip(name, params, dtype):
    divergence = make(name, params)
    log_ratio = tf.constant(np.linspace(-10.0, 10.0, 81), dtype)
    logit = divergence.optimal_logit(log_ratio)
    got = as_numpy(divergence.activation(logit))
    expected = as_numpy(divergence.optimal_critic(log_ratio))
    # float32: the critic is recovered to a few units of rounding of its size.
    tolerance = 1e-5 if dtype == tf.float32 else 1e-11
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_kl_critic_saturates():
    kl = f_divergence("kl")
    v = tf.constant([100.0, 200.0, 1e4], tf.float32)
    assert np.all(kl.activation(v).numpy() <= 50.0)
    assert np.isfinite(kl.conjugate_of_activation(v).numpy()).all()
    # Below the cap the clip is the identity to rounding.
    np.testing.assert_allclose(
        kl.activation(tf.constant([0.0, 10.0, 20.0])).numpy(),
        [0.0, 10.0, 20.0],
        rtol=1e-7,
        atol=1e-20,
    )
    # A log ratio beyond the cap has no finite raw output.
    assert kl.optimal_logit(tf.constant([60.0])).numpy()[0] == np.inf


def test_gan_bound_is_goodfellow_plus_log_4():
    rng = np.random.default_rng(0)
    v_real = rng.normal(size=50)
    v_fake = rng.normal(size=70)
    bound = float(f_divergence("gan").lower_bound(tf.constant(v_real), tf.constant(v_fake)))
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    value = np.mean(np.log(sigmoid(v_real))) + np.mean(np.log(1.0 - sigmoid(v_fake)))
    assert bound == pytest.approx(value + np.log(4.0), rel=1e-12)


# Tightness on two Gaussians.

P_MEAN, P_SCALE = 0.5, 0.9
Q_MEAN, Q_SCALE = 0.0, 1.0


def quadrature_divergence(name, params):
    """E_Q[f(p/q)] by adaptive quadrature with the true 1-D densities."""
    p = stats.norm(P_MEAN, P_SCALE)
    q = stats.norm(Q_MEAN, Q_SCALE)

    def integrand(z):
        ratio = np.exp(p.logpdf(z) - q.logpdf(z))
        return q.pdf(z) * float(reference_generator(name, params, ratio))

    value, _ = integrate.quad(integrand, -15.0, 15.0, limit=200, epsabs=1e-12)
    return value


@pytest.mark.parametrize("name, params", CATALOGUE, ids=CATALOGUE_IDS)
def test_bound_tight_at_optimal_critic(name, params):
    divergence = make(name, params)
    p = tfp.distributions.Normal(tf.constant(P_MEAN, tf.float64), P_SCALE)
    q = tfp.distributions.Normal(tf.constant(Q_MEAN, tf.float64), Q_SCALE)
    x = p.sample(100_000, seed=1)
    y = q.sample(100_000, seed=2)
    log_ratio_x = p.log_prob(x) - q.log_prob(x)
    log_ratio_y = p.log_prob(y) - q.log_prob(y)

    real_terms, fake_terms = divergence.variational_terms(
        divergence.optimal_logit(log_ratio_x), divergence.optimal_logit(log_ratio_y)
    )
    real_terms, fake_terms = as_numpy(real_terms), as_numpy(fake_terms)
    bound = real_terms.mean() + fake_terms.mean()
    standard_error = math.hypot(
        real_terms.std() / math.sqrt(x.shape[0]), fake_terms.std() / math.sqrt(y.shape[0])
    )

    expected = quadrature_divergence(name, params)
    # Monte Carlo error only: 4.5 standard errors fail once in 1.5e5 runs.
    assert abs(bound - expected) <= 4.5 * standard_error + 1e-9


def test_kl_quadrature_matches_tfp():
    p = tfp.distributions.Normal(tf.constant(P_MEAN, tf.float64), P_SCALE)
    q = tfp.distributions.Normal(tf.constant(Q_MEAN, tf.float64), Q_SCALE)
    closed_form = float(tfp.distributions.kl_divergence(p, q))
    assert quadrature_divergence("kl", {}) == pytest.approx(closed_form, rel=1e-9)


def test_kl_bound_tight_in_3d():
    kl = f_divergence("kl")
    p = tfp.distributions.MultivariateNormalDiag(
        tf.constant([0.5, -0.3, 0.0], tf.float64), tf.constant([0.8, 1.1, 0.9], tf.float64)
    )
    q = tfp.distributions.MultivariateNormalDiag(
        tf.zeros([3], tf.float64), tf.ones([3], tf.float64)
    )
    x = p.sample(200_000, seed=3)
    y = q.sample(200_000, seed=4)
    real_terms, fake_terms = kl.variational_terms(
        kl.optimal_logit(p.log_prob(x) - q.log_prob(x)),
        kl.optimal_logit(p.log_prob(y) - q.log_prob(y)),
    )
    bound = float(tf.reduce_mean(real_terms) + tf.reduce_mean(fake_terms))
    standard_error = math.hypot(
        float(tf.math.reduce_std(real_terms)) / math.sqrt(200_000),
        float(tf.math.reduce_std(fake_terms)) / math.sqrt(200_000),
    )
    expected = float(tfp.distributions.kl_divergence(p, q))
    assert abs(bound - expected) <= 4.5 * standard_error


# Construction and validation.


def test_unknown_name_lists_allowed_names():
    with pytest.raises(ValueError, match="'kl'.*'total-variation'.*got 'kld'"):
        f_divergence("kld")


def test_non_string_name_rejected():
    with pytest.raises(ValueError, match="got 3"):
        f_divergence(3)


@pytest.mark.parametrize("order", [0, 1, 1.0005, -1e-4, math.nan, math.inf])
def test_alpha_order_rejected(order):
    with pytest.raises(ValueError, match="alpha_order"):
        f_divergence("alpha", alpha_order=order)


def test_alpha_order_type_rejected():
    with pytest.raises(ValueError, match="finite real"):
        f_divergence("alpha", alpha_order="2")


def test_alpha_order_required():
    with pytest.raises(TypeError, match="requires `alpha_order`"):
        f_divergence("alpha")


def test_parameters_rejected_without_alpha():
    with pytest.raises(TypeError, match="takes no parameters"):
        f_divergence("kl", alpha_order=2.0)


def test_unknown_alpha_parameter_rejected():
    with pytest.raises(TypeError, match="unexpected parameter"):
        f_divergence("alpha", alpha_order=2.0, order=3)


def test_instance_passes_through():
    js = f_divergence("jensen-shannon")
    assert f_divergence(js) is js


def test_objects_immutable_and_hashable():
    kl = f_divergence("kl")
    assert isinstance(kl, FDivergence)
    assert kl == f_divergence("kl")
    assert hash(kl) == hash(f_divergence("kl"))
    assert f_divergence("alpha", alpha_order=2) == f_divergence("alpha", alpha_order=2.0)
    assert f_divergence("alpha", alpha_order=2) != f_divergence("alpha", alpha_order=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f_divergence("alpha", alpha_order=2).alpha_order = 3.0


def test_usable_as_static_argument_under_xla():
    @tf.function(jit_compile=True)
    def bound(divergence, v_real, v_fake):
        return divergence.lower_bound(v_real, v_fake)

    v = tf.constant([0.3, -1.2, 2.0])
    for name in ("kl", "gan", "jeffreys"):
        divergence = f_divergence(name)
        eager = float(divergence.lower_bound(v, -v))
        assert float(bound(divergence, v, -v)) == pytest.approx(eager, rel=1e-6)

"""The f-divergence catalogue: generator, Fenchel conjugate and critic activation.

An f-divergence between P (real data, samples `x`) and Q (generated data,
samples `y`) is

    D_f(P || Q) = E_Q[f(p(y) / q(y))],

for a convex generator f on [0, inf) with f(1) = 0. Its variational form
(Nguyen, Wainwright and Jordan 2010) is

    D_f(P || Q) = sup_T  E_P[T(x)] - E_Q[f*(T(y))],

where f*(t) = sup_{u >= 0} (u t - f(u)) is the Fenchel conjugate, and the
supremum is attained at T*(x) = f'(p(x) / q(x)). A critic network outputs a raw
value v (a logit), and the output activation g_f maps v into the domain of f*,
so T = g_f(v) (Nowozin, Cseke and Tomioka 2016, table 2; the alpha family
uses its own activation, described in `AlphaDivergence`).

Every object of this module carries those four pieces for one divergence and
evaluates them in log space with stable primitives (softplus, log-sigmoid,
expm1, log1mexp). `f_divergence(name, **params)` builds them by name.

Numerical range: for raw critic outputs v in [-200, 200], `activation(v)`,
`conjugate_of_activation(v)` and their gradients are finite in float32 and
float64. Where the activation would overflow there (KL, reverse KL, Neyman,
squared Hellinger, Jeffreys and the alpha family), the raw output first passes
through a smooth clip, bound - softplus(bound - v) or its mirror image, which
changes v by less than exp(-|v - bound|) far from the bound and saturates at
it. The bounds keep f*(g_f(v)) below about exp(50) ~ 5e21. The clip restricts
the critic to log density ratios of roughly |log(p/q)| < 50, which keeps the
bound valid (any critic gives a lower bound) and tight for every pair of
distributions whose log ratio stays in that range where they have mass.
`generator(log_u)` and `optimal_critic(log_ratio)` return the exact value and
give inf only where that value exceeds the dtype's range (for example
u log u at log u = 100 in float32).

References:
  X. Nguyen, M. J. Wainwright and M. I. Jordan. "Estimating divergence
  functionals and the likelihood ratio by convex risk minimization." IEEE
  Transactions on Information Theory 56(11), 2010.
  S. Nowozin, B. Cseke and R. Tomioka. "f-GAN: Training generative neural
  samplers using variational divergence minimization." NeurIPS 2016.
  I. Goodfellow et al. "Generative adversarial nets." NeurIPS 2014.
  A. Cichocki and S. Amari. "Families of alpha- beta- and gamma-divergences:
  flexible and robust measures of similarities." Entropy 12(6), 2010.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import numbers
from typing import Any, ClassVar

import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["FDivergence", "f_divergence", "F_DIVERGENCE_NAMES"]

_LOG_2 = math.log(2.0)
_LOG_4 = math.log(4.0)

# Bound on the clipped raw critic output, so conjugate values stay below
# about exp(50) ~ 5e21: finite in float32, and with room for sums over
# millions of samples.
# NOTE: near the cap the conjugate's gradient is about exp(49) ~ 2e21, and
# its square exceeds the float32 maximum. So a KL or reverse-KL f-GAN trained
# with Adam can turn NaN once its critic gets there, as both did on the ring
# at rate 1e-3, and GAN.fit then raises TrainingDivergedError. A lower cap
# would keep such training finite but would also bound variational log-ratios.
_LOG_CAP = 50.0

# Alpha orders closer than this to 0 or 1 lose more than about 1e-4 relative
# precision in float32, because the generator and conjugate divide by
# alpha (alpha - 1).
_ALPHA_MARGIN = 1e-3


# Smooth clips of a raw critic output and their inverses.


def _soft_clip_upper(v: tf.Tensor, cap: float) -> tf.Tensor:
    """Maps v to (-inf, cap): cap - softplus(cap - v), identity well below cap."""
    # Two algebraically equal forms: the first keeps small v exact, the second
    # keeps v far above the cap from cancelling.
    below = v - tf.math.softplus(v - cap)
    above = cap - tf.math.softplus(cap - v)
    return tf.where(v < cap, below, above)


def _soft_clip_lower(v: tf.Tensor, floor: float) -> tf.Tensor:
    """Maps v to (floor, inf): floor + softplus(v - floor), identity well above floor."""
    above = v + tf.math.softplus(floor - v)
    below = floor + tf.math.softplus(v - floor)
    return tf.where(v > floor, above, below)


def _inverse_soft_clip_upper(t: tf.Tensor, cap: float) -> tf.Tensor:
    """Inverts `_soft_clip_upper`; +inf where t >= cap (no raw value reaches it)."""
    inside = t < cap
    safe_t = tf.where(inside, t, tf.zeros_like(t) + (cap - 1.0))
    inverse = safe_t - tf.math.log(-tf.math.expm1(safe_t - cap))
    return tf.where(inside, inverse, tf.fill(tf.shape(t), tf.constant(math.inf, t.dtype)))


def _inverse_soft_clip_lower(t: tf.Tensor, floor: float) -> tf.Tensor:
    """Inverts `_soft_clip_lower`; -inf where t <= floor."""
    inside = t > floor
    safe_t = tf.where(inside, t, tf.zeros_like(t) + (floor + 1.0))
    inverse = safe_t + tf.math.log(-tf.math.expm1(floor - safe_t))
    return tf.where(inside, inverse, tf.fill(tf.shape(t), tf.constant(-math.inf, t.dtype)))


# Stable scalar functions.


def _u_log1p_inverse(log_u: tf.Tensor) -> tf.Tensor:
    """Returns u log(1 + 1/u) at u = exp(log_u), which tends to 1 as u grows."""
    # For log u > 15 the series 1 - 1/(2u) + 1/(3u^2) has error below e^-45,
    # and avoids inf * 0 when exp(log_u) overflows and log1p(1/u) underflows.
    large = log_u > 15.0
    safe = tf.where(large, tf.zeros_like(log_u), log_u)
    direct = tf.exp(safe) * tf.math.softplus(-safe)
    inverse_u = tf.exp(-tf.where(large, log_u, tf.zeros_like(log_u)))
    series = 1.0 - inverse_u / 2.0 + tf.square(inverse_u) / 3.0
    return tf.where(large, series, direct)


def _log_wright_omega(z: tf.Tensor, iterations: int = 8) -> tf.Tensor:
    """Returns y = log W(e^z), the root of e^y + y = z, for real z.

    W is the principal branch of Lambert's W, so W(e^z) is the Wright omega
    function. Newton's method on the convex, increasing e^y + y - z starts to
    the right of the root (y0 = z for z <= 1, log z otherwise) and decreases
    monotonically with quadratic convergence, so eight unrolled steps reach
    float64 precision for every z. The last step carries the gradient
    dy/dz = 1 / (1 + e^y) exactly.
    """
    y = tf.where(z > 1.0, tf.math.log(tf.maximum(z, 1.0)), z)
    y = tf.stop_gradient(y)
    z_fixed = tf.stop_gradient(z)
    for _ in range(iterations):
        y = y - (tf.exp(y) + y - z_fixed) / (tf.exp(y) + 1.0)
    y = tf.stop_gradient(y)
    return y - (tf.exp(y) + y - z) / (tf.exp(y) + 1.0)


def _positive_infinity_like(x: tf.Tensor) -> tf.Tensor:
    return tf.fill(tf.shape(x), tf.constant(math.inf, x.dtype))


def _float_tensor(value: Any, name: str) -> tf.Tensor:
    """Converts to a float tensor; Python numbers become float32, floats keep their dtype."""
    tensor = tf.convert_to_tensor(value)
    if not tensor.dtype.is_floating:
        if tensor.dtype.is_integer:
            tensor = tf.cast(tensor, tf.float32)
        else:
            raise TypeError(f"`{name}` must be a float tensor, got dtype {tensor.dtype.name}.")
    return tensor


@dataclasses.dataclass(frozen=True)
class FDivergence(abc.ABC):
    """One f-divergence D_f(P || Q) = E_Q[f(p/q)], P real (x) and Q generated (y).

    Instances are immutable and hashable, so they can be passed as static
    arguments to `tf.function` and compiled with XLA. Every method is
    elementwise, takes a float tensor (or array) and returns a tensor of the
    same dtype and shape, with no reduction except `lower_bound`.

    Attributes:
      name: catalogue name, as accepted by `f_divergence`.
      conjugate_domain: (low, high) bounds of the domain of f*; whether each
        end is included is given by `conjugate_domain_closed`.
      conjugate_domain_closed: (low_included, high_included).

    The variational lower bound for a critic with raw outputs v is

        mean(activation(v_real)) - mean(conjugate_of_activation(v_fake)),

    which `variational_terms` returns per example and `lower_bound` reduces.
    A GAN critic maximises it. A generator minimises its fake-sample part,
    -mean(conjugate_of_activation(v_fake)) (minimax), or minimises
    -mean(activation(v_fake)) (non-saturating, Nowozin et al. 2016, section
    3.2).
    """

    name: ClassVar[str]
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    conjugate_domain_closed: ClassVar[tuple[bool, bool]] = (False, False)

    # Bounds of the smooth clip applied to raw critic outputs before the
    # activation; None where the activation needs none.
    _logit_floor: ClassVar[float | None] = None
    _logit_cap: ClassVar[float | None] = None

    # Formulas of each divergence, written for float tensors.

    @abc.abstractmethod
    def _generator(self, log_u: tf.Tensor) -> tf.Tensor:
        """f(exp(log_u))."""

    @abc.abstractmethod
    def _conjugate_inside(self, t: tf.Tensor) -> tf.Tensor:
        """f*(t), called only with t inside the conjugate domain."""

    @abc.abstractmethod
    def _unclipped_activation(self, w: tf.Tensor) -> tf.Tensor:
        """g_f(w), the critic output activation, before any clipping of w."""

    @abc.abstractmethod
    def _unclipped_conjugate_of_activation(self, w: tf.Tensor) -> tf.Tensor:
        """f*(g_f(w)) in one stable expression."""

    @abc.abstractmethod
    def _optimal_critic(self, log_ratio: tf.Tensor) -> tf.Tensor:
        """f'(exp(log_ratio))."""

    @abc.abstractmethod
    def _unclipped_optimal_logit(self, log_ratio: tf.Tensor) -> tf.Tensor:
        """w with g_f(w) = f'(exp(log_ratio)), before inverting the clip."""

    # Public interface.

    def generator(self, log_u: Any) -> tf.Tensor:
        """Evaluates the generator f(u) at u = exp(log_u), elementwise.

        Returns inf only where the exact value exceeds the dtype's range.
        """
        return self._generator(_float_tensor(log_u, "log_u"))

    def conjugate(self, t: Any) -> tf.Tensor:
        """Evaluates the Fenchel conjugate f*(t) = sup_{u >= 0} (u t - f(u)).

        Returns +inf outside `conjugate_domain` (where the supremum is
        infinite), with a zero gradient there.
        """
        t = _float_tensor(t, "t")
        low, high = self.conjugate_domain
        low_closed, high_closed = self.conjugate_domain_closed
        inside = tf.ones_like(t, dtype=tf.bool)
        if math.isfinite(high):
            inside &= (t <= high) if high_closed else (t < high)
        if math.isfinite(low):
            inside &= (t >= low) if low_closed else (t > low)
        safe_t = tf.where(inside, t, tf.zeros_like(t) + self._interior_point())
        return tf.where(inside, self._conjugate_inside(safe_t), _positive_infinity_like(t))

    def _interior_point(self) -> float:
        """A point strictly inside the conjugate domain."""
        low, high = self.conjugate_domain
        if math.isfinite(low) and math.isfinite(high):
            return 0.5 * (low + high)
        if math.isfinite(high):
            return high - 1.0
        if math.isfinite(low):
            return low + 1.0
        return 0.0

    def _clip_logit(self, v: tf.Tensor) -> tf.Tensor:
        if self._logit_floor is not None:
            v = _soft_clip_lower(v, self._logit_floor)
        if self._logit_cap is not None:
            v = _soft_clip_upper(v, self._logit_cap)
        return v

    def activation(self, v: Any) -> tf.Tensor:
        """Maps a raw critic output v (any real) into the domain of f*: T = g_f(v).

        This is the output activation of f-GAN table 2, applied after the
        smooth clip described in the module docstring where the divergence
        needs one. In floating point, T can round onto an open end of the
        domain for |v| beyond about 17 (float32) or 37 (float64); use
        `conjugate_of_activation`, never `conjugate(activation(v))`, there.
        """
        v = _float_tensor(v, "v")
        return self._unclipped_activation(self._clip_logit(v))

    def conjugate_of_activation(self, v: Any) -> tf.Tensor:
        """Evaluates f*(g_f(v)) in one stable expression, finite for v in [-200, 200]."""
        v = _float_tensor(v, "v")
        return self._unclipped_conjugate_of_activation(self._clip_logit(v))

    def optimal_critic(self, log_ratio: Any) -> tf.Tensor:
        """Returns the optimal critic T*(x) = f'(p(x)/q(x)) from log(p(x)/q(x)).

        Plugging T* into E_P[T] - E_Q[f*(T)] gives D_f(P || Q) exactly.
        """
        return self._optimal_critic(_float_tensor(log_ratio, "log_ratio"))

    def optimal_logit(self, log_ratio: Any) -> tf.Tensor:
        """Returns the raw critic output v* with activation(v*) = optimal_critic(log_ratio).

        Returns +inf or -inf where the activation (with its clip) cannot reach
        the optimal critic, for example total variation at any log_ratio != 0.
        """
        log_ratio = _float_tensor(log_ratio, "log_ratio")
        w = self._unclipped_optimal_logit(log_ratio)
        if self._logit_cap is not None:
            w = _inverse_soft_clip_upper(w, self._logit_cap)
        if self._logit_floor is not None:
            w = _inverse_soft_clip_lower(w, self._logit_floor)
        return w

    def variational_terms(self, v_real: Any, v_fake: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns per-example terms (g_f(v_real), -f*(g_f(v_fake))), unreduced.

        mean(real_terms) + mean(fake_terms) is a lower bound on D_f(P || Q)
        in expectation over the samples, for any critic.
        """
        return self.activation(v_real), -self.conjugate_of_activation(v_fake)

    def lower_bound(self, v_real: Any, v_fake: Any) -> tf.Tensor:
        """Returns mean(g_f(v_real)) - mean(f*(g_f(v_fake))), the variational bound."""
        real_terms, fake_terms = self.variational_terms(v_real, v_fake)
        return tf.reduce_mean(real_terms) + tf.reduce_mean(fake_terms)


@dataclasses.dataclass(frozen=True)
class KLDivergence(FDivergence):
    """Kullback-Leibler divergence KL(P || Q) = E_P[log(p/q)], in nats.

    f(u) = u log u (tfp.vi.kl_forward). f*(t) = exp(t - 1) on all reals.
    Activation g(v) = v (f-GAN), after the smooth upper clip at v = 50 so that
    exp(g(v) - 1) < e^49 ~ 2e21 never overflows: for v far below 50 the clip
    changes v by less than exp(v - 50), and above it the critic saturates at
    T = 50, that is at log(p/q) = 49. Optimal critic T* = 1 + log(p/q).
    """

    name: ClassVar[str] = "kl"
    _logit_cap: ClassVar[float | None] = _LOG_CAP

    def _generator(self, log_u):
        return tfp.vi.kl_forward(log_u, self_normalized=False)

    def _conjugate_inside(self, t):
        return tf.exp(t - 1.0)

    def _unclipped_activation(self, w):
        return w

    def _unclipped_conjugate_of_activation(self, w):
        return tf.exp(w - 1.0)

    def _optimal_critic(self, log_ratio):
        return 1.0 + log_ratio

    def _unclipped_optimal_logit(self, log_ratio):
        return 1.0 + log_ratio


@dataclasses.dataclass(frozen=True)
class ReverseKLDivergence(FDivergence):
    """Reverse Kullback-Leibler divergence KL(Q || P) = E_Q[log(q/p)], in nats.

    f(u) = -log u (tfp.vi.kl_reverse). f*(t) = -1 - log(-t) on t < 0.
    Activation g(v) = -exp(-v) (f-GAN) after a smooth lower clip at v = -50,
    so g stays above -e^50. f*(g(v)) = v - 1. Optimal critic T* = -q/p.
    """

    name: ClassVar[str] = "reverse-kl"
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, 0.0)
    _logit_floor: ClassVar[float | None] = -_LOG_CAP

    def _generator(self, log_u):
        return tfp.vi.kl_reverse(log_u, self_normalized=False)

    def _conjugate_inside(self, t):
        return -1.0 - tf.math.log(-t)

    def _unclipped_activation(self, w):
        return -tf.exp(-w)

    def _unclipped_conjugate_of_activation(self, w):
        return w - 1.0

    def _optimal_critic(self, log_ratio):
        return -tf.exp(-log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        return log_ratio


@dataclasses.dataclass(frozen=True)
class PearsonChiSquared(FDivergence):
    """Pearson chi-squared divergence E_Q[(p/q - 1)^2].

    f(u) = (u - 1)^2 (tfp.vi.pearson). Exact conjugate over u >= 0:
    f*(t) = max(0, 1 + t/2)^2 - 1 on all reals, which is t^2/4 + t for
    t >= -2 (f-GAN table 2 uses t^2/4 + t everywhere, a larger function that
    gives a looser bound for critics below -2; both agree at the optimum
    T* = 2 (p/q - 1) >= -2). Activation g(v) = v.
    """

    name: ClassVar[str] = "pearson"

    def _generator(self, log_u):
        return tfp.vi.pearson(log_u)

    def _conjugate_inside(self, t):
        return tf.square(tf.nn.relu(1.0 + 0.5 * t)) - 1.0

    def _unclipped_activation(self, w):
        return w

    def _unclipped_conjugate_of_activation(self, w):
        return self._conjugate_inside(w)

    def _optimal_critic(self, log_ratio):
        return 2.0 * tf.math.expm1(log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        return 2.0 * tf.math.expm1(log_ratio)


@dataclasses.dataclass(frozen=True)
class NeymanChiSquared(FDivergence):
    """Neyman chi-squared divergence E_Q[(1 - p/q)^2 / (p/q)] = E_P[(q/p - 1)^2].

    f(u) = (1 - u)^2 / u = 4 sinh(log(u) / 2)^2. f*(t) = 2 - 2 sqrt(1 - t)
    on t <= 1 (closed: f*(1) = 2). Activation g(v) = 1 - exp(-v) after a
    smooth lower clip at v = -50, f*(g(v)) = 2 - 2 exp(-v/2). Optimal critic
    T* = 1 - (q/p)^2.
    """

    name: ClassVar[str] = "neyman"
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, 1.0)
    conjugate_domain_closed: ClassVar[tuple[bool, bool]] = (False, True)
    _logit_floor: ClassVar[float | None] = -_LOG_CAP

    def _generator(self, log_u):
        # tfp.vi.dual_csiszar_function(log_u, tfp.vi.pearson) is this f, but
        # as exp(l) * expm1(-l)^2 it gives 0 * inf = NaN below l = -104 in
        # float32.
        return 4.0 * tf.square(tf.math.sinh(0.5 * log_u))

    def _conjugate_inside(self, t):
        return 2.0 - 2.0 * tf.sqrt(1.0 - t)

    def _unclipped_activation(self, w):
        return -tf.math.expm1(-w)

    def _unclipped_conjugate_of_activation(self, w):
        return 2.0 - 2.0 * tf.exp(-0.5 * w)

    def _optimal_critic(self, log_ratio):
        return -tf.math.expm1(-2.0 * log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        return 2.0 * log_ratio


@dataclasses.dataclass(frozen=True)
class SquaredHellinger(FDivergence):
    """Squared Hellinger distance, the integral of (sqrt p - sqrt q)^2, in [0, 2].

    This is the f-GAN and TFP normalisation (some texts halve it).
    f(u) = (sqrt u - 1)^2 (tfp.vi.squared_hellinger). f*(t) = t / (1 - t) on
    t < 1. Activation g(v) = 1 - exp(-v) after a smooth two-sided clip to
    (-50, 50), f*(g(v)) = exp(v) - 1. Optimal critic T* = 1 - sqrt(q/p).
    """

    name: ClassVar[str] = "squared-hellinger"
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, 1.0)
    _logit_floor: ClassVar[float | None] = -_LOG_CAP
    _logit_cap: ClassVar[float | None] = _LOG_CAP

    def _generator(self, log_u):
        return tfp.vi.squared_hellinger(log_u)

    def _conjugate_inside(self, t):
        return t / (1.0 - t)

    def _unclipped_activation(self, w):
        return -tf.math.expm1(-w)

    def _unclipped_conjugate_of_activation(self, w):
        return tf.math.expm1(w)

    def _optimal_critic(self, log_ratio):
        return -tf.math.expm1(-0.5 * log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        return 0.5 * log_ratio


@dataclasses.dataclass(frozen=True)
class JeffreysDivergence(FDivergence):
    """Jeffreys divergence KL(P || Q) + KL(Q || P) = E_Q[(p/q - 1) log(p/q)].

    f(u) = (u - 1) log u, twice tfp.vi.jeffreys (which is halved).
    f*(t) = W(e^(1-t)) + 1 / W(e^(1-t)) + t - 2 on all reals, with W the
    Lambert W function, evaluated through log W(e^z) by Newton's method.
    Activation g(v) = v after a smooth upper clip at v = 50 (f*(50) ~ e^49).
    Optimal critic T* = 1 + log(p/q) - q/p.
    """

    name: ClassVar[str] = "jeffreys"
    _logit_cap: ClassVar[float | None] = _LOG_CAP

    def _generator(self, log_u):
        return 2.0 * tfp.vi.jeffreys(log_u)

    def _conjugate_inside(self, t):
        log_omega = _log_wright_omega(1.0 - t)
        return tf.exp(log_omega) + tf.exp(-log_omega) + t - 2.0

    def _unclipped_activation(self, w):
        return w

    def _unclipped_conjugate_of_activation(self, w):
        return self._conjugate_inside(w)

    def _optimal_critic(self, log_ratio):
        return log_ratio - tf.math.expm1(-log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        return log_ratio - tf.math.expm1(-log_ratio)


@dataclasses.dataclass(frozen=True)
class JensenShannon(FDivergence):
    """Jensen-Shannon divergence (KL(P || M) + KL(Q || M)) / 2, M = (P + Q) / 2.

    Bounded by log 2 nats. The generator often quoted,
    u log u - (u + 1) log((u + 1) / 2), integrates to twice this value, so
    here f(u) = [u log u - (u + 1) log((u + 1) / 2)] / 2, half of
    tfp.vi.jensen_shannon(self_normalized=True).
    f*(t) = -log(2 - exp(2 t)) / 2 on t < log(2) / 2. Activation
    g(v) = (log 2 + log_sigmoid(v)) / 2, f*(g(v)) = (softplus(v) - log 2) / 2,
    optimal raw output v* = log(p/q): the critic is a logistic classifier
    of real against generated samples.
    """

    name: ClassVar[str] = "jensen-shannon"
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, 0.5 * _LOG_2)

    def _generator(self, log_u):
        return 0.5 * tfp.vi.jensen_shannon(log_u, self_normalized=True)

    def _conjugate_inside(self, t):
        # log(2 - e^(2t)) = log 2 + log(1 - e^(2t - log 2)).
        return -0.5 * (_LOG_2 + tfp.math.log1mexp(_LOG_2 - 2.0 * t))

    def _unclipped_activation(self, w):
        return 0.5 * (_LOG_2 + tf.math.log_sigmoid(w))

    def _unclipped_conjugate_of_activation(self, w):
        return 0.5 * (tf.math.softplus(w) - _LOG_2)

    def _optimal_critic(self, log_ratio):
        return 0.5 * (_LOG_2 + tf.math.log_sigmoid(log_ratio))

    def _unclipped_optimal_logit(self, log_ratio):
        return log_ratio


@dataclasses.dataclass(frozen=True)
class GANDivergence(FDivergence):
    """The divergence of the original GAN (Goodfellow et al. 2014), 2 JS(P || Q).

    f(u) = u log u - (u + 1) log(u + 1) + log 4, the f-GAN table 1 generator
    shifted by log 4 so that f(1) = 0 and D(P || P) = 0. The value lies in
    [0, log 4] and equals twice `jensen-shannon`.
    f*(t) = -log(1 - exp(t)) - log 4 on t < 0. Activation
    g(v) = log_sigmoid(v) = log D with D = sigmoid(v), the discriminator's
    probability that a sample is real, so f*(g(v)) = softplus(v) - log 4 and
    the variational bound is

        E_P[log D(x)] + E_Q[log(1 - D(y))] + log 4,

    the GAN value function of Goodfellow et al. plus the constant log 4,
    with the same gradients. Optimal raw output v* = log(p/q).
    """

    name: ClassVar[str] = "gan"
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, 0.0)

    def _generator(self, log_u):
        # u log u - (u + 1) log(u + 1) = -u log(1 + 1/u) - log(1 + u).
        return -_u_log1p_inverse(log_u) - tf.math.softplus(log_u) + _LOG_4

    def _conjugate_inside(self, t):
        return -tfp.math.log1mexp(t) - _LOG_4

    def _unclipped_activation(self, w):
        return tf.math.log_sigmoid(w)

    def _unclipped_conjugate_of_activation(self, w):
        return tf.math.softplus(w) - _LOG_4

    def _optimal_critic(self, log_ratio):
        return tf.math.log_sigmoid(log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        return log_ratio


@dataclasses.dataclass(frozen=True)
class TotalVariation(FDivergence):
    """Total variation distance sup_A |P(A) - Q(A)| = E_Q[|p/q - 1|] / 2, in [0, 1].

    f(u) = |u - 1| / 2 (tfp.vi.total_variation). Exact conjugate over u >= 0:
    f*(t) = max(t, -1/2) on t <= 1/2 (f-GAN table 2 restricts to
    |t| <= 1/2, where it is t). Activation g(v) = tanh(v) / 2. Optimal critic
    T* = sign(p - q) / 2, reached only as v -> +-inf.
    """

    name: ClassVar[str] = "total-variation"
    conjugate_domain: ClassVar[tuple[float, float]] = (-math.inf, 0.5)
    conjugate_domain_closed: ClassVar[tuple[bool, bool]] = (False, True)

    def _generator(self, log_u):
        return tfp.vi.total_variation(log_u)

    def _conjugate_inside(self, t):
        return tf.maximum(t, -0.5)

    def _unclipped_activation(self, w):
        return 0.5 * tf.math.tanh(w)

    def _unclipped_conjugate_of_activation(self, w):
        return 0.5 * tf.math.tanh(w)

    def _optimal_critic(self, log_ratio):
        return 0.5 * tf.math.sign(log_ratio)

    def _unclipped_optimal_logit(self, log_ratio):
        infinity = _positive_infinity_like(log_ratio)
        return tf.where(
            log_ratio > 0, infinity, tf.where(log_ratio < 0, -infinity, tf.zeros_like(log_ratio))
        )


@dataclasses.dataclass(frozen=True)
class AlphaDivergence(FDivergence):
    """Amari alpha-divergence of order a: (1 - E_Q[(p/q)^a]) / (a (1 - a)).

    f(u) = (u^a - 1 - a (u - 1)) / (a (a - 1)), tfp.vi.amari_alpha with
    self_normalized=True, evaluated here in a form that stays accurate and
    finite for large |log u|. Special orders: a = 2 gives half the Pearson
    chi-squared, a = -1 half the Neyman chi-squared, a = 1/2 twice the squared
    Hellinger distance; a -> 1 tends to KL(P || Q) and a -> 0 to
    KL(Q || P) (use `kl` and `reverse-kl` for those).

    f*(t) = ((1 + (a - 1) t)^(a/(a-1)) - 1) / a where 1 + (a - 1) t > 0, and:
      * a > 1: -1/a where 1 + (a - 1) t <= 0, so the domain is all reals;
      * a < 1: domain t < 1/(1 - a), closed at the end for a < 0 where
        f* = -1/a, open for 0 < a < 1 where f* -> inf.
    Optimal critic T* = ((p/q)^(a-1) - 1) / (a - 1).

    Activation g(v) = expm1((a - 1) v) / (a - 1), so that f*(g(v)) =
    expm1(a v) / a and the optimal raw output is v* = log(p/q) for every
    order. Its range, (-inf, 1/(1 - a)) for a < 1 and (-1/(a - 1), inf) for
    a > 1, contains every optimal critic. A smooth clip keeps |a v| and
    |(a - 1) v| below 50, so log ratios beyond 50 / max(|a|, |a - 1|) are
    out of the critic's reach.

    Orders within 1e-3 of 0 or 1 are rejected: the divisions by a (a - 1)
    amplify float32 rounding by more than 1e3 there.
    """

    alpha_order: float
    name: ClassVar[str] = "alpha"

    def __post_init__(self):
        order = self.alpha_order
        is_real = isinstance(order, numbers.Real) and not isinstance(order, bool)
        if not is_real or not math.isfinite(order):
            raise ValueError(
                f"`alpha_order` must be a finite real number, got {order!r}; for example "
                "f_divergence('alpha', alpha_order=0.5)."
            )
        if abs(order) < _ALPHA_MARGIN or abs(order - 1.0) < _ALPHA_MARGIN:
            raise ValueError(
                f"`alpha_order` must differ from 0 and 1 by at least {_ALPHA_MARGIN}, got "
                f"{order!r}. The alpha-divergence tends to KL(P || Q) as the order tends to "
                "1 and to KL(Q || P) as it tends to 0: use f_divergence('kl') or "
                "f_divergence('reverse-kl') for those."
            )
        object.__setattr__(self, "alpha_order", float(order))

    @property
    def conjugate_domain(self) -> tuple[float, float]:  # type: ignore[override]
        a = self.alpha_order
        return (-math.inf, math.inf) if a > 1 else (-math.inf, 1.0 / (1.0 - a))

    @property
    def conjugate_domain_closed(self) -> tuple[bool, bool]:  # type: ignore[override]
        return (False, self.alpha_order < 0)

    @property
    def _exponent(self) -> float:
        a = self.alpha_order
        return a / (a - 1.0)

    @property
    def _logit_cap(self) -> float | None:  # type: ignore[override]
        # Above it expm1(a v) / a would pass e^50 (a > 0).
        a = self.alpha_order
        return _LOG_CAP / a if a > 0 else None

    @property
    def _logit_floor(self) -> float | None:  # type: ignore[override]
        # Below it g(v) = expm1((a - 1) v) / (a - 1) would pass e^50 (a < 1),
        # and for a < 0 so would expm1(a v) / a.
        a = self.alpha_order
        return -_LOG_CAP / (1.0 - a) if a < 1 else None

    def _generator(self, log_u):
        a = self.alpha_order
        l = log_u
        nonnegative = l >= 0
        l_pos = tf.where(nonnegative, l, tf.zeros_like(l))
        l_neg = tf.where(nonnegative, tf.zeros_like(l), l)

        # l >= 0. For a > 0: f = e^l [expm1((a-1) l)/(a-1) + expm1(-l)] / a,
        # whose bracket is finite for a < 1 and exact near a = 1. For a < 0:
        # f = [expm1(l) - expm1(a l)/a] / (1 - a), with expm1(a l) in (-1, 0].
        if a > 0:
            bracket = tf.math.expm1((a - 1.0) * l_pos) / (a - 1.0) + tf.math.expm1(-l_pos)
            positive_part = tf.exp(l_pos) * bracket / a
        else:
            positive_part = (tf.math.expm1(l_pos) - tf.math.expm1(a * l_pos) / a) / (1.0 - a)

        # l < 0. For a < 1/2: f = [expm1(l) - expm1(a l)/a] / (1 - a). For
        # a >= 1/2: f = [(u - u^a)/(1 - a) - expm1(l)] / a, with
        # (u - u^a)/(1 - a) factored by the larger of u and u^a so that no
        # factor overflows.
        if a < 0.5:
            negative_part = (tf.math.expm1(l_neg) - tf.math.expm1(a * l_neg) / a) / (1.0 - a)
        else:
            if a > 1:
                difference = tf.exp(l_neg) * tf.math.expm1((a - 1.0) * l_neg) / (a - 1.0)
            else:
                difference = tf.exp(a * l_neg) * tf.math.expm1((1.0 - a) * l_neg) / (1.0 - a)
            negative_part = (difference - tf.math.expm1(l_neg)) / a

        return tf.where(nonnegative, positive_part, negative_part)

    def _conjugate_from_log1p_argument(self, x):
        """((1 + x)^e - 1) / a for x = (a - 1) t, and -1/a where 1 + x <= 0."""
        a = self.alpha_order
        positive = x > -1.0
        safe_x = tf.where(positive, x, tf.zeros_like(x))
        value = tf.math.expm1(self._exponent * tf.math.log1p(safe_x)) / a
        return tf.where(positive, value, tf.zeros_like(x) - 1.0 / a)

    def _conjugate_inside(self, t):
        return self._conjugate_from_log1p_argument((self.alpha_order - 1.0) * t)

    def _unclipped_activation(self, w):
        a = self.alpha_order
        return tf.math.expm1((a - 1.0) * w) / (a - 1.0)

    def _unclipped_conjugate_of_activation(self, w):
        a = self.alpha_order
        return tf.math.expm1(a * w) / a

    def _optimal_critic(self, log_ratio):
        a = self.alpha_order
        return tf.math.expm1((a - 1.0) * log_ratio) / (a - 1.0)

    def _unclipped_optimal_logit(self, log_ratio):
        return log_ratio


_CATALOGUE: dict[str, type[FDivergence]] = {
    cls.name: cls
    for cls in (
        KLDivergence,
        ReverseKLDivergence,
        PearsonChiSquared,
        NeymanChiSquared,
        SquaredHellinger,
        JeffreysDivergence,
        JensenShannon,
        GANDivergence,
        TotalVariation,
        AlphaDivergence,
    )
}

F_DIVERGENCE_NAMES: tuple[str, ...] = tuple(_CATALOGUE)


def f_divergence(name: str | FDivergence, **params: Any) -> FDivergence:
    """Returns the f-divergence object for a catalogue name.

    Args:
      name: one of 'kl', 'reverse-kl', 'pearson', 'neyman',
        'squared-hellinger', 'jeffreys', 'jensen-shannon', 'gan',
        'total-variation', 'alpha'. An `FDivergence` instance is returned
        unchanged (then no parameters may be given).
      **params: `alpha_order` (a finite real, at least 1e-3 away from 0 and
        1) for 'alpha', required there; no other divergence takes parameters.

    Returns:
      An immutable, hashable `FDivergence`. Every entry follows
      D_f(P || Q) = E_Q[f(p/q)] with f(1) = 0, P the real data `x` and Q the
      generated data `y`; see each class's docstring for its normalisation.

    Raises:
      ValueError: unknown name, or invalid `alpha_order`.
      TypeError: parameters that the divergence does not take.

    Example:
      >>> js = f_divergence("jensen-shannon")
      >>> float(js.lower_bound([0.0], [0.0]))  # a constant critic gives 0
      0.0
    """
    if isinstance(name, FDivergence):
        if params:
            raise TypeError(
                f"f_divergence() got parameters {sorted(params)} together with an "
                f"FDivergence instance {name!r}; pass either a name with its "
                "parameters or a ready instance."
            )
        return name

    if not isinstance(name, str) or name not in _CATALOGUE:
        choices = ", ".join(repr(n) for n in F_DIVERGENCE_NAMES)
        raise ValueError(
            f"`name` must be one of {choices}; got {name!r}. Note that 'alpha' takes "
            "its order as alpha_order=..."
        )

    cls = _CATALOGUE[name]
    if cls is AlphaDivergence:
        unknown = sorted(set(params) - {"alpha_order"})
        if unknown:
            raise TypeError(
                f"f_divergence('alpha') takes only `alpha_order`, got unexpected "
                f"parameter(s) {unknown}."
            )
        if "alpha_order" not in params:
            raise TypeError(
                "f_divergence('alpha') requires `alpha_order`, for example "
                "f_divergence('alpha', alpha_order=0.5)."
            )
        return AlphaDivergence(params["alpha_order"])

    if params:
        raise TypeError(
            f"f_divergence({name!r}) takes no parameters, got {sorted(params)}; only "
            "'alpha' takes one (alpha_order)."
        )
    return cls()

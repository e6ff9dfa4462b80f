"""The game a GAN plays, derived from a discrepancy of `discrepancy.divergences`.

An objective turns a discrepancy into two losses on one batch:

  * the critic loss, which the critic minimises: minus the discrepancy's
    lower bound (f-divergences, Wasserstein-1) plus any constraint penalty,
    or minus the discrepancy on critic features (MMD-GAN);
  * the generator loss, which the generator minimises: the generator-dependent
    part of the same bound, or the discrepancy itself (MMD, energy distance
    and Sinkhorn are differentiable in the samples).

No loss formula is written here a second time: f-GAN terms come from the
`FDivergence` object of the catalogue, and the sample discrepancies from
their numeric cores. Each loss is a float32 mean over the local batch.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import tensorflow as tf

from discrepancy import _validation
from discrepancy.gans import _penalties

__all__ = [
    "Objective",
    "FGANObjective",
    "WassersteinObjective",
    "MMDObjective",
    "EnergyObjective",
    "SinkhornObjective",
    "resolve_objective",
    "OBJECTIVE_NAMES",
]

Critic = Callable[..., tf.Tensor]


def _scalar_outputs(outputs: tf.Tensor, objective: str) -> tf.Tensor:
    """Returns critic outputs [b, 1] or [b] as float32 [b]; any other shape raises."""
    if outputs.shape.rank == 2 and outputs.shape[-1] == 1:
        outputs = outputs[:, 0]
    if outputs.shape.rank != 1:
        raise ValueError(
            f"the {objective} objective needs a critic with one output per sample "
            f"(shape [batch] or [batch, 1]), got outputs of shape {outputs.shape}. "
            "End the critic with keras.layers.Dense(1)."
        )
    return tf.cast(outputs, tf.float32)


def _features(outputs: tf.Tensor) -> tf.Tensor:
    """Flattens critic outputs to float32 features [b, k]."""
    outputs = tf.cast(outputs, tf.float32)
    if outputs.shape.rank == 1:
        return outputs[:, None]
    return tf.reshape(outputs, [tf.shape(outputs)[0], -1])


def _flatten(samples: tf.Tensor) -> tf.Tensor:
    """Flattens samples [b, ...] to float32 [b, d] for sample discrepancies."""
    samples = tf.cast(samples, tf.float32)
    return tf.reshape(samples, [tf.shape(samples)[0], -1])


class Objective:
    """Base class: the losses of a GAN game for one discrepancy.

    Attributes:
      name: the discrepancy's name, recorded in reports.
      trains_critic: False when the generator loss needs no critic (MMD,
        energy distance or Sinkhorn on raw samples), so no critic steps run.
      needs_real_in_generator_loss: True when the generator loss compares
        generated samples with real ones directly.
      supports_xla: False when the losses cannot run inside an XLA-compiled
        train step.
    """

    name: str = "objective"
    supports_xla: bool = True
    trains_critic: bool = True
    needs_real_in_generator_loss: bool = False
    lipschitz_critic: str | None = None

    def critic_loss(
        self, critic: Critic, real: tf.Tensor, fake: tf.Tensor, *, seed: tf.Tensor,
        loss_scale: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """Returns {"loss": ..., plus named diagnostics}; "loss" is what the critic minimises."""
        raise NotImplementedError

    def generator_loss(self, critic: Critic | None, real: tf.Tensor, fake: tf.Tensor) -> tf.Tensor:
        """Returns the scalar the generator minimises."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Returns the objective's options as JSON-ready values."""
        return {"name": self.name}


class FGANObjective(Objective):
    """The f-GAN game for one f-divergence (Nowozin, Cseke and Tomioka, NeurIPS 2016).

    With critic logits v and the catalogue object's activation g_f and
    conjugate f*, the critic maximises the variational lower bound

        F = E_P[g_f(v(x))] - E_Q[f*(g_f(v(y)))] <= D_f(P || Q),

    so its loss is -F. The generator minimises F (only the second term depends
    on it), or, with `non_saturating=True` (f-GAN section 3.2), minimises
    -E_Q[g_f(v(y))], which has strong gradients early in training when the
    critic rejects every sample. For `gan`, F is E_P[log D] + E_Q[log(1 - D)]
    + log 4 with D = sigmoid(v): the original GAN objective (Goodfellow et al.
    2014) plus the constant log 4 that the catalogue's normalisation f(1) = 0
    adds, which changes no gradient. Its non-saturating loss is
    -E_Q[log D(G(z))].

    Args:
      divergence: an f-divergence name of `discrepancy.divergences.f_divergence`
        or an `FDivergence` object.
      non_saturating: use the non-saturating generator loss.
    """

    def __init__(self, divergence: Any = "gan", *, non_saturating: bool = True):
        if isinstance(divergence, str):
            from discrepancy.divergences._f_divergences import f_divergence

            divergence = f_divergence(divergence)
        for method in ("variational_terms", "activation", "conjugate_of_activation"):
            if not hasattr(divergence, method):
                raise TypeError(
                    f"`divergence` must be an f-divergence name or an FDivergence object "
                    f"with a `{method}` method, got {divergence!r}."
                )
        self.divergence = divergence
        self.non_saturating = bool(non_saturating)
        self.name = str(divergence.name)

    def critic_loss(self, critic, real, fake, *, seed, loss_scale=None):
        del seed, loss_scale
        v_real = _scalar_outputs(critic(real, training=True), self.name)
        v_fake = _scalar_outputs(critic(fake, training=True), self.name)
        real_terms, fake_terms = self.divergence.variational_terms(v_real, v_fake)
        bound = tf.reduce_mean(real_terms) + tf.reduce_mean(fake_terms)
        return {"loss": -bound, "bound": bound}

    def generator_loss(self, critic, real, fake):
        del real
        v_fake = _scalar_outputs(critic(fake, training=True), self.name)
        if self.non_saturating:
            return -tf.reduce_mean(self.divergence.activation(v_fake))
        return -tf.reduce_mean(self.divergence.conjugate_of_activation(v_fake))

    def settings(self):
        return {"name": self.name, "game": "f-gan", "non_saturating": self.non_saturating}


class WassersteinObjective(Objective):
    """Wasserstein-1 through its dual: sup over 1-Lipschitz T of E_P[T] - E_Q[T].

    Arjovsky, Chintala and Bottou, "Wasserstein GAN", ICML 2017. The critic
    loss is E_Q[T(y)] - E_P[T(x)] plus the Lipschitz penalty, and the generator
    loss is -E_Q[T(y)]. The Lipschitz constraint is one of

      * "gradient": the gradient penalty lambda E[(||grad T(x_hat)|| - target)^2]
        at random interpolates (Gulrajani et al. 2017), or its one-sided form
        (Petzka et al. 2018) with `one_sided=True`;
      * "spectral": spectral normalisation of every Dense and Conv layer
        (Miyato et al. 2018), applied by the GAN to its critic.

    -critic_loss without the penalty estimates W1 up to the critic's Lipschitz
    constant and is biased low (the critic class is smaller than all
    1-Lipschitz functions).

    NOTE: on 1-D data prefer `one_sided=True`. When the generated mass
    crosses the real mass, a 1-D critic must flip the sign of its slope, and
    its slope passes through zero, where the two-sided penalty costs its
    full weight. The critic then lags behind the generator, whose mean
    oscillates: on N(3, 0.5^2) with 3000 steps and a cosine-decayed rate,
    the two-sided penalty ended at a mean of 19.5 and the one-sided one at
    3.0. In more dimensions the gradient can turn without shrinking to
    zero, so this barrier does not arise there.
    """

    name = "wasserstein"

    def __init__(
        self,
        *,
        constraint: str = "gradient",
        penalty_weight: float = 10.0,
        target: float = 1.0,
        one_sided: bool = False,
    ):
        self.constraint = _validation.check_option(constraint, "constraint", ("gradient", "spectral"))
        self.penalty_weight = _validation.as_float(penalty_weight, "penalty_weight", minimum=0.0)
        self.target = _validation.as_float(target, "target", positive=True)
        self.one_sided = bool(one_sided)
        self.lipschitz_critic = "spectral" if constraint == "spectral" else None

    def critic_loss(self, critic, real, fake, *, seed, loss_scale=None):
        v_real = _scalar_outputs(critic(real, training=True), self.name)
        v_fake = _scalar_outputs(critic(fake, training=True), self.name)
        estimate = tf.reduce_mean(v_real) - tf.reduce_mean(v_fake)
        terms = {"loss": -estimate, "estimate": estimate}

        if self.constraint == "gradient":
            penalty = tf.reduce_mean(
                _penalties.gradient_penalty(
                    critic, real, fake, seed=seed, weight=self.penalty_weight,
                    target=self.target, one_sided=self.one_sided, loss_scale=loss_scale,
                )
            )
            terms["loss"] = terms["loss"] + penalty
            terms["penalty"] = penalty
        return terms

    def generator_loss(self, critic, real, fake):
        del real
        return -tf.reduce_mean(_scalar_outputs(critic(fake, training=True), self.name))

    def settings(self):
        return {"name": self.name, "constraint": self.constraint,
                "penalty_weight": self.penalty_weight, "target": self.target,
                "one_sided": self.one_sided}


class _SampleDiscrepancyObjective(Objective):
    """A discrepancy that is differentiable in the samples, on raw samples or critic features.

    On raw samples the generator minimises D(real, fake) and no critic is
    trained. On features, the critic maps samples to features phi and
    maximises D(phi(real), phi(fake)) minus a one-sided gradient penalty on
    ||phi||, and the generator minimises D(phi(real), phi(fake)).
    """

    needs_real_in_generator_loss = True

    def __init__(self, *, on: str = "samples", penalty_weight: float = 1.0):
        self.on = _validation.check_option(on, "on", ("samples", "features"))
        self.trains_critic = self.on == "features"
        self.penalty_weight = _validation.as_float(penalty_weight, "penalty_weight", minimum=0.0)

    def discrepancy(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Returns the differentiable discrepancy between float32 sample sets [n, k] and [m, k]."""
        raise NotImplementedError

    def critic_loss(self, critic, real, fake, *, seed, loss_scale=None):
        value = self.discrepancy(_features(critic(real, training=True)),
                                 _features(critic(fake, training=True)))
        terms = {"loss": -value, "estimate": value}
        if self.penalty_weight > 0:
            # Stops the critic from growing the discrepancy by scaling its
            # features up: the gradient of ||phi|| is pushed below 1.
            # NOTE: this bounds the feature norm's slope, which is weaker than
            # a Lipschitz bound on phi itself; Binkowski et al. (2018) instead
            # penalise the gradient of the MMD witness function.
            def feature_norm(samples, training=True):
                return tf.norm(_features(critic(samples, training=training)), axis=1)

            penalty = tf.reduce_mean(
                _penalties.gradient_penalty(
                    feature_norm, real, fake, seed=seed, weight=self.penalty_weight,
                    one_sided=True, loss_scale=loss_scale,
                )
            )
            terms["loss"] = terms["loss"] + penalty
            terms["penalty"] = penalty
        return terms

    def generator_loss(self, critic, real, fake):
        if self.on == "features":
            return self.discrepancy(_features(critic(real, training=True)),
                                    _features(critic(fake, training=True)))
        return self.discrepancy(_flatten(real), _flatten(fake))

    def settings(self):
        return {"name": self.name, "on": self.on, "penalty_weight": self.penalty_weight}


def _batch_tile_size(x: tf.Tensor, y: tf.Tensor) -> int:
    """Returns the tile size of a batch discrepancy: the larger batch, up to the default tile.

    A batch smaller than the default tile would be padded to it, and the
    padded rows cost as much as real ones. At 256 rows of 192 values, a
    512-row tile made an MMD step with its gradient about 4 times slower.
    Unknown batch sizes keep the default, and the tile has at least 8 rows.
    """
    from discrepancy.divergences import _tiled

    rows = [x.shape[0], y.shape[0]]
    if any(count is None for count in rows):
        return _tiled.DEFAULT_TILE_SIZE
    return min(max(*rows, 8), _tiled.DEFAULT_TILE_SIZE)


class MMDObjective(_SampleDiscrepancyObjective):
    """Squared MMD between real and generated samples, or between critic features.

    On raw samples this is the generative moment matching network (Li,
    Swersky and Zemel, ICML 2015; Dziugaite, Roy and Ghahramani, UAI 2015); on
    critic features it is the MMD GAN (Li et al., NeurIPS 2017; Binkowski et
    al., "Demystifying MMD GANs", ICLR 2018). The estimate is the unbiased
    U-statistic of `discrepancy.divergences.mmd2`, whose batch gradient is an
    unbiased estimate of the population gradient.

    Args:
      kernel: a kernel name of `discrepancy.divergences` or a
        `tfp.math.psd_kernels` instance.
      bandwidth: a positive float or a sequence of floats (a sum of kernels).
        Data-dependent rules such as "median" are not allowed here, because
        the bandwidth would move with every batch.
      on: "samples" or "features".
      penalty_weight: weight of the critic's feature-norm gradient penalty
        (features only).
    """

    name = "mmd"

    def __init__(self, *, kernel: Any = "gaussian", bandwidth: Any = (0.25, 0.5, 1.0, 2.0, 4.0),
                 on: str = "samples", penalty_weight: float = 1.0):
        super().__init__(on=on, penalty_weight=penalty_weight)
        if isinstance(bandwidth, str):
            raise ValueError(
                f"`bandwidth` must be a positive float or a sequence of floats for GAN "
                f"training, got {bandwidth!r}; a data-dependent rule would change "
                "the loss with every batch."
            )
        self.kernel_spec = kernel
        self.bandwidth = bandwidth

    def discrepancy(self, x, y):
        from discrepancy.divergences._mmd import mmd2

        return tf.cast(mmd2(x, y, kernel=self.kernel_spec, bandwidth=self.bandwidth,
                            tile_size=_batch_tile_size(x, y)), tf.float32)

    def settings(self):
        bandwidth = list(self.bandwidth) if isinstance(self.bandwidth, (list, tuple)) else self.bandwidth
        return {**super().settings(), "kernel": str(self.kernel_spec), "bandwidth": bandwidth}


class EnergyObjective(_SampleDiscrepancyObjective):
    """Energy distance 2 E||x - y|| - E||x - x'|| - E||y - y'|| (Szekely and Rizzo 2013).

    Estimated by the unbiased U-statistic, so batch gradients are unbiased.

    The energy distance is the squared MMD with the distance kernel, so it
    trains like a generative moment-matching network without a bandwidth
    (Bellemare et al., "The Cramer distance as a solution to biased
    Wasserstein gradients", 2017, use it for GANs).
    """

    name = "energy"

    def discrepancy(self, x, y):
        from discrepancy.divergences._energy import energy_distance

        return tf.cast(energy_distance(x, y, estimator="unbiased", tile_size=_batch_tile_size(x, y)),
                       tf.float32)


class SinkhornObjective(_SampleDiscrepancyObjective):
    """The debiased Sinkhorn divergence S_eps(P, Q) (Genevay, Peyre and Cuturi, AISTATS 2018).

    S_eps = OT_eps(P, Q) - (OT_eps(P, P) + OT_eps(Q, Q)) / 2 with the cost
    |x - y|^2, differentiable in the samples (first derivatives only, so the
    feature critic's penalty is taken on the feature norms, never through
    S_eps). Its cost per batch is that of the Sinkhorn iterations, and the
    train step runs without XLA.

    Args:
      epsilon: entropic regularisation, in units of the cost.
      on: "samples" or "features".
      penalty_weight: weight of the critic's feature-norm gradient penalty.
    """

    name = "sinkhorn"
    # The Sinkhorn core reports non-convergence through tf.numpy_function,
    # which XLA cannot compile.
    supports_xla = False

    def __init__(self, *, epsilon: float = 0.1, on: str = "samples", penalty_weight: float = 1.0):
        super().__init__(on=on, penalty_weight=penalty_weight)
        self.epsilon = _validation.as_float(epsilon, "epsilon", positive=True)

    def discrepancy(self, x, y):
        from discrepancy.divergences._sinkhorn import sinkhorn_divergence

        return tf.cast(sinkhorn_divergence(x, y, epsilon=self.epsilon), tf.float32)

    def settings(self):
        return {**super().settings(), "epsilon": self.epsilon}


_IPM_FACTORIES: Mapping[str, Callable[[], Objective]] = {
    "wasserstein": lambda: WassersteinObjective(constraint="gradient"),
    "wasserstein-gp": lambda: WassersteinObjective(constraint="gradient"),
    "wasserstein-gp-one-sided": lambda: WassersteinObjective(constraint="gradient", one_sided=True),
    "wasserstein-sn": lambda: WassersteinObjective(constraint="spectral"),
    "mmd": lambda: MMDObjective(on="samples"),
    "mmd-gan": lambda: MMDObjective(on="features"),
    "energy": lambda: EnergyObjective(on="samples"),
    "sinkhorn": lambda: SinkhornObjective(on="samples"),
}

F_DIVERGENCE_NAMES = (
    "kl", "reverse-kl", "pearson", "neyman", "squared-hellinger", "jeffreys",
    "jensen-shannon", "gan", "total-variation", "alpha",
)

OBJECTIVE_NAMES = tuple(_IPM_FACTORIES) + F_DIVERGENCE_NAMES


def resolve_objective(divergence: Any) -> Objective:
    """Returns the objective for a name, an `FDivergence`, a divergence function or an objective.

    Names: every f-divergence of the catalogue (the f-GAN game with the
    non-saturating generator loss) and "wasserstein" (gradient penalty),
    "wasserstein-gp-one-sided", "wasserstein-sn" (spectral normalisation),
    "mmd" (raw samples), "mmd-gan" (critic features), "energy", "sinkhorn".
    Build an objective object yourself for other options.
    """
    if isinstance(divergence, Objective):
        return divergence
    if isinstance(divergence, str):
        key = divergence.lower().replace("_", "-")
        if key in _IPM_FACTORIES:
            return _IPM_FACTORIES[key]()
        if key in F_DIVERGENCE_NAMES or key.startswith("alpha"):
            return FGANObjective(key)
        _validation.check_option(divergence, "divergence", OBJECTIVE_NAMES)
    if hasattr(divergence, "variational_terms"):
        return FGANObjective(divergence)
    function_name = getattr(divergence, "__name__", None)
    by_function = {"mmd2": "mmd", "energy_distance": "energy", "sinkhorn_divergence": "sinkhorn",
                   "wasserstein": "wasserstein"}
    if function_name in by_function:
        return _IPM_FACTORIES[by_function[function_name]]()
    raise TypeError(
        f"`divergence` must be a name ({', '.join(OBJECTIVE_NAMES)}), an FDivergence, "
        f"one of the functions mmd2, energy_distance, sinkhorn_divergence or "
        f"wasserstein, or an Objective, got {divergence!r}."
    )

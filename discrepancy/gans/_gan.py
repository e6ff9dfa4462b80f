"""`GAN`: a Keras model that trains a generator by minimising a chosen discrepancy.

One training step draws noise, runs `critic_steps` critic updates (each on the
same real batch with fresh noise) and one generator update. The critic's and
generator's losses come from the objective (see `_objectives`), so the step
itself contains no loss formula.

Randomness: every draw of a step (noise, interpolation weights) comes from
stateless random ops seeded by the model's seed state [seed, step], a
variable that is saved in checkpoints. Training is therefore a function of
the seed, the data order and the step count, and a resumed run continues
exactly. Under a distribution strategy each replica draws the noise of the
whole global batch and keeps its own slice, so a step on R replicas equals
the single-device step on the same global batch.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.gans import _networks, _objectives, _packing, _penalties
from discrepancy.gans._replicas import draw_replica_slice, replica_info

__all__ = ["GAN", "TrainingDivergedError"]

logger = logging.getLogger("discrepancy.gans")

# Indices folded into the step seed, one per kind of draw, so draws never share a seed.
_NOISE, _PENALTY, _EXTRA = 0, 1, 2


def _fold(seed: tf.Tensor, *values: int) -> tf.Tensor:
    """Derives a new stateless seed [2] from `seed` and integer tags."""
    for value in values:
        seed = tf.random.experimental.stateless_fold_in(seed, value)
    return seed


class TrainingDivergedError(FloatingPointError):
    """Raised by `GAN.fit` when a logged loss becomes NaN or infinite.

    Attributes:
      step: generator updates completed when the loss was seen.
      name: the log entry, for example "critic_loss".
      value: its value.
    """

    def __init__(self, step: int, name: str, value: float):
        self.step, self.name, self.value = step, name, value
        super().__init__(
            f"training diverged at generator step {step}: {name} is {value}, so the weights are no "
            "longer finite. Restart from an earlier checkpoint with a smaller learning rate, or "
            "use a bounded game such as divergence='wasserstein' (gradient penalty)."
        )


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `TrainingDivergedError` at the first batch whose logs contain NaN or inf.

    Keras's TerminateOnNaN reads only a log named "loss", which a GAN does not
    have. The logs are running means over the epoch, so one non-finite step
    shows in them at once, and raising before the later callbacks run keeps
    a checkpoint callback from saving the broken weights.
    """

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            array = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(array)):
                raise TrainingDivergedError(self.model.step, name, float(array.reshape(-1)[0]))


class GAN(keras.Model):
    """A generator trained by minimising a discrepancy, with a critic where the discrepancy needs one.

    `divergence` chooses the game (see `resolve_objective` for names):

      * any f-divergence name or `FDivergence` object: the f-GAN game, with the
        critic activation and conjugate taken from the catalogue object and
        the non-saturating generator loss (`FGANObjective(...,
        non_saturating=False)` for the saturating one). "gan" gives the
        original GAN objective;
      * "wasserstein" (gradient penalty), "wasserstein-gp-one-sided",
        "wasserstein-sn" (spectral normalisation), or a `WassersteinObjective`;
      * "mmd" on raw samples (generative moment matching), "mmd-gan" on
        critic features, "energy", "sinkhorn", or their objective objects.

    Args:
      generator: maps noise [b, latent_dim] to samples [b, ...]. None builds
        the default network for `sample_shape`.
      critic: maps samples [b, ...] (or packed samples) to outputs [b, 1]
        (features [b, k] for feature-based discrepancies). It must treat the
        samples of a batch independently (no batch normalisation). None
        builds the default network.
      divergence: the discrepancy, see above.
      latent_dim: noise dimension; read from the generator's input shape
        when it has one.
      sample_shape: shape of one sample, needed only when a network is None.
      critic_steps: critic updates per generator update.
      pack: m of PacGAN (Lin et al. 2018): the critic judges m samples
        concatenated along the last axis, and is rebuilt for that input
        from the user's critic.
      noise: "normal" (N(0, I)) or "uniform" (U(-1, 1)) noise.
      seed: initial seed of the model's seed state; None draws one.
      ema_decay: None, or a decay d in [0, 1) for an exponential moving
        average (EMA) of the generator's weights, updated after every
        generator step as a_t = d a_{t-1} + (1 - d) w_t, with a_0 the weights
        at the start of training. `generate` then samples from the averaged
        weights (`use_ema=False` gives the trained ones). The average damps
        the oscillation of the generator around the game's equilibrium and
        gives sharper samples (Yazici et al., "The unusual effectiveness of
        averaging in GAN training", ICLR 2019). It costs one copy of the
        generator's weights and one update of them per step, and it is
        saved in checkpoints. A decay d averages over about 1 / (1 - d) steps.
        NOTE: while the learning rate is large the average mixes weights far
        apart and can sample worse than the trained weights (on the 25-mode
        grid, 6 modes against 25 after 3000 of 12000 steps). It pays off
        once the weights settle, for example at the end of a decaying
        learning-rate schedule.
      sample_matching: None, or a discrepancy on raw samples ("mmd",
        "energy", "sinkhorn", or an `MMDObjective`, `EnergyObjective` or
        `SinkhornObjective` with on="samples") added to the generator loss:
        L_G + w_t D(real, fake). This is a hybrid of the adversarial game and
        generative moment matching (Li, Swersky and Zemel, ICML 2015). The
        kernel term pulls generated mass towards every region of the data at
        the scale of its bandwidths, which keeps modes from being dropped early
        in training and evens out the mass between modes. The critic sharpens
        the samples, which raw-sample MMD alone does not. It costs one
        discrepancy on `sample_matching_size` pairs per generator step, which
        at 512 samples is small beside a 2-D PacGAN step on a batch of 2048.
      sample_matching_weight: w_t, a float >= 0 or a callable of the
        generator step returning the weight (a keras learning-rate schedule
        works).
      sample_matching_decay_steps: None keeps a float weight constant. An
        integer N decays it linearly to `sample_matching_final_weight` at
        generator step N, and the weight stays there.
      sample_matching_final_weight: the weight reached after the decay (0 by
        default, so the critic alone shapes the samples). A small floor keeps
        the mode weights from drifting apart later in training.
      sample_matching_size: real and generated samples of each batch that
        enter the term (the first ones of the batch, which is shuffled), or
        None for the whole batch. The U-statistic cost grows with its square.
      channel_independence: None, or a discrepancy on raw samples ("mmd",
        "energy", "sinkhorn", or their objectives with on="samples") that
        penalises dependence between the channels (the last axis) of the
        generated samples. The generator loss gains v D(G, S), where G is
        the generated batch and S is G with channel c rolled by c rows along
        the batch axis. The rows of G are independent, so the rows of S are
        draws from the product of the channels' distributions, and D(G, S)
        estimates how far the joint law of the channels is from that
        product; it is 0 for independent channels. With a product kernel,
        MMD^2 between a joint law and the product of its marginals is the
        Hilbert-Schmidt independence criterion (Gretton et al., "Measuring
        statistical dependence with Hilbert-Schmidt norms", ALT 2005). Use
        it when the channels are meant to be independent factors, as in
        stacked digits (one digit per channel), where a critic that reads
        every channel with one shared encoder lets the generator tie the
        channels' digits together. Bias: row i of S shares channel c with
        row i - c of G, so on a batch of b rows the estimate is biased by
        O(1 / b). Cost: one discrepancy on the whole generated batch per
        generator step, quadratic in the batch size.
        In the benchmark's stacked-digits configuration (batch 256, 5
        critic steps per generator step) a generator step took 0.129 s with
        the term and 0.085 s without it on 2 idle CPU cores.
        NOTE: the weight trades independence against clear samples. On
        stacked digits (MMD with Gaussian kernels of bandwidths 2, 4 and 8,
        one benchmark run each with the same seed), weight 300 halved the
        dependence between channels against weight 100 (total correlation
        0.023 against 0.045) but blurred the digits (channels' KL 0.108
        against 0.054), so the mode KL rose from 0.099 to 0.131. Weight
        1000 blurred them more.
      channel_independence_weight: v, a float >= 0.
      name: model name.

    Training is `compile(g_optimizer=..., d_optimizer=...)` then
    `fit(x_or_dataset, epochs=..., callbacks=...)`. Under the
    "mixed_float16" dtype policy both optimizers are wrapped in
    `keras.optimizers.LossScaleOptimizer`, every loss is scaled before its
    gradient (including the inner gradient of the gradient penalty), and the
    losses and penalty are computed in float32.
    """

    def __init__(
        self,
        generator: keras.Model | None = None,
        critic: keras.Model | None = None,
        *,
        divergence: Any = "gan",
        latent_dim: int | None = None,
        sample_shape: Sequence[int] | None = None,
        critic_steps: int = 1,
        pack: int = 1,
        noise: str = "normal",
        seed: int | None = None,
        ema_decay: float | None = None,
        sample_matching: Any = None,
        sample_matching_weight: Any = 1.0,
        sample_matching_decay_steps: int | None = None,
        sample_matching_final_weight: float = 0.0,
        sample_matching_size: int | None = 512,
        channel_independence: Any = None,
        channel_independence_weight: float = 1.0,
        name: str = "gan",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.objective = _objectives.resolve_objective(divergence)
        self.critic_steps = _validation.as_int(critic_steps, "critic_steps", minimum=1)
        self.pack = _validation.as_int(pack, "pack", minimum=1)
        self.noise = _validation.check_option(noise, "noise", ("normal", "uniform"))
        if self.pack > 1 and not self.objective.trains_critic:
            raise ValueError(
                f"pack={self.pack} packs the critic's inputs, but divergence "
                f"{self.objective.name!r} on raw samples trains no critic; use pack=1, or the "
                "feature-critic form (for example divergence='mmd-gan')."
            )
        if latent_dim is not None:
            latent_dim = _validation.as_int(latent_dim, "latent_dim", minimum=1)
        self.ema_decay = _check_ema_decay(ema_decay)
        self.sample_matching = _check_sample_matching(sample_matching)
        (self.sample_matching_weight, self.sample_matching_decay_steps,
         self.sample_matching_final_weight) = _check_matching_weight(
            sample_matching_weight, sample_matching_decay_steps, sample_matching_final_weight)
        if sample_matching_size is not None:
            sample_matching_size = _validation.as_int(sample_matching_size, "sample_matching_size",
                                                      minimum=2)
        self.sample_matching_size = sample_matching_size
        self.channel_independence = _check_sample_matching(channel_independence, "channel_independence")
        self.channel_independence_weight = _validation.as_float(
            channel_independence_weight, "channel_independence_weight", minimum=0.0)

        generator, critic, latent_dim, sample_shape = self._resolve_networks(
            generator, critic, latent_dim, sample_shape
        )
        self.latent_dim = latent_dim
        self.sample_shape = sample_shape
        if self.channel_independence is not None and (len(sample_shape) < 2 or sample_shape[-1] < 2):
            raise ValueError(
                f"`channel_independence` needs samples with at least 2 channels on the last "
                f"axis, got sample_shape {sample_shape!r}; it is meant for images whose "
                "channels are independent factors, such as stacked digits. Use None here."
            )
        self.generator = generator

        if self.objective.lipschitz_critic == "spectral":
            critic = _penalties.spectrally_normalized(critic)
        self.critic = _packing.packed_critic(critic, self.pack, sample_shape) if critic is not None else None

        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.initial_seed = _validation.as_int(seed, "seed", minimum=0)
        self.seed_state = self.add_weight(
            shape=(2,),
            dtype="int64",
            initializer=keras.initializers.Constant([self.initial_seed, 0]),
            trainable=False,
            aggregation="only_first_replica",
            name="seed_state",
        )

        self.g_optimizer = None
        self.d_optimizer = None
        self._trackers: dict[str, keras.metrics.Mean] = {}

        # Pairs (generator variable, its average), created by build_networks.
        self._ema_pairs: list[tuple[Any, Any]] = []

    # Construction.

    def _resolve_networks(self, generator, critic, latent_dim, sample_shape):
        """Fills in default networks and reads latent_dim and sample_shape where it can."""
        if sample_shape is not None:
            sample_shape = tuple(_validation.as_int(s, "sample_shape", minimum=1) for s in sample_shape)

        if generator is None or (critic is None and self.objective.trains_critic):
            if sample_shape is None:
                raise ValueError(
                    "`sample_shape` is required when `generator` or `critic` is None, so "
                    "the default networks know the data shape; pass, for example, "
                    "sample_shape=(2,) for 2-D points or (8, 8, 3) for stacked digits."
                )
            outputs = 16 if self.objective.needs_real_in_generator_loss else 1
            default_generator, default_critic, default_latent = _networks.default_networks(
                sample_shape, latent_dim=latent_dim, critic_outputs=outputs
            )
            if generator is None:
                generator, latent_dim = default_generator, default_latent
            if critic is None:
                critic = default_critic

        if latent_dim is None:
            shape = _input_shape(generator)
            if shape is None:
                raise ValueError(
                    f"`latent_dim` is required: generator {generator.name!r} has no known "
                    "input shape. Pass latent_dim=... or give the generator a keras.Input."
                )
            latent_dim = int(shape[-1])

        if sample_shape is None:
            sample_shape = tuple(int(s) for s in generator.compute_output_shape((1, latent_dim))[1:])
        if not self.objective.trains_critic:
            critic = None
        return generator, critic, latent_dim, sample_shape

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        *,
        jit_compile: bool | str = "auto",
        **kwargs,
    ):
        """Sets the generator's and critic's optimizers and compiles the train step.

        Args:
          g_optimizer: generator optimizer; Adam(1e-4, beta_1=0.5, beta_2=0.9) if None.
          d_optimizer: critic optimizer; the same default if None.
          jit_compile: XLA-compile the train step. "auto" compiles it unless a
            distribution strategy with more than one replica is active (Keras
            cannot XLA-compile a function that crosses replicas), the
            objective cannot be compiled (Sinkhorn) or a layer does not
            support XLA.
          **kwargs: passed to keras.Model.compile (for example run_eagerly).
        """
        g_optimizer = g_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9)
        d_optimizer = d_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9)
        if self._uses_mixed_float16():
            g_optimizer = _loss_scaled(g_optimizer)
            d_optimizer = _loss_scaled(d_optimizer)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

        if jit_compile == "auto":
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            jit_compile = replicas == 1 and self.objective.supports_xla
        super().compile(optimizer=g_optimizer, jit_compile=jit_compile, auto_scale_loss=False, **kwargs)

        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}

    def _critic_diagnostic_names(self) -> list[str]:
        """Returns the names of the extra values the critic loss reports."""
        if isinstance(self.objective, _objectives.FGANObjective):
            return ["bound"]
        names = ["estimate"]
        if getattr(self.objective, "constraint", None) == "gradient" or getattr(
            self.objective, "penalty_weight", 0.0
        ) > 0 and getattr(self.objective, "on", None) == "features":
            names.append("penalty")
        return names

    def _uses_mixed_float16(self) -> bool:
        """Returns whether either network computes in float16 under a mixed policy."""
        networks = [self.generator] + ([self.critic] if self.critic is not None else [])
        policies = [keras.config.dtype_policy().name] + [
            getattr(network.dtype_policy, "name", "") for network in networks
        ]
        return any(policy == "mixed_float16" for policy in policies)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def build_networks(self) -> None:
        """Builds both networks and both optimizers, so checkpoints can be restored into them."""
        noise = tf.zeros([self.pack, self.latent_dim])
        fake = tf.cast(self.generator(noise, training=False), tf.float32)
        if self.critic is not None:
            self.critic(_packing.pack_samples(fake, self.pack), training=False)
        if self.g_optimizer is None:
            raise RuntimeError("call compile() before build_networks() or fit().")
        self.g_optimizer.build(self.generator.trainable_variables)
        if self.critic is not None:
            self.d_optimizer.build(self.critic.trainable_variables)
        self.build_ema()

        # Tells Keras not to build the model by calling it on a data batch,
        # which `call` (noise to samples) cannot take.
        self.built = True

    def build_ema(self) -> None:
        """Creates the averages of the generator's weights, each equal to its variable's value.

        Does nothing without `ema_decay` or when the averages exist. The
        generator must be built, so `build_networks` calls this last.
        """
        if self.ema_decay is None or self._ema_pairs:
            return
        for index, variable in enumerate(self.generator.variables):
            # Integer state (for example a dropout seed) is not a weight.
            if not np.issubdtype(np.dtype(variable.dtype), np.floating):
                continue
            average = self.add_weight(
                shape=tuple(variable.shape),
                dtype=variable.dtype,
                initializer="zeros",
                trainable=False,
                aggregation="only_first_replica",
                name=f"ema_{index}",
            )
            average.assign(variable.value)
            self._ema_pairs.append((variable, average))

    @property
    def ema_weights(self) -> list:
        """The averaged generator weights, in the order of `generator.variables` (floating ones only)."""
        return [average for _, average in self._ema_pairs]

    def _update_ema(self) -> None:
        """Moves every average towards its generator variable: a <- d a + (1 - d) w."""
        decay = self.ema_decay
        for variable, average in self._ema_pairs:
            average.assign(decay * average.value + (1.0 - decay) * variable.value)

    @contextlib.contextmanager
    def ema_weights_loaded(self):
        """Loads the averaged weights into the generator for the `with` block, then restores its own.

        Without `ema_decay` the block runs on the generator as it is. Do not
        train inside the block.
        """
        if not self._ema_pairs:
            yield self.generator
            return

        trained = [variable.numpy() for variable, _ in self._ema_pairs]
        for variable, average in self._ema_pairs:
            variable.assign(average.value)
        try:
            yield self.generator
        finally:
            for (variable, _), value in zip(self._ema_pairs, trained):
                variable.assign(value)

    def call(self, noise, training=False):
        """Maps noise [b, latent_dim] to generated samples."""
        return self.generator(noise, training=training)

    # Sampling.

    def draw_noise(self, batch_size: Any, seed: tf.Tensor) -> tf.Tensor:
        """Draws noise [batch_size, latent_dim] from the stateless `seed`, sliced per replica."""
        if self.noise == "normal":
            def draw(shape, draw_seed):
                return tf.random.stateless_normal(shape, seed=draw_seed)
        else:
            def draw(shape, draw_seed):
                return tf.random.stateless_uniform(shape, seed=draw_seed, minval=-1.0, maxval=1.0)
        return draw_replica_slice(draw, [batch_size, self.latent_dim], seed)

    def generate(
        self, num_samples: int, *, seed: int = 0, batch_size: int = 1024, use_ema: bool | None = None
    ) -> np.ndarray:
        """Returns `num_samples` generated samples as a float32 NumPy array.

        The noise comes from `seed` alone, not from the training seed state,
        so sampling never changes training.

        Args:
          num_samples: number of samples.
          seed: seed of the noise.
          batch_size: samples per generator call.
          use_ema: sample from the averaged weights (see `ema_decay`). None
            uses them when the model keeps an average; True without one raises.
        """
        num_samples = _validation.as_int(num_samples, "num_samples", minimum=1)
        base = _validation.as_seed(seed)
        use_ema = self._check_use_ema(use_ema)

        chunks = []
        with self.ema_weights_loaded() if use_ema else contextlib.nullcontext():
            for start in range(0, num_samples, batch_size):
                size = min(batch_size, num_samples - start)
                noise = self._noise_for_sampling(size, _fold(base, start))
                chunks.append(np.asarray(self.generator(noise, training=False), dtype=np.float32))
        return np.concatenate(chunks, axis=0)

    def _check_use_ema(self, use_ema: bool | None) -> bool:
        """Resolves `use_ema` of the sampling methods to a bool."""
        if use_ema is None:
            return bool(self._ema_pairs)
        if not isinstance(use_ema, (bool, np.bool_)):
            raise TypeError(f"`use_ema` must be True, False or None, got {use_ema!r}.")
        if use_ema and self.ema_decay is None:
            raise ValueError(
                "use_ema=True needs an average of the generator's weights, but the model was built "
                "without one; construct it with ema_decay=0.999 (for example), or pass use_ema=False."
            )
        if use_ema and not self._ema_pairs:
            raise ValueError("use_ema=True before training: call fit() (or build_networks()) first.")
        return bool(use_ema)

    def _noise_for_sampling(self, size: int, seed: tf.Tensor) -> tf.Tensor:
        """Draws noise outside any replica context."""
        if self.noise == "normal":
            return tf.random.stateless_normal([size, self.latent_dim], seed=seed)
        return tf.random.stateless_uniform([size, self.latent_dim], seed=seed, minval=-1.0, maxval=1.0)

    # Training.

    def _critic_input(self, samples: tf.Tensor) -> tf.Tensor:
        """Casts samples to float32 and packs them for the critic."""
        return _packing.pack_samples(tf.cast(samples, tf.float32), self.pack)

    def _loss_scale(self, optimizer) -> tf.Tensor | None:
        """Returns the current dynamic loss scale, or None without loss scaling."""
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return tf.cast(optimizer.dynamic_scale, tf.float32)
        return None

    def _apply(self, optimizer, tape, loss, variables) -> None:
        """Computes the gradient of the scaled loss and applies it."""
        gradients = tape.gradient(loss, variables)
        optimizer.apply(gradients, variables)

    # Hooks that the variants override.

    @staticmethod
    def real_samples(data) -> tf.Tensor:
        """Returns the real samples of a batch, which is either samples or (samples, labels)."""
        return data[0] if isinstance(data, (tuple, list)) else data

    def fake_batch(self, data, seed: tf.Tensor, training: bool = True) -> tuple[tf.Tensor, dict]:
        """Generates as many samples as the real batch; returns (fake, context for the losses)."""
        noise = self.draw_noise(tf.shape(self.real_samples(data))[0], seed)
        return self.generator(noise, training=training), {}

    def critic_function(self, data):
        """Returns the callable the objective evaluates on (packed) samples."""
        del data
        return self.critic

    def extra_critic_terms(self, data, fake, context) -> dict[str, tf.Tensor]:
        """Returns named float32 terms added to the critic loss (none in the base GAN)."""
        return {}

    def extra_generator_terms(self, data, fake, context) -> dict[str, tf.Tensor]:
        """Returns named float32 terms added to the generator loss (none in the base GAN)."""
        return {}

    def critic_variables(self) -> list:
        """Returns the variables the critic optimizer updates."""
        return self.critic.trainable_variables

    def generator_variables(self) -> list:
        """Returns the variables the generator optimizer updates."""
        return self.generator.trainable_variables

    def metric_names(self) -> list[str]:
        """Returns the names of the running means reported in the training logs."""
        names = ["generator_loss"]
        if self.sample_matching is not None:
            names.append("sample_matching")
        if self.channel_independence is not None:
            names.append("channel_independence")
        if self.critic is not None:
            names += ["critic_loss", *self._critic_diagnostic_names()]
        return names

    # Steps.

    def critic_step(self, data, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """Runs one critic update on a batch; returns the loss and its named terms."""
        replicas, _ = replica_info()
        fake, context = self.fake_batch(data, _fold(seed, _NOISE))
        real = self.real_samples(data)

        with tf.GradientTape() as tape:
            terms = dict(self.objective.critic_loss(
                self.critic_function(data), self._critic_input(real), self._critic_input(fake),
                seed=_fold(seed, _PENALTY), loss_scale=self._loss_scale(self.d_optimizer),
            ))
            for name, value in self.extra_critic_terms(data, fake, context).items():
                terms["loss"] = terms["loss"] + value
                terms[name] = value
            scaled = self.d_optimizer.scale_loss(terms["loss"] / replicas)
        self._apply(self.d_optimizer, tape, scaled, self.critic_variables())
        return terms

    def generator_step(self, data, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """Runs one generator update; returns {"loss": ..., plus named terms}."""
        replicas, _ = replica_info()
        real = self.real_samples(data)

        with tf.GradientTape() as tape:
            fake, context = self.fake_batch(data, _fold(seed, _NOISE))
            loss = tf.cast(
                self.objective.generator_loss(self.critic_function(data), self._critic_input(real),
                                              self._critic_input(fake)),
                tf.float32,
            )
            terms = {"loss": loss}
            extra = dict(self.extra_generator_terms(data, fake, context))
            extra.update(self.regularizer_terms(real, fake))
            for name, value in extra.items():
                terms["loss"] = terms["loss"] + value
                terms[name] = value
            scaled = self.g_optimizer.scale_loss(terms["loss"] / replicas)
        self._apply(self.g_optimizer, tape, scaled, self.generator_variables())
        return terms

    def regularizer_terms(self, real: tf.Tensor, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        """Returns the optional generator terms: "sample_matching" and "channel_independence"."""
        terms = {}
        if self.sample_matching is not None:
            terms["sample_matching"] = self.sample_matching_loss(real, fake)
        if self.channel_independence is not None:
            terms["channel_independence"] = self.channel_independence_loss(fake)
        return terms

    def sample_matching_weight_at(self, step: Any) -> tf.Tensor:
        """Returns the float32 weight w_t of the sample-matching term at generator step `step`."""
        step = tf.cast(step, tf.float32)
        weight = self.sample_matching_weight
        if callable(weight):
            return tf.cast(weight(step), tf.float32)
        if self.sample_matching_decay_steps is None:
            return tf.constant(weight, tf.float32)
        remaining = tf.maximum(1.0 - step / float(self.sample_matching_decay_steps), 0.0)
        final = self.sample_matching_final_weight
        return final + (weight - final) * remaining

    def sample_matching_loss(self, real: tf.Tensor, fake: tf.Tensor, step: Any = None) -> tf.Tensor:
        """Returns the sample-matching term w_t D(real, fake) of the generator loss, float32.

        D is taken on the first `sample_matching_size` samples of each set,
        and the term is exactly 0, with zero gradients, once w_t is 0.

        Args:
          real: real samples [b, ...].
          fake: generated samples [b, ...].
          step: the generator step t; None takes the generator optimizer's
            iteration count.

        Raises:
          ValueError: the model has no `sample_matching`.
        """
        if self.sample_matching is None:
            raise ValueError("this model has no sample-matching term; construct it with "
                             "sample_matching='mmd' (for example).")
        if step is None:
            if self.g_optimizer is None:
                raise RuntimeError("call compile() first, or pass `step`.")
            step = self.g_optimizer.iterations
        weight = self.sample_matching_weight_at(step)
        if self.sample_matching_size is not None:
            real = real[: self.sample_matching_size]
            fake = fake[: self.sample_matching_size]

        # NOTE: D is computed even at weight 0. A tf.cond that skips it does
        # not compile under XLA, because D's tiled while loop inside a
        # differentiated cond needs an op that XLA lacks (FakeParam).
        value = self.sample_matching.generator_loss(None, tf.cast(real, tf.float32),
                                                    tf.cast(fake, tf.float32))
        return weight * tf.cast(value, tf.float32)

    def channel_independence_loss(self, fake: tf.Tensor) -> tf.Tensor:
        """Returns the channel-independence term v D(G, S) of the generator loss, float32.

        Args:
          fake: generated samples G [b, ..., C]. S rolls channel c of G by c
            rows along the batch axis (see the class docstring).

        Raises:
          ValueError: the model has no `channel_independence`.
        """
        if self.channel_independence is None:
            raise ValueError("this model has no channel-independence term; construct it with "
                             "channel_independence='mmd' (for example).")
        fake = tf.cast(fake, tf.float32)
        shuffled = roll_channels(fake)
        value = self.channel_independence.generator_loss(None, shuffled, fake)
        return self.channel_independence_weight * tf.cast(value, tf.float32)

    def train_step(self, data):
        step_seed = tf.identity(self.seed_state.value)

        if self.critic is not None:
            for index in range(self.critic_steps):
                critic_terms = self.critic_step(data, _fold(step_seed, index))
            self._trackers["critic_loss"].update_state(critic_terms["loss"])
            for name, value in critic_terms.items():
                if name != "loss" and name in self._trackers:
                    self._trackers[name].update_state(value)

        generator_terms = self.generator_step(data, _fold(step_seed, self.critic_steps))
        if self._ema_pairs:
            self._update_ema()
        self._trackers["generator_loss"].update_state(generator_terms["loss"])
        for name, value in generator_terms.items():
            if name != "loss" and name in self._trackers:
                self._trackers[name].update_state(value)

        self.seed_state.assign_add(tf.constant([0, 1], dtype=tf.int64))
        logs = {name: tracker.result() for name, tracker in self._trackers.items()}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces logs across workers with a mean over axis 0,
            # which fails for scalars; shape [1] reduces to the same scalar.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    @property
    def step(self) -> int:
        """Number of generator updates so far, as stored in the seed state."""
        return int(self.seed_state.numpy()[1])

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        *,
        batch_size: int = 64,
        epochs: int = 1,
        steps_per_epoch: int | None = None,
        callbacks: Sequence[keras.callbacks.Callback] | None = None,
        verbose: Any = "auto",
        check_finite: bool = True,
        **kwargs,
    ):
        """Trains on an array of real samples or a `tf.data.Dataset` of batches.

        Arrays: each pass over the data is a fresh permutation of the rows,
        chosen by the model's seed and the pass number, and the last short
        batch of a pass is dropped. The data order is thus a function of the
        step count, so `fit` on a model restored at step s continues exactly
        where the original run was, and `epochs` counts from step 0 (a model at step s
        runs the remaining steps up to `epochs * steps_per_epoch`).

        Array samples are converted to float32, the dtype of the networks'
        variables (float64 data lose precision beyond about 7 digits).

        Datasets (including distributed datasets): passed to keras.Model.fit
        as they are; exact resumption then depends on the dataset's own order.

        Args:
          x: real samples [n, ...] or a dataset yielding batches (or
            (batch, label) pairs).
          y: integer class labels [n] for arrays, used by `ConditionalGAN`.
          batch_size: samples per step, for arrays.
          epochs: number of epochs, counted from step 0 for arrays.
          steps_per_epoch: generator updates per epoch; for arrays the default
            is n // batch_size.
          callbacks: Keras callbacks, for example those of `discrepancy.gans`.
          verbose: as for keras.Model.fit.
          check_finite: stop at the first step whose logged losses are NaN
            or inf, by raising `TrainingDivergedError`. It costs one read of
            the logs per call of the train function.
          **kwargs: passed to keras.Model.fit.

        Returns:
          The Keras History of the last fit call.

        Raises:
          TrainingDivergedError: with `check_finite`, a loss became NaN or
            inf. The model is left at that step, with weights that are not
            finite.
        """
        if self.g_optimizer is None:
            self.compile()
        callbacks = list(callbacks or [])
        if check_finite:
            # First in the list, so it raises before a checkpoint callback saves.
            callbacks.insert(0, _StopOnNonFiniteLoss())

        # Optimizer slots made here must belong to the model's strategy, so
        # users need not call fit() inside strategy.scope().
        with self.distribute_strategy.scope():
            self.build_networks()

        if x is None or isinstance(x, (tf.data.Dataset, tf.distribute.DistributedDataset)):
            return super().fit(x, epochs=epochs, steps_per_epoch=steps_per_epoch,
                               callbacks=callbacks, verbose=verbose, shuffle=False, **kwargs)

        real = _as_training_array(x, self.sample_shape)
        arrays = (real,)
        if y is not None:
            labels = np.asarray(y)
            if labels.dtype.kind not in "iu" or labels.shape != (real.shape[0],):
                raise ValueError(
                    f"`y` must be integer labels of shape [{real.shape[0]}] (one per sample), got "
                    f"dtype {labels.dtype} and shape {list(labels.shape)}."
                )
            arrays = (real, labels.astype(np.int64))
        batch_size = _validation.as_int(batch_size, "batch_size", minimum=1)
        if batch_size % self.pack:
            raise ValueError(f"`batch_size` ({batch_size}) must be a multiple of pack ({self.pack}).")
        if real.shape[0] < batch_size:
            raise ValueError(
                f"`x` has {real.shape[0]} samples, fewer than batch_size={batch_size}; "
                "pass more samples or a smaller batch_size."
            )
        per_epoch = steps_per_epoch or real.shape[0] // batch_size
        per_epoch = _validation.as_int(per_epoch, "steps_per_epoch", minimum=1)
        epochs = _validation.as_int(epochs, "epochs", minimum=1)

        start = self.step
        target = epochs * per_epoch
        if start >= target:
            logger.info("model is at step %d, already at or past %d steps; nothing to do", start, target)
            return None

        history = None
        first_epoch = start // per_epoch
        remainder = start % per_epoch
        if remainder:
            # Finish the interrupted epoch first, so later epochs line up with
            # an uninterrupted run.
            dataset = self._array_batches(arrays, batch_size, start)
            history = super().fit(dataset, epochs=first_epoch + 1, initial_epoch=first_epoch,
                                  steps_per_epoch=per_epoch - remainder, callbacks=callbacks,
                                  verbose=verbose, shuffle=False, **kwargs)
            first_epoch += 1
        if first_epoch < epochs:
            dataset = self._array_batches(arrays, batch_size, first_epoch * per_epoch)
            history = super().fit(dataset, epochs=epochs, initial_epoch=first_epoch,
                                  steps_per_epoch=per_epoch, callbacks=callbacks,
                                  verbose=verbose, shuffle=False, **kwargs)
        return history

    def _array_batches(self, arrays: tuple[np.ndarray, ...], batch_size: int, start: int):
        """Returns the endless dataset of batches from step `start` on.

        Step s belongs to pass e = s // (n // batch_size) over the data and is
        its batch i = s % (n // batch_size), which contains rows
        pi_e(i * batch_size), ..., where pi_e is
        the permutation `tf.random.experimental.index_shuffle` draws from a
        seed derived from `initial_seed` and e. With several arrays (samples
        and labels) every array contributes the same rows.
        """
        data = tuple(tf.constant(array) for array in arrays)
        count = arrays[0].shape[0]
        base_seed = _fold(tf.constant([self.initial_seed, 0], tf.int64), _EXTRA)

        # Data epochs (passes over the rows) are independent of the Keras
        # epochs, whose length `steps_per_epoch` only sets how often
        # callbacks run.
        batches_per_pass = count // batch_size

        def batch_for_step(step):
            epoch = step // batches_per_pass
            position = step % batches_per_pass
            positions = position * batch_size + tf.range(batch_size, dtype=tf.int64)
            permutation_seed = tf.random.experimental.stateless_fold_in(base_seed, epoch)
            rows = tf.random.experimental.index_shuffle(positions, permutation_seed, count - 1)
            batch = tuple(tf.gather(array, rows) for array in data)
            return batch if len(batch) > 1 else batch[0]

        steps = tf.data.Dataset.range(start, np.iinfo(np.int64).max)
        return steps.map(batch_for_step, num_parallel_calls=1, deterministic=True).prefetch(2)

    def settings(self) -> dict[str, Any]:
        """Returns the model's training settings as JSON-ready values."""
        return {
            "divergence": self.objective.settings(),
            "critic_steps": self.critic_steps,
            "pack": self.pack,
            "latent_dim": self.latent_dim,
            "noise": self.noise,
            "seed": self.initial_seed,
            "sample_shape": list(self.sample_shape),
            "ema_decay": self.ema_decay,
            "sample_matching": _matching_settings(self),
            "channel_independence": None if self.channel_independence is None else {
                "divergence": self.channel_independence.settings(),
                "weight": self.channel_independence_weight},
        }


def roll_channels(samples: tf.Tensor) -> tf.Tensor:
    """Rolls channel c (the last axis) of a batch by c rows along the batch axis.

    Row i of the result contains channel c of row i - c (modulo the batch
    size). With independent rows and a batch of at least C rows, every
    result row joins channels of C different samples, so it is a draw from
    the product of the channels' distributions.
    """
    channels = tf.unstack(samples, axis=-1)
    rolled = [tf.roll(channel, shift=index, axis=0) for index, channel in enumerate(channels)]
    return tf.stack(rolled, axis=-1)


def _check_ema_decay(ema_decay: Any) -> float | None:
    """Validates `ema_decay`: None or a float in [0, 1)."""
    if ema_decay is None:
        return None
    decay = _validation.as_float(ema_decay, "ema_decay")
    if not 0.0 <= decay < 1.0:
        raise ValueError(
            f"`ema_decay` must be in [0, 1), got {ema_decay!r}; typical values are 0.99 to 0.9999 "
            "(an average over about 1 / (1 - ema_decay) steps), or None for no average."
        )
    return decay


def _check_sample_matching(sample_matching: Any, argument: str = "sample_matching"):
    """Validates `sample_matching` (or `argument`): None, or a discrepancy objective on raw samples."""
    if sample_matching is None:
        return None
    objective = _objectives.resolve_objective(sample_matching)
    if not isinstance(objective, _objectives._SampleDiscrepancyObjective) or objective.on != "samples":
        raise ValueError(
            f"`{argument}` must be a discrepancy on raw samples ('mmd', 'energy', "
            f"'sinkhorn', or their objectives with on='samples'), got {sample_matching!r}; "
            "the critic-based game belongs in `divergence`."
        )
    return objective


def _check_matching_weight(
    weight: Any, decay_steps: Any, final_weight: Any
) -> tuple[Any, int | None, float]:
    """Validates the weight, decay steps and final weight of the sample-matching term."""
    final_weight = _validation.as_float(final_weight, "sample_matching_final_weight", minimum=0.0)
    if callable(weight):
        if decay_steps is not None or final_weight:
            raise ValueError(
                f"`sample_matching_decay_steps` ({decay_steps!r}) and `sample_matching_final_weight` "
                f"({final_weight!r}) apply to a float weight. A callable `sample_matching_weight` is "
                "its own schedule, so pass one or the other."
            )
        return weight, None, 0.0
    weight = _validation.as_float(weight, "sample_matching_weight", minimum=0.0)
    if decay_steps is not None:
        decay_steps = _validation.as_int(decay_steps, "sample_matching_decay_steps", minimum=1)
    elif final_weight:
        raise ValueError(
            f"`sample_matching_final_weight` ({final_weight!r}) is the weight reached after the "
            "decay, but `sample_matching_decay_steps` is None; pass the number of decay steps."
        )
    return weight, decay_steps, final_weight


def _matching_settings(model) -> dict[str, Any] | None:
    """Returns the sample-matching settings of a model as JSON-ready values."""
    if model.sample_matching is None:
        return None
    weight = model.sample_matching_weight
    if callable(weight):
        config = getattr(weight, "get_config", None)
        weight = {"schedule": type(weight).__name__, **(config() if config else {})}
    return {"divergence": model.sample_matching.settings(), "weight": weight,
            "decay_steps": model.sample_matching_decay_steps,
            "final_weight": model.sample_matching_final_weight, "size": model.sample_matching_size}


def _input_shape(model) -> tuple | None:
    """Returns a model's input shape without the batch axis, or None when unknown."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):
        return None
    return tuple(shape[1:]) if shape and shape[-1] is not None else None


def _loss_scaled(optimizer):
    """Wraps an optimizer in a dynamic LossScaleOptimizer unless it already is one."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def _as_training_array(x: Any, sample_shape: Sequence[int]) -> np.ndarray:
    """Validates real samples for training and returns them as float32 NumPy."""
    array = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"`x` must be numeric real samples, got dtype {array.dtype}.")
    if tuple(array.shape[1:]) != tuple(sample_shape):
        raise ValueError(
            f"`x` must have shape [n, {', '.join(str(s) for s in sample_shape)}] to match the "
            f"generator's output, got shape {list(array.shape)}."
        )
    if not np.isfinite(array).all():
        raise ValueError("`x` contains NaN or inf values; remove or impute those samples first.")
    return array.astype(np.float32)

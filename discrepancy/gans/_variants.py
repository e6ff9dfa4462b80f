"""GAN variants: conditional (labels), InfoGAN (latent codes) and VEEGAN (reconstructor).

Each variant keeps the base class's step structure, noise handling,
checkpoints and distribution support, and changes only what its paper
changes: the networks' inputs and extra loss terms (ConditionalGAN, InfoGAN),
or the game itself (VEEGAN).
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from discrepancy import _validation
from discrepancy.gans import _networks, _objectives
from discrepancy.gans._gan import GAN, _fold
from discrepancy.gans._replicas import draw_replica_slice, replica_info

__all__ = ["ConditionalGAN", "InfoGAN", "VEEGAN"]

# Tags folded into a step seed for the variants' own draws.
_CODES, _CONTINUOUS = 11, 12


def _append_condition(samples: tf.Tensor, condition: tf.Tensor) -> tf.Tensor:
    """Appends a per-sample vector [b, k] along the last axis (as constant channels for images)."""
    condition = tf.cast(condition, samples.dtype)
    if samples.shape.rank == 2:
        return tf.concat([samples, condition], axis=-1)
    spatial = tf.shape(samples)[1:-1]
    expanded = tf.reshape(condition, tf.concat([[tf.shape(condition)[0]], tf.ones_like(spatial), [-1]], 0))
    tiled = tf.tile(expanded, tf.concat([[1], spatial, [1]], 0))
    return tf.concat([samples, tiled], axis=-1)


class ConditionalGAN(GAN):
    """A GAN whose generator and critic both see a class label (Mirza and Osindero 2014).

    The generator maps [noise, one_hot(label)] to a sample of that class. The
    critic sees the label in one of two ways:

      * "concatenate" (Mirza and Osindero, "Conditional generative adversarial
        nets", 2014): one_hot(label) is appended to the critic's input (as
        constant channels for images), and the critic outputs one value;
      * "projection" (Miyato and Koyama, "cGANs with projection
        discriminator", ICLR 2018): the critic maps a sample to features
        phi(x) [b, k], and the output is w . phi(x) + embed(label) . phi(x),
        with the linear head w and the class embedding owned by this model.

    Each fake batch uses the labels of the real batch it is compared with,
    so the generated class frequencies follow the data. Train with
    `fit(x, y=labels)` or a dataset of (samples, labels) pairs.

    Args:
      generator: maps [b, latent_dim + num_classes] to samples; None builds
        the default network.
      critic: see `conditioning`; None builds the default network.
      num_classes: number of labels.
      conditioning: "concatenate" or "projection".
      projection_features: k, the feature size of the default critic for
        "projection"; a given critic's own output size is used otherwise.
      **kwargs: as for `GAN` (divergence, latent_dim, sample_shape,
        critic_steps, noise, seed, name). Packing is not supported.
    """

    def __init__(self, generator=None, critic=None, *, num_classes: int, conditioning: str = "concatenate",
                 latent_dim: int | None = None, sample_shape: Sequence[int] | None = None,
                 projection_features: int = 32, **kwargs):
        if kwargs.get("pack", 1) != 1:
            raise ValueError("ConditionalGAN does not support pack > 1; pass pack=1.")
        self.num_classes = _validation.as_int(num_classes, "num_classes", minimum=2)
        self.conditioning = _validation.check_option(conditioning, "conditioning", ("concatenate", "projection"))

        if generator is None:
            if sample_shape is None:
                raise ValueError("`sample_shape` is required when `generator` is None.")
            latent_dim = latent_dim or (16 if len(sample_shape) == 1 else 32)
            generator, _, _ = _networks.default_networks(sample_shape, latent_dim=latent_dim + self.num_classes)
        if critic is None:
            if sample_shape is None:
                raise ValueError("`sample_shape` is required when `critic` is None.")
            outputs = projection_features if conditioning == "projection" else 1
            _, critic, _ = _networks.default_networks(sample_shape, critic_outputs=outputs)

        # The generator's input is [noise, one_hot(label)], so its input size
        # is latent_dim + num_classes.
        if latent_dim is None:
            shape = generator.input_shape
            latent_dim = int(shape[-1]) - self.num_classes
        super().__init__(generator, critic, latent_dim=latent_dim, sample_shape=sample_shape, **kwargs)

        # The projection layers are created in build_networks, once the
        # critic's feature size is known.
        self.linear_head = None
        self.class_embedding = None

    def _resolve_networks(self, generator, critic, latent_dim, sample_shape):
        if sample_shape is None:
            noise = tf.zeros([1, latent_dim + self.num_classes])
            sample_shape = tuple(int(s) for s in generator(noise).shape[1:])
        return generator, critic, latent_dim, tuple(sample_shape)

    @staticmethod
    def labels_of(data) -> tf.Tensor:
        """Returns the labels of a (samples, labels) batch."""
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError("ConditionalGAN trains on (samples, labels): call fit(x, y=labels).")
        return tf.cast(tf.reshape(data[1], [-1]), tf.int32)

    def conditioned_generator(self, noise, labels, training=False):
        """Generates samples of the given classes from noise."""
        one_hot = tf.one_hot(labels, self.num_classes, dtype=noise.dtype)
        return self.generator(tf.concat([noise, one_hot], axis=-1), training=training)

    def fake_batch(self, data, seed, training=True):
        labels = self.labels_of(data)
        noise = self.draw_noise(tf.shape(labels)[0], seed)
        return self.conditioned_generator(noise, labels, training=training), {}

    def critic_function(self, data):
        labels = self.labels_of(data)
        one_hot = tf.one_hot(labels, self.num_classes)

        if self.conditioning == "concatenate":
            def conditioned(samples, training=True):
                return self.critic(_append_condition(samples, one_hot), training=training)
        else:
            def conditioned(samples, training=True):
                features = tf.cast(self.critic(samples, training=training), tf.float32)
                features = tf.reshape(features, [tf.shape(features)[0], -1])
                projection = tf.reduce_sum(self.class_embedding(labels) * features, axis=-1, keepdims=True)
                return self.linear_head(features) + projection
        return conditioned

    def critic_variables(self):
        variables = list(self.critic.trainable_variables)
        if self.conditioning == "projection":
            variables += self.linear_head.trainable_variables + self.class_embedding.trainable_variables
        return variables

    def build_networks(self):
        if self.g_optimizer is None:
            raise RuntimeError("call compile() before build_networks() or fit().")
        labels = tf.zeros([1], tf.int32)
        fake = tf.cast(self.conditioned_generator(tf.zeros([1, self.latent_dim]), labels), tf.float32)
        if self.conditioning == "projection" and self.class_embedding is None:
            features = int(np.prod(self.critic(fake, training=False).shape[1:]))
            self.linear_head = keras.layers.Dense(1, dtype="float32", name="projection_head")
            self.class_embedding = keras.layers.Embedding(self.num_classes, features, dtype="float32",
                                                          name="class_embedding")
        self.critic_function((fake, labels))(fake, training=False)
        self.g_optimizer.build(self.generator_variables())
        self.d_optimizer.build(self.critic_variables())
        self.build_ema()
        self.built = True

    def extra_networks(self) -> dict[str, keras.layers.Layer]:
        """Returns the layers besides generator and critic that checkpoints must hold."""
        if self.conditioning == "projection":
            return {"linear_head": self.linear_head, "class_embedding": self.class_embedding}
        return {}

    def generate(self, num_samples: int, *, labels=None, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
        """Returns generated samples for `labels` ([num_samples] ints; uniform over classes if None).

        Samples come from the averaged generator weights when the model keeps them (`ema_decay`).
        """
        num_samples = _validation.as_int(num_samples, "num_samples", minimum=1)
        if labels is None:
            labels = np.arange(num_samples) % self.num_classes
        labels = np.asarray(labels, dtype=np.int32)
        if labels.shape != (num_samples,) or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"`labels` must be {num_samples} integers in [0, {self.num_classes}).")
        base = _validation.as_seed(seed)
        chunks = []
        with self.ema_weights_loaded():
            for start in range(0, num_samples, batch_size):
                size = min(batch_size, num_samples - start)
                noise = self._noise_for_sampling(size, _fold(base, start))
                chunks.append(np.asarray(
                    self.conditioned_generator(noise, labels[start:start + size], training=False), np.float32))
        return np.concatenate(chunks, axis=0)

    def per_class_mode_coverage(self, modes, *, samples_per_class: int = 500, seed: int = 0,
                                class_modes: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Scores mode coverage separately for each class.

        Args:
          modes: a `MixtureSample` whose modes are scored.
          samples_per_class: samples generated per class.
          seed: noise seed.
          class_modes: the mode index each class should produce (class k
            -> mode k when the labels are the mixture's labels); adds the
            fraction of each class's samples that land, high quality, on it.

        Returns:
          One dict per class: modes_captured, high_quality_fraction, mode_kl,
          and on_target_fraction when `class_modes` is given.
        """
        from discrepancy.metrics import mode_coverage

        results = []
        for label in range(self.num_classes):
            samples = self.generate(samples_per_class, labels=np.full(samples_per_class, label), seed=seed + label)
            flat = samples.reshape(samples_per_class, -1).astype(np.float64)
            coverage = mode_coverage(flat, modes.means, modes.stds, threshold=modes.high_quality_threshold)
            entry = {"label": label, "modes_captured": int(coverage.modes_captured),
                     "high_quality_fraction": float(coverage.high_quality_fraction),
                     "mode_kl": float(coverage.kl)}
            if class_modes is not None:
                high_quality = coverage.distances <= coverage.threshold
                on_target = (coverage.assignments == class_modes[label]) & high_quality
                entry["on_target_fraction"] = float(np.mean(on_target))
            results.append(entry)
        return results


class InfoGAN(GAN):
    """InfoGAN (Chen et al., "InfoGAN: Interpretable representation learning by information
    maximizing generative adversarial nets", NeurIPS 2016).

    The generator's input is [z, one_hot(c), u]: noise z, a categorical code c
    uniform over `num_categories` values, and `num_continuous` continuous
    codes u ~ U(-1, 1). A head Q on the critic's features predicts the codes
    of generated samples, and both networks minimise the variational bound on
    -I(c, u; G(z, c, u)) up to constants:

        L_I = CE(c, Q_c(G)) + continuous_weight * 0.5 * ||u - Q_u(G)||^2,

    the cross entropy of the categorical code plus the log density of a
    unit-variance Gaussian for the continuous codes (the fixed-variance form
    of the paper's factored Gaussian). The penalty is info_weight * L_I.

    The critic maps samples to features [b, k]; this model adds the linear
    head for the discrepancy and the Q head on those features.

    Args:
      generator: maps [b, latent_dim + num_categories + num_continuous] to
        samples; None builds the default network.
      critic: maps samples to features [b, k]; None builds the default one.
      num_categories: size of the categorical code (0 for none).
      num_continuous: number of continuous codes.
      info_weight: lambda of the mutual-information penalty (1 in the paper
        for discrete codes).
      continuous_weight: relative weight of the continuous codes' term.
      features: k of the default critic.
      **kwargs: as for `GAN`. Packing is not supported.
    """

    def __init__(self, generator=None, critic=None, *, num_categories: int = 10, num_continuous: int = 2,
                 info_weight: float = 1.0, continuous_weight: float = 0.1, latent_dim: int | None = None,
                 sample_shape: Sequence[int] | None = None, features: int = 32, **kwargs):
        if kwargs.get("pack", 1) != 1:
            raise ValueError("InfoGAN does not support pack > 1; pass pack=1.")
        self.num_categories = _validation.as_int(num_categories, "num_categories", minimum=0)
        self.num_continuous = _validation.as_int(num_continuous, "num_continuous", minimum=0)
        if self.num_categories + self.num_continuous == 0:
            raise ValueError("InfoGAN needs at least one code: num_categories or num_continuous > 0.")
        self.info_weight = _validation.as_float(info_weight, "info_weight", minimum=0.0)
        self.continuous_weight = _validation.as_float(continuous_weight, "continuous_weight", minimum=0.0)
        code_size = self.num_categories + self.num_continuous

        if generator is None:
            if sample_shape is None:
                raise ValueError("`sample_shape` is required when `generator` is None.")
            latent_dim = latent_dim or (16 if len(sample_shape) == 1 else 32)
            generator, _, _ = _networks.default_networks(sample_shape, latent_dim=latent_dim + code_size)
        if critic is None:
            if sample_shape is None:
                raise ValueError("`sample_shape` is required when `critic` is None.")
            _, critic, _ = _networks.default_networks(sample_shape, critic_outputs=features)
        if latent_dim is None:
            latent_dim = int(generator.input_shape[-1]) - code_size
        self._code_size = code_size
        super().__init__(generator, critic, latent_dim=latent_dim, sample_shape=sample_shape, **kwargs)

        self.discrepancy_head = keras.layers.Dense(1, dtype="float32", name="discrepancy_head")
        self.code_head = keras.layers.Dense(code_size, dtype="float32", name="code_head")

    def _resolve_networks(self, generator, critic, latent_dim, sample_shape):
        if sample_shape is None:
            sample_shape = tuple(int(s) for s in generator(tf.zeros([1, latent_dim + self._code_size])).shape[1:])
        return generator, critic, latent_dim, tuple(sample_shape)

    def draw_codes(self, batch_size, seed) -> tuple[tf.Tensor, tf.Tensor]:
        """Draws (categorical codes [b] int32, continuous codes [b, num_continuous])."""
        categories = tf.zeros([batch_size], tf.int32)
        if self.num_categories:
            categories = draw_replica_slice(
                lambda shape, s: tf.random.stateless_uniform(shape, seed=s, maxval=self.num_categories,
                                                             dtype=tf.int32),
                [batch_size], _fold(seed, _CODES))
        continuous = draw_replica_slice(
            lambda shape, s: tf.random.stateless_uniform(shape, seed=s, minval=-1.0, maxval=1.0),
            [batch_size, self.num_continuous], _fold(seed, _CONTINUOUS))
        return categories, continuous

    def coded_generator(self, noise, categories, continuous, training=False):
        """Generates samples from noise and codes."""
        parts = [noise]
        if self.num_categories:
            parts.append(tf.one_hot(categories, self.num_categories, dtype=noise.dtype))
        parts.append(tf.cast(continuous, noise.dtype))
        return self.generator(tf.concat(parts, axis=-1), training=training)

    def fake_batch(self, data, seed, training=True):
        batch = tf.shape(self.real_samples(data))[0]
        noise = self.draw_noise(batch, seed)
        categories, continuous = self.draw_codes(batch, seed)
        fake = self.coded_generator(noise, categories, continuous, training=training)
        return fake, {"categories": categories, "continuous": continuous}

    def _features(self, samples, training=True):
        features = tf.cast(self.critic(samples, training=training), tf.float32)
        return tf.reshape(features, [tf.shape(features)[0], -1])

    def critic_function(self, data):
        del data

        def scored(samples, training=True):
            return self.discrepancy_head(self._features(samples, training=training))
        return scored

    def information_loss(self, fake, context) -> tf.Tensor:
        """Returns L_I for generated samples and the codes they were generated from."""
        predicted = self.code_head(self._features(tf.cast(fake, tf.float32)))
        loss = tf.zeros([], tf.float32)
        if self.num_categories:
            logits = predicted[:, :self.num_categories]
            loss += tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=context["categories"], logits=logits))
        if self.num_continuous:
            means = predicted[:, self.num_categories:]
            squared = tf.reduce_sum(tf.square(context["continuous"] - means), axis=-1)
            loss += self.continuous_weight * 0.5 * tf.reduce_mean(squared)
        return loss

    def extra_critic_terms(self, data, fake, context):
        return {"information_penalty": self.info_weight * self.information_loss(fake, context)}

    def extra_generator_terms(self, data, fake, context):
        return {"information_penalty": self.info_weight * self.information_loss(fake, context)}

    def metric_names(self):
        return super().metric_names() + ["information_penalty"]

    def critic_variables(self):
        return (list(self.critic.trainable_variables) + self.discrepancy_head.trainable_variables
                + self.code_head.trainable_variables)

    def build_networks(self):
        if self.g_optimizer is None:
            raise RuntimeError("call compile() before build_networks() or fit().")
        categories, continuous = tf.zeros([1], tf.int32), tf.zeros([1, self.num_continuous])
        fake = tf.cast(self.coded_generator(tf.zeros([1, self.latent_dim]), categories, continuous), tf.float32)
        self.critic_function(None)(fake, training=False)
        self.code_head(self._features(fake, training=False))
        self.g_optimizer.build(self.generator_variables())
        self.d_optimizer.build(self.critic_variables())
        self.build_ema()
        self.built = True

    def extra_networks(self):
        return {"discrepancy_head": self.discrepancy_head, "code_head": self.code_head}

    def generate(self, num_samples: int, *, categories=None, continuous=None, seed: int = 0,
                 batch_size: int = 1024) -> np.ndarray:
        """Returns generated samples; codes not given are drawn from `seed` like in training.

        Samples come from the averaged generator weights when the model keeps them (`ema_decay`).

        Args:
          num_samples: number of samples.
          categories: categorical codes [num_samples] in [0, num_categories), or None.
          continuous: continuous codes [num_samples, num_continuous], or None.
          seed: seed of the noise and of the codes not given.
          batch_size: samples per generator call.
        """
        num_samples = _validation.as_int(num_samples, "num_samples", minimum=1)
        base = _validation.as_seed(seed)
        drawn_categories, drawn_continuous = self.draw_codes(num_samples, _fold(base, _CODES))
        if categories is None:
            categories = drawn_categories.numpy()
        categories = np.asarray(categories, dtype=np.int32)
        if continuous is None:
            continuous = drawn_continuous.numpy()
        continuous = np.asarray(continuous, dtype=np.float32)
        if categories.shape != (num_samples,) or continuous.shape != (num_samples, self.num_continuous):
            raise ValueError(
                f"`categories` must have shape [{num_samples}] and `continuous` shape "
                f"[{num_samples}, {self.num_continuous}], got {list(categories.shape)} and "
                f"{list(continuous.shape)}."
            )

        chunks = []
        with self.ema_weights_loaded():
            for start in range(0, num_samples, batch_size):
                stop = min(num_samples, start + batch_size)
                noise = self._noise_for_sampling(stop - start, _fold(base, start))
                chunks.append(np.asarray(self.coded_generator(
                    noise, categories[start:stop], continuous[start:stop], training=False), np.float32))
        return np.concatenate(chunks, axis=0)

    def predict_codes(self, samples) -> tuple[np.ndarray, np.ndarray]:
        """Returns Q's (categorical code probabilities [n, C], continuous code means [n, K])."""
        predicted = self.code_head(self._features(tf.convert_to_tensor(samples, tf.float32), training=False))
        probabilities = tf.nn.softmax(predicted[:, :self.num_categories]) if self.num_categories else \
            tf.zeros([tf.shape(predicted)[0], 0])
        return probabilities.numpy(), predicted[:, self.num_categories:].numpy()


class VEEGAN(GAN):
    """VEEGAN (Srivastava et al., "VEEGAN: Reducing mode collapse in GANs using implicit
    variational learning", NeurIPS 2017).

    A reconstructor F maps data back to noise. The critic D sees (z, x)
    pairs and is trained, with the `gan` f-divergence's logistic loss, to
    tell generated pairs (z, G(z)), z ~ N(0, I), from data pairs (F(x), x).
    Following the paper's algorithm 1, with d the squared Euclidean distance
    in z-space:

      * the critic maximises the variational bound between the two joint
        distributions (f-GAN game of `divergence`, "gan" by default);
      * the reconstructor minimises (1/N) sum d(z_i, F(G(z_i)));
      * the generator minimises (1/N) sum v(z_i, G(z_i)) + (1/N) sum d(z_i, F(G(z_i))),
        where v is the critic's logit with data pairs as the positive class,
        so -v estimates log q(z, x) / p(z, x) and its mean over generated
        pairs the KL divergence that the paper's bound contains.

    The generator and reconstructor share `g_optimizer`.

    Args:
      generator: maps noise [b, latent_dim] to samples; None builds the default.
      reconstructor: maps samples to noise [b, latent_dim]; None builds an
        MLP on the flattened sample.
      critic: maps [b, latent_dim + prod(sample_shape)] pairs (noise, flattened
        sample) to one logit; None builds the default MLP.
      reconstruction_weight: weight of the z-space autoencoder loss (1 in the paper).
      sample_scale: factor applied to the flattened sample in the critic's
        (noise, sample) input, 1 (the paper's) by default. Choose it so that
        the sample's coordinates spread about as widely as the noise's
        (about 1). The generator and the reconstructor still see the data at
        its own scale.
      **kwargs: as for `GAN`; `divergence` must be an f-divergence ("gan" by
        default). Packing is not supported.

    NOTE: keep `latent_dim` near the intrinsic dimension of the data. With
    far more noise dimensions, F(x) fills only a thin part of the noise
    space, the critic separates the pairs by their noise alone and
    saturates, and the generator gets no useful gradient. On the 2-D 8-mode
    ring, 16-D noise captured 0 modes in 12000 steps and 2-D noise all 8
    (one seed each).

    NOTE: keep the two halves of the critic's input on comparable scales.
    When the sample's coordinates are much smaller than the noise's, the
    critic separates the pairs by their noise half, and the generator's
    gradient, which flows through the sample half, carries little about the
    data. On a 1200-D ring whose coordinates are about 0.03, 2-D noise put
    no sample on a mode in 4000 steps (three seeds). With `sample_scale=30`
    62 % of the samples landed on a mode, but on only 2 or 3 of the 10
    modes (three seeds), so VEEGAN still collapses there.
    """

    def __init__(self, generator=None, critic=None, reconstructor=None, *, reconstruction_weight: float = 1.0,
                 sample_scale: float = 1.0, divergence: Any = "gan", latent_dim: int | None = None,
                 sample_shape: Sequence[int] | None = None, **kwargs):
        if kwargs.get("pack", 1) != 1:
            raise ValueError("VEEGAN does not support pack > 1; pass pack=1.")
        objective = _objectives.resolve_objective(divergence)
        if not isinstance(objective, _objectives.FGANObjective):
            raise ValueError(f"VEEGAN's critic plays an f-GAN game; `divergence` must be an f-divergence, "
                             f"got {divergence!r}.")
        self.reconstruction_weight = _validation.as_float(reconstruction_weight, "reconstruction_weight",
                                                          minimum=0.0)
        self.sample_scale = _validation.as_float(sample_scale, "sample_scale", positive=True)
        if critic is None:
            critic = _networks.mlp_critic()
        super().__init__(generator, critic, divergence=objective, latent_dim=latent_dim,
                         sample_shape=sample_shape, **kwargs)
        if reconstructor is None:
            reconstructor = keras.Sequential(
                [keras.layers.Flatten()]
                + [keras.layers.Dense(128, activation="relu") for _ in range(2)]
                + [keras.layers.Dense(self.latent_dim, dtype="float32")],
                name="reconstructor",
            )
        self.reconstructor = reconstructor

    @staticmethod
    def pairs(noise, samples, sample_scale: float = 1.0) -> tf.Tensor:
        """Returns critic inputs [b, latent_dim + prod(sample_shape)]: noise beside the scaled, flattened sample."""
        flat = tf.reshape(tf.cast(samples, tf.float32), [tf.shape(samples)[0], -1])
        return tf.concat([tf.cast(noise, tf.float32), sample_scale * flat], axis=-1)

    def critic_pairs(self, noise, samples) -> tf.Tensor:
        """Returns the critic's inputs for (noise, sample) pairs, with this model's `sample_scale`."""
        return self.pairs(noise, samples, self.sample_scale)

    def reconstruction_loss(self, noise, fake) -> tf.Tensor:
        """Returns (1/N) sum ||z_i - F(G(z_i))||^2."""
        rebuilt = tf.cast(self.reconstructor(fake, training=True), tf.float32)
        return tf.reduce_mean(tf.reduce_sum(tf.square(noise - rebuilt), axis=-1))

    def critic_step(self, data, seed):
        replicas, _ = replica_info()
        real = tf.cast(self.real_samples(data), tf.float32)
        noise = self.draw_noise(tf.shape(real)[0], seed)
        fake = self.generator(noise, training=True)
        data_pairs = self.critic_pairs(self.reconstructor(real, training=True), real)
        generated_pairs = self.critic_pairs(noise, fake)

        with tf.GradientTape() as tape:
            terms = dict(self.objective.critic_loss(self.critic, data_pairs, generated_pairs,
                                                    seed=_fold(seed, 1), loss_scale=None))
            scaled = self.d_optimizer.scale_loss(terms["loss"] / replicas)
        self._apply(self.d_optimizer, tape, scaled, self.critic.trainable_variables)
        return terms

    def generator_step(self, data, seed):
        replicas, _ = replica_info()
        noise = self.draw_noise(tf.shape(self.real_samples(data))[0], seed)

        with tf.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            logits = tf.cast(self.critic(self.critic_pairs(noise, fake), training=True), tf.float32)
            adversarial = tf.reduce_mean(logits)
            reconstruction = self.reconstruction_loss(noise, fake)
            terms = {"loss": -adversarial + self.reconstruction_weight * reconstruction,
                     "reconstruction_loss": reconstruction}
            for name, value in self.regularizer_terms(self.real_samples(data), fake).items():
                terms["loss"] = terms["loss"] + value
                terms[name] = value
            scaled = self.g_optimizer.scale_loss(terms["loss"] / replicas)
        self._apply(self.g_optimizer, tape, scaled, self.generator_variables())
        return terms

    def generator_variables(self):
        return self.generator.trainable_variables + self.reconstructor.trainable_variables

    def metric_names(self):
        return super().metric_names() + ["reconstruction_loss"]

    def build_networks(self):
        if self.g_optimizer is None:
            raise RuntimeError("call compile() before build_networks() or fit().")
        noise = tf.zeros([1, self.latent_dim])
        fake = tf.cast(self.generator(noise, training=False), tf.float32)
        self.reconstructor(fake, training=False)
        self.critic(self.critic_pairs(noise, fake), training=False)
        self.g_optimizer.build(self.generator_variables())
        self.d_optimizer.build(self.critic.trainable_variables)
        self.build_ema()
        self.built = True

    def extra_networks(self):
        return {"reconstructor": self.reconstructor}

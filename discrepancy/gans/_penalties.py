"""Lipschitz constraints for critics: the gradient penalty and spectral normalisation.

The gradient penalty (Gulrajani et al., "Improved training of Wasserstein
GANs", NeurIPS 2017) is

    lambda * E_{x_hat}[(||grad_x T(x_hat)||_2 - target)^2],
    x_hat = u x + (1 - u) y,  u ~ U(0, 1) drawn once per sample,

with the norm taken over every non-batch axis of the critic input (all of
height, width and channels for images). The one-sided variant (Petzka et
al., "On the regularization of Wasserstein GANs", ICLR 2018) penalises only
norms above the target: lambda * E[max(0, ||grad|| - target)^2].

Spectral normalisation (Miyato et al., "Spectral normalization for generative
adversarial networks", ICLR 2018) divides each weight matrix by an estimate of
its largest singular value, obtained by one power iteration per step.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from discrepancy.gans._replicas import draw_replica_slice

__all__ = ["gradient_norms", "gradient_penalty", "penalty_terms", "spectrally_normalized"]


def gradient_norms(gradients: tf.Tensor) -> tf.Tensor:
    """Returns the Euclidean norm of each sample's gradient, over all non-batch axes, in float32.

    The square root is differentiable at zero: where the squared norm is 0
    the norm is exactly 0 and its gradient is 0, not NaN (the derivative of
    sqrt at 0 is infinite, and inf * 0 = NaN in the chain rule).
    """
    gradients = tf.cast(gradients, tf.float32)
    rank = gradients.shape.rank
    if rank is None or rank < 2:
        raise ValueError(
            f"gradient_norms needs gradients of shape [batch, ...] with rank >= 2, got "
            f"shape {gradients.shape}."
        )
    squared = tf.reduce_sum(tf.square(gradients), axis=list(range(1, rank)))

    positive = squared > 0.0
    safe_squared = tf.where(positive, squared, tf.ones_like(squared))
    return tf.where(positive, tf.sqrt(safe_squared), tf.zeros_like(squared))


def penalty_terms(norms: tf.Tensor, target: float = 1.0, one_sided: bool = False) -> tf.Tensor:
    """Returns the per-sample penalty (norm - target)^2, or max(0, norm - target)^2 when one-sided."""
    excess = norms - target
    if one_sided:
        excess = tf.nn.relu(excess)
    return tf.square(excess)


def gradient_penalty(
    critic,
    real: tf.Tensor,
    fake: tf.Tensor,
    *,
    seed: tf.Tensor,
    weight: float = 10.0,
    target: float = 1.0,
    one_sided: bool = False,
    loss_scale: tf.Tensor | None = None,
    training: bool = True,
) -> tf.Tensor:
    """Computes the per-sample gradient penalty of `critic` between real and fake samples.

    Args:
      critic: callable mapping a batch [b, ...] to outputs [b] or [b, k]; it
        must treat samples independently (no batch normalisation), so that
        the gradient of the summed output is each sample's own gradient.
      real: real samples [b, ...].
      fake: generated samples, the same shape as `real`.
      seed: stateless seed [2] for the interpolation weights u ~ U(0, 1).
      weight: lambda.
      target: the gradient norm the penalty pulls towards (1 for 1-Lipschitz).
      one_sided: penalise only norms above `target`.
      loss_scale: under mixed precision, the factor the critic output is
        multiplied by before the inner gradient so that float16 gradients do
        not underflow. The gradient is divided by it again in float32.
      training: passed to the critic.

    Returns:
      float32 tensor [b] of lambda * (||grad T(x_hat)|| - target)^2. The
      caller averages it; a non-finite value (an overflow of the scaled
      float16 gradient) makes the loss-scale optimizer skip the step.

    Cost: one extra forward and backward pass of the critic on b samples.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)

    # Under a distribution strategy the weights are drawn for the global batch
    # and sliced, so R replicas interpolate exactly as one device would.
    weights_shape = [tf.shape(real)[0]] + [1] * (real.shape.rank - 1)
    interpolation = draw_replica_slice(
        lambda shape, draw_seed: tf.random.stateless_uniform(shape, seed=draw_seed, dtype=tf.float32),
        weights_shape, seed,
    )
    interpolated = interpolation * real + (1.0 - interpolation) * fake

    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        outputs = tf.cast(critic(interpolated, training=training), tf.float32)
        summed = tf.reduce_sum(outputs)
        if loss_scale is not None:
            summed = summed * tf.cast(loss_scale, tf.float32)

    # A critic that ignores its input (a constant) has zero gradient, not None.
    gradients = tape.gradient(summed, interpolated, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    gradients = tf.cast(gradients, tf.float32)
    if loss_scale is not None:
        gradients = gradients / tf.cast(loss_scale, tf.float32)

    norms = gradient_norms(gradients)
    return weight * penalty_terms(norms, target=target, one_sided=one_sided)


_NORMALIZABLE = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def spectrally_normalized(critic: keras.Model) -> keras.Model:
    """Returns a copy of a Sequential or functional critic with spectral normalisation.

    Every Dense and ConvND layer is rebuilt from its configuration (fresh
    weights) and wrapped in `keras.layers.SpectralNormalization`, which runs
    one power iteration per training call.

    Raises:
      TypeError: the critic is a subclassed model, which cannot be cloned;
        wrap its layers in keras.layers.SpectralNormalization yourself.
    """

    def clone_layer(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, _NORMALIZABLE):
            return keras.layers.SpectralNormalization(fresh)
        return fresh

    try:
        return keras.models.clone_model(critic, clone_function=clone_layer)
    except ValueError as error:
        raise TypeError(
            f"spectral normalisation could not rebuild the critic {critic.name!r} ({error}). "
            "Pass a keras.Sequential or functional critic, or wrap its Dense and "
            "Conv layers in keras.layers.SpectralNormalization yourself and use "
            "penalty=None."
        ) from None

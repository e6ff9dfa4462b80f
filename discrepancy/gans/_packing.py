"""Packing (PacGAN): the critic judges m samples at once.

Lin, Khetan, Fanti and Oh, "PacGAN: The power of two samples in generative
adversarial networks", NeurIPS 2018. The critic's input is m samples of the
same kind (all real or all generated) concatenated along the last axis: the
feature axis for vectors [b, d] -> [b / m, m d], the channel axis for images
[b, h, w, c] -> [b / m, h, w, m c]. A generator that repeats a few modes
produces packs with tell-tale duplicates, which the critic learns to spot.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["pack_samples", "packed_critic"]


def pack_samples(samples: tf.Tensor, pack: int) -> tf.Tensor:
    """Concatenates each run of `pack` consecutive samples along the last axis.

    Pack j contains samples j * pack, ..., j * pack + pack - 1 in that order, so
    `samples[j * pack + i, ..., c]` lands at `packed[j, ..., i * C + c]`.
    The batch size must be a multiple of `pack`.
    """
    if pack == 1:
        return samples

    shape = tf.shape(samples)
    rank = samples.shape.rank
    inner = shape[1:-1]
    channels = samples.shape[-1]

    # [b, ..., c] -> [b / m, m, ..., c] -> [b / m, ..., m, c] -> [b / m, ..., m c].
    grouped = tf.reshape(samples, tf.concat([[-1, pack], shape[1:]], axis=0))
    order = [0] + list(range(2, rank)) + [1, rank]
    moved = tf.transpose(grouped, order)
    packed = tf.reshape(moved, tf.concat([[-1], inner, [pack * channels]], axis=0))
    packed.set_shape([None] + samples.shape[1:-1].as_list() + [pack * channels])
    return packed


def packed_critic(critic: keras.Model, pack: int, sample_shape: tuple[int, ...]) -> keras.Model:
    """Returns a critic that accepts packed inputs of shape [..., pack * channels].

    An unbuilt critic is returned as it is and builds itself on the packed
    shape at its first call. A built Sequential or functional critic is
    cloned with fresh weights on the packed input shape.

    Raises:
      ValueError: the critic is built for another input shape and cannot be
        cloned (a subclassed model).
    """
    if pack == 1 or not critic.built:
        return critic

    packed_shape = tuple(sample_shape[:-1]) + (pack * sample_shape[-1],)
    try:
        return keras.models.clone_model(critic, input_tensors=keras.Input(shape=packed_shape))
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"pack={pack} needs a critic for inputs of shape {packed_shape}, but "
            f"critic {critic.name!r} is already built and could not be cloned ({error}). "
            "Pass an unbuilt critic (create it without an Input layer and do not "
            "call it before training) or a Sequential or functional model."
        ) from None

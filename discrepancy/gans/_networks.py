"""Default generator and critic networks: MLPs for vectors, small conv nets for 8x8 images.

The critics use no batch normalisation, because the gradient penalty and
packing need a critic that treats the samples of a batch independently.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import keras
import numpy as np

__all__ = ["mlp_generator", "mlp_image_generator", "mlp_critic", "channel_critic", "conv_generator", "conv_critic",
           "default_networks"]


def mlp_generator(
    output_dim: int, *, latent_dim: int = 16, hidden_units: Sequence[int] = (128, 128, 128),
    batch_norm: bool = False, name: str = "generator",
) -> keras.Sequential:
    """Returns an MLP generator from noise [b, latent_dim] to vectors [b, output_dim].

    ReLU hidden layers and a linear output, as in the 2-D mixture experiments
    of VEEGAN and PacGAN (four layers of 400 units there; 128 is faster on a CPU).
    With `batch_norm`, each hidden Dense layer (without bias) is followed by
    batch normalisation before its ReLU, as in PacGAN's generator. Sampling
    (`training=False`) then uses the moving statistics.
    """
    layers = [keras.Input(shape=(latent_dim,))]
    for units in hidden_units:
        if batch_norm:
            layers += [keras.layers.Dense(units, use_bias=False), keras.layers.BatchNormalization(),
                       keras.layers.ReLU()]
        else:
            layers.append(keras.layers.Dense(units, activation="relu"))
    layers.append(keras.layers.Dense(output_dim, dtype="float32"))
    return keras.Sequential(layers, name=name)


def mlp_image_generator(
    image_shape: Sequence[int] = (8, 8, 3), *, latent_dim: int = 32, hidden_units: Sequence[int] = (256, 256),
    name: str = "generator",
) -> keras.Sequential:
    """Returns an MLP generator from noise [b, latent_dim] to images [b, *image_shape] in [0, 1].

    ReLU hidden layers, then a Dense layer with a sigmoid for every pixel
    value, reshaped to `image_shape`. For 8x8x3 stacked digits with the
    default sizes a forward pass costs about 0.25 MFLOP per sample, against
    about 3.4 MFLOP for `conv_generator` with 64 filters (multiply-adds
    counted by hand), so it trains more steps in the same CPU time.
    """
    image_shape = tuple(int(side) for side in image_shape)
    layers = [keras.Input(shape=(latent_dim,))]
    layers += [keras.layers.Dense(units, activation="relu") for units in hidden_units]
    layers.append(keras.layers.Dense(int(np.prod(image_shape)), activation="sigmoid", dtype="float32"))
    layers.append(keras.layers.Reshape(image_shape, dtype="float32"))
    return keras.Sequential(layers, name=name)


def mlp_critic(
    *, hidden_units: Sequence[int] = (128, 128, 128), outputs: int = 1, name: str = "critic"
) -> keras.Sequential:
    """Returns an unbuilt MLP critic with LeakyReLU hidden layers and `outputs` linear outputs.

    It has no Input layer, so it builds on whatever input size it first sees
    (packed inputs included).
    """
    layers = [keras.layers.Flatten()]
    for units in hidden_units:
        layers.append(keras.layers.Dense(units))
        layers.append(keras.layers.LeakyReLU(negative_slope=0.2))
    layers.append(keras.layers.Dense(outputs, dtype="float32"))
    return keras.Sequential(layers, name=name)


class _ChannelCritic(keras.Model):
    """A critic that encodes each channel with one shared MLP, see `channel_critic`."""

    def __init__(self, image_size, channel_units, image_units, joint_units, outputs, name):
        super().__init__(name=name)
        sides = tuple(image_size) if isinstance(image_size, (tuple, list)) else ()
        if len(sides) != 2 or not all(
            isinstance(side, numbers.Integral) and not isinstance(side, bool) and side > 0 for side in sides
        ):
            raise ValueError(f"invalid `image_size` {image_size!r}: pass the (height, width) of your images as "
                             "two positive ints, for example (8, 8).")
        self.image_size = tuple(int(side) for side in sides)
        self.pixels_per_channel = sides[0] * sides[1]

        # Dense acts on the last axis, so these weights are shared by all channels.
        self.channel_layers = [keras.layers.Dense(units) for units in channel_units]
        self.image_layers = [keras.layers.Dense(units) for units in image_units]
        self.joint_layers = [keras.layers.Dense(units) for units in joint_units]
        self.output_layer = keras.layers.Dense(outputs, dtype="float32")

    def call(self, images):
        if tuple(images.shape[1:3]) != self.image_size:
            raise ValueError(
                f"critic {self.name!r} expects images of size {self.image_size}, got input "
                f"shape {tuple(images.shape)}; pass image_size=(height, width) of your images."
            )
        batch = keras.ops.shape(images)[0]

        # [b, h, w, C] -> [b, C, h, w] -> [b, C, h w]: one row per channel.
        rows = keras.ops.reshape(keras.ops.transpose(images, (0, 3, 1, 2)), (batch, -1, self.pixels_per_channel))
        for layer in self.channel_layers:
            rows = keras.ops.leaky_relu(layer(rows), negative_slope=0.2)
        parts = [keras.ops.reshape(rows, (batch, -1))]

        if self.image_layers:
            whole = keras.ops.reshape(images, (batch, -1))
            for layer in self.image_layers:
                whole = keras.ops.leaky_relu(layer(whole), negative_slope=0.2)
            parts.append(whole)

        joint = keras.ops.concatenate(parts, axis=-1)
        for layer in self.joint_layers:
            joint = keras.ops.leaky_relu(layer(joint), negative_slope=0.2)
        return self.output_layer(joint)


def channel_critic(
    image_size: Sequence[int] = (8, 8), *, channel_units: Sequence[int] = (256, 256),
    image_units: Sequence[int] = (), joint_units: Sequence[int] = (256,), outputs: int = 1,
    name: str = "critic",
) -> keras.Model:
    """Returns an unbuilt image critic whose first layers read each channel on its own.

    Each channel of an image [b, h, w, C] is flattened to h * w values and
    passed through the same MLP e (`channel_units`, LeakyReLU), so every
    channel is judged by one shared encoder. With `image_units`, a second
    MLP u reads the whole flattened image. The C encodings (and u's output)
    are then concatenated and an MLP g (`joint_units`) reads them together:

      f(x) = g([e(x_1), ..., e(x_C), u(x)]),  one e for all channels.

    It suits images whose channels hold objects of one kind, such as stacked
    digits, where a plain MLP critic must learn the same digit features once
    per channel. Packed inputs work as they are: with pack m the critic receives
    m * C channels and encodes each with the same e.

    Cost per sample: C * (h w u_1 + u_1 u_2 + ...) multiply-adds for the
    encoder plus the other MLPs. For 8x8x3 packed twice with the default
    sizes that is about 0.89 M (0.49 M in the encoder, 0.39 M in the joint
    layer), twice an MLP critic of 2 x 512 units on the same input (0.46 M).

    NOTE: the shared encoder assumes channels of one kind; for colour
    images, whose channels differ, use `conv_critic` or `mlp_critic`.
    Without `image_units` only g checks how channels depend on each other.
    With the default sizes, a stacked-digits generator learned the right
    digit shares per channel, but its channels' digits were dependent
    (mutual information of 0.12 to 0.16 nats between two channels, against
    0.01 to 0.02 with `mlp_critic`). A whole-image path of 2 x 256 units
    (`image_units`) did not prevent it: 0.12 to 0.13 nats after 8000 steps.

    Args:
      image_size: (h, w) of the images.
      channel_units: widths of the shared per-channel layers.
      image_units: widths of the layers that read the whole image; empty
        for none.
      joint_units: widths of the layers that read all encodings together.
      outputs: number of linear outputs.
      name: the model's name.
    """
    return _ChannelCritic(image_size, tuple(channel_units), tuple(image_units), tuple(joint_units),
                          int(outputs), name)


def conv_generator(
    image_shape: Sequence[int] = (8, 8, 3), *, latent_dim: int = 32, filters: int = 64,
    name: str = "generator",
) -> keras.Sequential:
    """Returns a conv generator from noise to images with values in [0, 1].

    Dense to a 2x2 feature map, then two stride-2 transposed convolutions
    (2 -> 4 -> 8) for 8x8 images, and a sigmoid output.

    NOTE: at initialisation its output hardly depends on the noise. For
    8x8x3 images with the default sizes, a pixel's standard deviation over
    a batch is about 0.005 (0.04 for `mlp_image_generator`, 0.23 for real
    stacked digits). With the GAN objective on stacked digits it stayed
    collapsed at 1 to 6 of 1000 modes after 5000 steps, at rates 1e-3 and
    2e-4 (one seed each). Batch normalisation or LeakyReLU in its hidden
    layers did not help within 2000 steps. For stacked digits, use
    `mlp_image_generator` with `channel_critic` and the Wasserstein
    objective instead, which kept 998 to 1000 modes over five seeds.
    """
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"conv_generator needs image sides divisible by 4, got {tuple(image_shape)}.")
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            keras.layers.Dense((height // 4) * (width // 4) * 2 * filters, activation="relu"),
            keras.layers.Reshape((height // 4, width // 4, 2 * filters)),
            keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid", dtype="float32"),
        ],
        name=name,
    )


def conv_critic(*, filters: int = 64, outputs: int = 1, name: str = "critic") -> keras.Sequential:
    """Returns an unbuilt conv critic: two stride-2 convolutions, then a linear output."""
    return keras.Sequential(
        [
            keras.layers.Conv2D(filters, 3, strides=2, padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Conv2D(2 * filters, 3, strides=2, padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Flatten(),
            keras.layers.Dense(outputs, dtype="float32"),
        ],
        name=name,
    )


def default_networks(
    sample_shape: Sequence[int], *, latent_dim: int | None = None, critic_outputs: int = 1
) -> tuple[keras.Model, keras.Model, int]:
    """Returns (generator, critic, latent_dim) suited to samples of `sample_shape`.

    Vectors [d] get MLPs with a 16-D latent space by default; images
    [h, w, c] get the conv nets with a 32-D latent space by default.
    """
    sample_shape = tuple(int(s) for s in sample_shape)
    if len(sample_shape) == 1:
        latent_dim = latent_dim or 16
        generator = mlp_generator(sample_shape[0], latent_dim=latent_dim)
        return generator, mlp_critic(outputs=critic_outputs), latent_dim
    if len(sample_shape) == 3:
        latent_dim = latent_dim or 32
        generator = conv_generator(sample_shape, latent_dim=latent_dim)
        return generator, conv_critic(outputs=critic_outputs), latent_dim
    raise ValueError(
        f"default networks exist for vectors [d] and images [h, w, c], got sample shape "
        f"{list(sample_shape)}; pass your own generator and critic."
    )

"""Convolutional autoencoder: encoder, bottleneck, decoder, and no skip connections, so every
detail of the output must pass through the bottleneck (the reference projects' simplest model).
"""

import keras
from keras import layers

from fer_denoise.models.unet import check_divisible, conv_block


def build_autoencoder(
    input_shape=(48, 48, 1),
    depth: int = 3,
    base_filters: int = 32,
    dropout: float = 0.1,
    residual: bool = False,
) -> keras.Model:
    """`depth` stride-2 downsamplings, filters doubling per level from `base_filters`, then as
    many transposed-convolution upsamplings; dropout regularises the bottleneck.

    With `residual`, it predicts the noise and subtracts it from the input.
    """
    check_divisible(input_shape, depth)
    inputs = keras.Input(shape=input_shape, name="noisy")
    x = inputs
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, False, f"enc{level}")
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = conv_block(x, base_filters * 2**depth, False, "bottleneck")
    x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = conv_block(x, filters, False, f"dec{level}")
    x = layers.Conv2D(input_shape[-1], 1, name="head")(x)
    if residual:
        x = layers.Subtract(name="denoised")([inputs, x])
    return keras.Model(inputs, x, name="autoencoder")

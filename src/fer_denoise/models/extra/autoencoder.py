"""Convolutional autoencoder: encoder, bottleneck, decoder, and no skip connections, so every
detail of the output must pass through the bottleneck (the reference projects' simplest model).
"""

import keras
from keras import layers
from pydantic import Field

from fer_denoise.models.registry import register
from fer_denoise.models.unet import check_divisible, conv_block
from fer_denoise.settings import Settings


class AutoencoderSettings(Settings):
    depth: int = Field(default=3, ge=1, le=4)  # stride-2 downsamplings
    base_filters: int = Field(default=16, ge=1, le=512)  # doubled at each level
    dropout: float = Field(default=0.1, ge=0.0, le=0.9)  # on the bottleneck
    residual: bool = False  # predict the noise and subtract it from the input


@register("autoencoder", AutoencoderSettings, lambda settings: 2**settings.depth)
def build_autoencoder(input_shape: tuple[int, ...], settings: AutoencoderSettings) -> keras.Model:
    """`depth` downsamplings, filters doubling per level from `base_filters`, then as many
    transposed-convolution upsamplings; dropout regularises the bottleneck."""
    depth, base_filters = settings.depth, settings.base_filters
    check_divisible(input_shape, depth)
    inputs = keras.Input(shape=input_shape, name="noisy")
    x = inputs
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, False, f"enc{level}")
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = conv_block(x, base_filters * 2**depth, False, "bottleneck")
    x = layers.Dropout(settings.dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = conv_block(x, filters, False, f"dec{level}")
    x = layers.Conv2D(input_shape[-1], 1, name="head")(x)
    if settings.residual:
        x = layers.Subtract(name="denoised")([inputs, x])
    return keras.Model(inputs, x, name="autoencoder")

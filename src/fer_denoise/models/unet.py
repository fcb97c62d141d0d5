"""U-Net (Ronneberger et al., 2015) for denoising: a convolutional encoder-decoder whose skip
connections carry fine detail past the bottleneck.
"""

import keras
from keras import layers
from pydantic import Field

from fer_denoise.models.registry import register
from fer_denoise.settings import Settings


class UNetSettings(Settings):
    """params.yaml `models.unet` (and `models.attention_unet`, which shares its layers)."""

    depth: int = Field(default=3, ge=1, le=4)  # poolings: sides must divide by 2**depth
    base_filters: int = Field(default=16, ge=1, le=512)  # doubled at each level
    # the full-resolution level's filters instead of base_filters (null: base_filters): the
    # cheapest place for width where each pixel's own neighbourhood matters, as in inpainting
    top_filters: int | None = Field(default=None, ge=1, le=512)
    batch_norm: bool = False  # every convolution; the output layer then starts at zero
    residual: bool = True  # predict the noise and subtract it from the input


def pooling_multiple(settings: UNetSettings) -> int:
    return 2**settings.depth


def level_filters(settings: UNetSettings) -> list[int]:
    """Filters at each level, full resolution first and the bottleneck last."""
    filters = [settings.base_filters * 2**level for level in range(settings.depth + 1)]
    if settings.top_filters is not None:
        filters[0] = settings.top_filters
    return filters


def conv_block(x, filters: int, batch_norm: bool, name: str):
    """Two 3x3 convolutions with ReLU, each optionally batch-normalised."""
    for i in (1, 2):
        x = layers.Conv2D(
            filters, 3, padding="same", use_bias=not batch_norm, name=f"{name}_conv{i}"
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def check_divisible(input_shape, depth: int) -> None:
    """Each pooling halves the image, so its sides must divide by 2**depth (None: any size)."""
    for side in input_shape[:2]:
        if side is not None and side % 2**depth:
            raise ValueError(f"input side {side} is not divisible by 2**depth = {2**depth}")


def u_net_layers(inputs, settings: UNetSettings, gate=None):
    """The U-Net's layers on `inputs`; returns the output tensor.

    `gate(skip, decoder, filters, level)`, when given, filters each skip connection before the
    decoder concatenates it (the Attention U-Net's gates).
    """
    depth, batch_norm, filters_at = settings.depth, settings.batch_norm, level_filters(settings)
    x = inputs
    skips = []
    for level in range(depth):
        x = conv_block(x, filters_at[level], batch_norm, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = conv_block(x, filters_at[depth], batch_norm, "bottleneck")
    for level in reversed(range(depth)):
        filters = filters_at[level]
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        skip = skips[level] if gate is None else gate(skips[level], x, filters, level)
        x = layers.Concatenate(name=f"skip{level}")([x, skip])
        x = conv_block(x, filters, batch_norm, f"dec{level}")
    # Batch-normalised features have unit variance, so a random output layer would start by
    # subtracting noise of that size from every face; at zero the residual network starts as
    # the identity (docs/results.md, "Why batch norm starts so far behind")
    head_initializer = "zeros" if batch_norm else "glorot_uniform"
    x = layers.Conv2D(inputs.shape[-1], 1, kernel_initializer=head_initializer, name="head")(x)
    if settings.residual:
        x = layers.Subtract(name="denoised")([inputs, x])
    return x


@register("unet", UNetSettings, pooling_multiple)
def build_unet(input_shape: tuple[int, ...], settings: UNetSettings) -> keras.Model:
    """A U-Net with `depth` poolings, filters doubling per level from `base_filters` (or from
    `top_filters` at full resolution).

    With `residual`, the network predicts the noise and subtracts it from the input, which
    trains faster for small noise than predicting the clean image outright.
    """
    check_divisible(input_shape, settings.depth)
    inputs = keras.Input(shape=input_shape, name="noisy")
    outputs = u_net_layers(inputs, settings)
    return keras.Model(inputs, outputs, name="unet")

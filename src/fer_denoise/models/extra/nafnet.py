"""NAFNet (Chen et al., 2022), small: a U-shaped stack of "nonlinear activation free" blocks.

Each block is layer norm, a pointwise and a depthwise convolution, a SimpleGate (one half of
the channels times the other, in place of an activation) and simplified channel attention, then
a gated feed-forward part; both parts add back to their input through a learned per-channel
scale that starts at zero, so a new block starts as the identity. Skips are added, not
concatenated, and the network predicts the residual that is added to the input.
"""

import keras
from keras import layers, ops
from pydantic import Field

from fer_denoise.models.registry import register
from fer_denoise.models.unet import check_divisible
from fer_denoise.settings import Settings


class NAFNetSettings(Settings):
    width: int = Field(default=16, ge=1, le=256)  # channels at full resolution, doubled per level
    depth: int = Field(default=2, ge=1, le=4)  # downsamplings: sides must divide by 2**depth
    blocks: int = Field(default=1, ge=1, le=8)  # NAF blocks at each encoder and decoder level
    middle_blocks: int = Field(default=2, ge=1, le=16)  # NAF blocks at the lowest resolution


@keras.saving.register_keras_serializable(package="fer_denoise")
class SimpleGate(layers.Layer):
    """The first half of the channels times the second: NAFNet's replacement for GELU."""

    def call(self, inputs):
        first, second = ops.split(inputs, 2, axis=-1)
        return first * second


@keras.saving.register_keras_serializable(package="fer_denoise")
class LayerScale(layers.Layer):
    """A learned per-channel scale, starting at zero (NAFNet's beta and gamma)."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="scale")

    def call(self, inputs):
        return inputs * self.scale


def naf_block(x, name: str):
    channels = x.shape[-1]
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
    y = layers.Conv2D(2 * channels, 1, name=f"{name}_expand")(y)
    y = layers.DepthwiseConv2D(3, padding="same", name=f"{name}_depthwise")(y)
    y = SimpleGate(name=f"{name}_gate1")(y)
    attention = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(y)
    attention = layers.Conv2D(channels, 1, name=f"{name}_attention")(attention)
    y = layers.Multiply(name=f"{name}_sca")([y, attention])
    y = layers.Conv2D(channels, 1, name=f"{name}_project")(y)
    x = layers.Add(name=f"{name}_add1")([x, LayerScale(name=f"{name}_beta")(y)])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
    y = layers.Conv2D(2 * channels, 1, name=f"{name}_ffn_expand")(y)
    y = SimpleGate(name=f"{name}_gate2")(y)
    y = layers.Conv2D(channels, 1, name=f"{name}_ffn_project")(y)
    return layers.Add(name=f"{name}_add2")([x, LayerScale(name=f"{name}_gamma")(y)])


@register("nafnet", NAFNetSettings, lambda settings: 2**settings.depth)
def build_nafnet(input_shape: tuple[int, ...], settings: NAFNetSettings) -> keras.Model:
    """`depth` levels of `blocks` NAF blocks each way, `middle_blocks` at the bottom."""
    check_divisible(input_shape, settings.depth)
    inputs = keras.Input(shape=input_shape, name="noisy")
    x = layers.Conv2D(settings.width, 3, padding="same", name="intro")(inputs)
    skips = []
    for level in range(settings.depth):
        for index in range(settings.blocks):
            x = naf_block(x, f"enc{level}_{index}")
        skips.append(x)
        x = layers.Conv2D(2 * x.shape[-1], 2, strides=2, name=f"down{level}")(x)
    for index in range(settings.middle_blocks):
        x = naf_block(x, f"middle{index}")
    for level in reversed(range(settings.depth)):
        x = layers.Conv2DTranspose(x.shape[-1] // 2, 2, strides=2, name=f"up{level}")(x)
        x = layers.Add(name=f"skip{level}")([x, skips[level]])
        for index in range(settings.blocks):
            x = naf_block(x, f"dec{level}_{index}")
    residual = layers.Conv2D(input_shape[-1], 3, padding="same", name="ending")(x)
    outputs = layers.Add(name="denoised")([inputs, residual])
    return keras.Model(inputs, outputs, name="nafnet")

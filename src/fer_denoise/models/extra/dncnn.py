"""DnCNN (Zhang et al., 2017): a plain stack of 3x3 convolutions that predicts the noise, which
is subtracted from the input (residual learning). The strongest published Gaussian denoisers
are of this family. No pooling, so it takes images of any size.
"""

import keras
from keras import layers
from pydantic import Field

from fer_denoise.models.registry import register
from fer_denoise.settings import Settings


class DnCNNSettings(Settings):
    # The paper's 17 convolutions at width 64 with batch norm cost about 20 times the U-Net
    # per image; the defaults are smaller and batch norm is a setting.
    depth: int = Field(default=10, ge=2, le=30)  # convolutions, first and last included
    width: int = Field(default=32, ge=1, le=512)
    batch_norm: bool = False


@register("dncnn", DnCNNSettings)
def build_dncnn(input_shape: tuple[int, ...], settings: DnCNNSettings) -> keras.Model:
    """`depth` convolutions of `width` filters: the first with ReLU, the middle ones with
    (optional) batch norm and ReLU, the last back to the input's channels (starting at zero
    with batch norm)."""
    width, batch_norm = settings.width, settings.batch_norm
    inputs = keras.Input(shape=input_shape, name="noisy")
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="conv0")(inputs)
    for index in range(1, settings.depth - 1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=f"conv{index}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{index}")(x)
        x = layers.Activation("relu", name=f"relu{index}")(x)
    # Batch-normalised features have unit variance, so a random last layer would start by
    # subtracting noise of that size (a first loss near 1); at zero the network starts as the
    # identity (docs/results.md, "Why batch norm starts so far behind").
    initializer = "zeros" if batch_norm else "glorot_uniform"
    noise = layers.Conv2D(
        input_shape[-1], 3, padding="same", kernel_initializer=initializer, name="noise"
    )(x)
    outputs = layers.Subtract(name="denoised")([inputs, noise])
    return keras.Model(inputs, outputs, name="dncnn")

"""DnCNN (Zhang et al., 2017): a plain stack of 3x3 convolutions that predicts the noise, which
is subtracted from the input (residual learning). The strongest published Gaussian denoisers
are of this family. No pooling, so it takes images of any size.
"""

import keras
from keras import layers


def build_dncnn(
    input_shape=(48, 48, 1), depth: int = 10, width: int = 32, batch_norm: bool = False
) -> keras.Model:
    """`depth` convolutions of `width` filters: the first with ReLU, the middle ones with
    (optional) batch norm and ReLU, the last back to the input's channels.

    The paper uses depth 17, width 64 and batch norm; on a 2-core CPU that is about 20 times the
    U-Net's cost per image, so the defaults are smaller and batch norm (half the speed here) is
    a setting.
    """
    if depth < 2:
        raise ValueError(f"DnCNN depth must be at least 2 (first and last layer), got {depth}")
    inputs = keras.Input(shape=input_shape, name="noisy")
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="conv0")(inputs)
    for index in range(1, depth - 1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=f"conv{index}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{index}")(x)
        x = layers.Activation("relu", name=f"relu{index}")(x)
    noise = layers.Conv2D(input_shape[-1], 3, padding="same", name="noise")(x)
    outputs = layers.Subtract(name="denoised")([inputs, noise])
    return keras.Model(inputs, outputs, name="dncnn")

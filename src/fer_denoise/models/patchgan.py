"""PatchGAN discriminator (Isola et al., 2017), conditioned on the noisy input.

It sees (noisy, candidate) stacked as channels and returns a grid of real/fake logits, one per
overlapping patch, so it judges local texture rather than the whole face.
"""

import keras
from keras import layers


def build_patchgan(
    input_shape=(48, 48, 1), filters: int = 32, downsamplings: int = 3
) -> keras.Model:
    """`downsamplings` strided 4x4 convolutions (filters doubling), then a 1-channel logit map."""
    noisy = keras.Input(shape=input_shape, name="noisy")
    candidate = keras.Input(shape=input_shape, name="candidate")
    x = layers.Concatenate(name="pair")([noisy, candidate])
    for level in range(downsamplings):
        x = layers.Conv2D(
            filters * 2**level, 4, strides=2, padding="same", name=f"down{level}_conv"
        )(x)
        x = layers.LeakyReLU(0.2, name=f"down{level}_lrelu")(x)
    logits = layers.Conv2D(1, 3, padding="same", name="logits")(x)
    return keras.Model([noisy, candidate], logits, name="patchgan")

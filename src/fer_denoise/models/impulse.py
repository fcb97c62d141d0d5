"""Impulse noise (salt-and-pepper) is inpainting: the layers that wrap a denoiser for it.

Salt-and-pepper noise sets pixels to exactly 0 or 1 and leaves every other pixel as it was.
- The switching output replaces only those pixels and keeps the noisy input everywhere else,
  so the network spends its capacity on the corrupted pixels alone.
- The impulse input gives the network each impulse pre-filled from its known neighbours and
  the masks of impulses at 1 and at 0 as more channels, so it refines an estimate instead of
  inventing one from a black or white dot.
Clean pixels that were already 0 or 1 (saturated faces; about 7% of FER2013's pixels) look
like impulses to both: the network learns to keep them, and the split mask, which says which
of the two values a pixel has, is what lets it tell a white cheek from a white dot.
"""

from collections.abc import Callable

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="fer_denoise")
class ImpulseSwitch(layers.Layer):
    """[noisy, restored] -> restored where noisy is exactly 0 or 1, else noisy."""

    def call(self, inputs):
        noisy, restored = inputs
        impulse = ops.logical_or(ops.equal(noisy, 0.0), ops.equal(noisy, 1.0))
        return ops.where(impulse, restored, noisy)


def with_switching_output(model: keras.Model) -> keras.Model:
    """The same layers as `model`, with an ImpulseSwitch between its output and the input."""
    outputs = ImpulseSwitch(name="switch")([model.input, model.output])
    return keras.Model(model.input, outputs, name=model.name)


@keras.saving.register_keras_serializable(package="fer_denoise")
class ImpulseFill(layers.Layer):
    """noisy -> (filled, mask): pixels at exactly 0 or 1 replaced by the mean of their known
    3x3 neighbours (normalised convolution, `passes` times, so clusters fill from outside in),
    and the mask of those pixels. A network given both refines an estimate of each impulse
    instead of inventing it from a black or white dot.

    With `split_mask` the mask has two channels per image channel, the pixels at 1 and the
    pixels at 0 (models saved before it existed have one mask, and load as they were). It
    computes in float32 under any policy: bfloat16 would round a pixel at 0.998 to 1.
    """

    def __init__(self, passes: int = 3, split_mask: bool = False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.passes = passes
        self.split_mask = split_mask

    def call(self, noisy):
        impulse = ops.logical_or(ops.equal(noisy, 0.0), ops.equal(noisy, 1.0))
        known = 1.0 - ops.cast(impulse, noisy.dtype)
        kernel = ops.ones((3, 3, noisy.shape[-1], 1), dtype=noisy.dtype)
        values = noisy * known
        for _ in range(self.passes):
            total = ops.depthwise_conv(values, kernel, strides=1, padding="same")
            count = ops.depthwise_conv(known, kernel, strides=1, padding="same")
            reached = ops.cast(count > 0.0, noisy.dtype)
            estimate = total / ops.maximum(count, 1.0)
            values = known * values + (1.0 - known) * reached * estimate
            known = ops.maximum(known, reached)
        filled = values + (1.0 - known) * 0.5  # pixels no pass reached: mid-grey
        mask = ops.cast(impulse, noisy.dtype)
        if self.split_mask:
            mask = ops.concatenate([mask * noisy, mask * (1.0 - noisy)], axis=-1)
        return filled, mask

    def get_config(self):
        return {**super().get_config(), "passes": self.passes, "split_mask": self.split_mask}


def with_impulse_input(
    build_body: Callable[[tuple[int, ...]], keras.Model], input_shape
) -> keras.Model:
    """noisy -> ImpulseFill -> [filled, mask of 1s, mask of 0s] -> the body -> a 1x1 head ->
    filled - correction.

    `build_body(shape)` builds the denoiser for those channels; it predicts the correction of
    the filled image (so build it without a residual of its own). The model keeps the body's
    name, which says which architecture it is.
    """
    noisy = keras.Input(shape=tuple(input_shape), name="noisy")
    filled, mask = ImpulseFill(split_mask=True, name="impulse_fill")(noisy)
    features = layers.Concatenate(name="impulse_features")([filled, mask])
    body = build_body(tuple(features.shape[1:]))
    correction = layers.Conv2D(input_shape[-1], 1, name="impulse_head")(body(features))
    restored = layers.Subtract(name="impulse_refined")([filled, correction])
    return keras.Model(noisy, restored, name=body.name)

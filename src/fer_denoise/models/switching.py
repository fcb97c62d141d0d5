"""Switching output for impulse noise (salt-and-pepper).

Salt-and-pepper noise sets pixels to exactly 0 or 1 and leaves every other pixel as it was, so
a restoration only needs to replace those pixels: the layer keeps the noisy input everywhere
else. Trained with it, the network spends its capacity on the corrupted pixels alone. Clean
pixels that were already 0 or 1 (saturated faces) still go through the network, which learns
to keep them.
"""

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

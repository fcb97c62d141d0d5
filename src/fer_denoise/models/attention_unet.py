"""Attention U-Net (Oktay et al., 2018): a U-Net whose skip connections pass through additive
attention gates, so the decoder chooses which encoder detail to take at each pixel.

Layer names match the U-Net's, so a trained U-Net seeds this model layer for layer; only the
gates start untrained.
"""

import keras
from keras import layers

from fer_denoise.models.registry import register
from fer_denoise.models.unet import UNetSettings, check_divisible, pooling_multiple, u_net_layers


def attention_gate(x, g, inter_filters: int, name: str):
    """gate(x, g) = x * sigmoid(psi(relu(theta(x) + phi(g)))), x the skip, g the decoder feature.

    psi starts at zero weights with bias 3, so a new gate passes 95% of the skip: a model seeded
    from a U-Net starts close to that U-Net instead of with every skip halved.
    """
    theta = layers.Conv2D(inter_filters, 1, name=f"{name}_theta")(x)
    phi = layers.Conv2D(inter_filters, 1, name=f"{name}_phi")(g)
    joined = layers.Activation("relu", name=f"{name}_relu")(
        layers.Add(name=f"{name}_add")([theta, phi])
    )
    psi = layers.Conv2D(
        1,
        1,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(3.0),
        name=f"{name}_psi",
    )(joined)
    weights = layers.Activation("sigmoid", name=f"{name}_weights")(psi)
    return layers.Multiply(name=f"{name}_gated")([x, weights])


@register("attention_unet", UNetSettings, pooling_multiple)
def build_attention_unet(input_shape: tuple[int, ...], settings: UNetSettings) -> keras.Model:
    """The U-Net of unet.py with an attention gate on each skip connection."""

    def gate(skip, decoder, filters: int, level: int):
        return attention_gate(skip, decoder, max(filters // 2, 1), f"gate{level}")

    check_divisible(input_shape, settings.depth)
    inputs = keras.Input(shape=input_shape, name="noisy")
    outputs = u_net_layers(inputs, settings, gate)
    return keras.Model(inputs, outputs, name="attention_unet")

"""Transfer learning: start a model from another model's weights, layer by layer, and freeze
its encoder for the first epochs of fine-tuning.
"""

from pathlib import Path

import keras

from fer_denoise.errors import UserError

ENCODER_BLOCKS = ("down", "bottleneck")  # layer-name prefixes of the U-Net family's encoder


def leaf_layers(model: keras.Model) -> list[keras.Layer]:
    """The model's layers, with each nested model (the body of an impulse model) opened up, so
    that layers match by name whatever wraps them."""
    leaves = []
    for layer in model.layers:
        leaves.extend(leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return leaves


def seed_from(model: keras.Model, source: keras.Model, source_path: Path) -> list[str]:
    """Copy the weights of every layer that `source` has under the same name and shapes.

    Returns the copied layers' names; an error when none fits, since fine-tuning would then
    silently start from scratch.
    """
    source_layers = {layer.name: layer for layer in leaf_layers(source)}
    copied = []
    for layer in leaf_layers(model):
        match = source_layers.get(layer.name)
        if not layer.weights or match is None:
            continue
        weights = match.get_weights()
        if [w.shape for w in weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(weights)
            copied.append(layer.name)
    if not copied:
        raise UserError(
            f"{source_path} shares no layer (same name and shape) with {model.name}: set the "
            "task's `init` in params.yaml (curriculum or blind.tasks) to a model of the same "
            "family and widths, or give the task the same model values (its `models:`)"
        )
    return copied


def freeze_encoder(model: keras.Model, frozen: bool) -> None:
    """Freeze or thaw the encoder blocks (compile the model again afterwards)."""
    for layer in leaf_layers(model):
        if layer.name.startswith(ENCODER_BLOCKS):
            layer.trainable = not frozen

"""Denoising models, chosen by name from params.yaml (`models.<name>`)."""

from collections.abc import Callable
from typing import Any

import keras

from fer_denoise.models.attention_unet import build_attention_unet
from fer_denoise.models.autoencoder import build_autoencoder
from fer_denoise.models.dncnn import build_dncnn
from fer_denoise.models.unet import build_unet

BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "unet": build_unet,
    "attention_unet": build_attention_unet,
    "autoencoder": build_autoencoder,
    "dncnn": build_dncnn,
}


def build_model(name: str, input_shape: tuple[int, int, int], **settings: Any) -> keras.Model:
    """Build a registered model; `settings` are its section of params.yaml."""
    if name not in BUILDERS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(BUILDERS)}")
    return BUILDERS[name](input_shape=input_shape, **settings)

"""The registry of denoising architectures: each model file registers its builder, settings
and size multiple here, and every stage, the CLI and the model card find it by name.

The chain's models (unet, attention_unet) are imported by the package; extra models live one per
file in models/extra/<name>.py and are imported when a stage or a saved model asks for them, so
the default chain never depends on them.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from fer_denoise.errors import UserError
from fer_denoise.settings import PARAMS_FILE, Settings

EXTRA_PACKAGE = "fer_denoise.models.extra"
EXTRA_DIR = Path(__file__).parent / "extra"


@dataclass(frozen=True)
class Architecture:
    """A denoiser: how to build it from its params.yaml settings and what sizes it accepts."""

    name: str
    build: Callable[[tuple[int, ...], Any], keras.Model]  # (input_shape, settings) -> model
    settings: type[Settings]  # its params.yaml section, with the defaults params.yaml shows
    size_multiple: Callable[[Any], int]  # image sides must be multiples of this

    def parse(self, raw: Any) -> Any:
        return self.settings.parse(f"models.{self.name}", raw)


REGISTRY: dict[str, Architecture] = {}


def register(
    name: str, settings: type[Settings], size_multiple: Callable[[Any], int] = lambda _: 1
) -> Callable:
    """Decorator for a builder `build(input_shape, settings) -> keras.Model` named `name`."""

    def decorator(build: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        REGISTRY[name] = Architecture(name, build, settings, size_multiple)
        return build

    return decorator


def extra_names() -> list[str]:
    return sorted(p.stem for p in EXTRA_DIR.glob("*.py") if not p.stem.startswith("_"))


def architecture(name: str) -> Architecture:
    """A registered model; an extra model's file is imported on first use."""
    if name not in REGISTRY and name in extra_names():
        importlib.import_module(f"{EXTRA_PACKAGE}.{name}")
    if name not in REGISTRY:
        known = ", ".join([*REGISTRY, *(n for n in extra_names() if n not in REGISTRY)])
        raise KeyError(f"unknown model {name!r}; registered: {known}")
    return REGISTRY[name]


def model_settings(models: dict[str, dict], name: str) -> Any:
    """The checked settings of params.yaml `models.<name>`."""
    if name not in models:
        raise UserError(
            f"{PARAMS_FILE} models has no `{name}` section: add it (its keys: "
            f"{', '.join(architecture(name).settings.model_fields)})"
        )
    return architecture(name).parse(models[name])


def build_model(name: str, input_shape: tuple[int, ...], **settings: Any) -> keras.Model:
    """Build a registered model; `settings` override its defaults (params.yaml's section)."""
    spec = architecture(name)
    return spec.build(tuple(input_shape), spec.settings(**settings))

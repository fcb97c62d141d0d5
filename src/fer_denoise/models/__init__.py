"""Denoising models, found by name in the registry (registry.py); importing the package
registers the default chain's models."""

from fer_denoise.models import attention_unet, unet  # noqa: F401  (they register themselves)
from fer_denoise.models.registry import architecture, build_model, model_settings

__all__ = ["architecture", "build_model", "model_settings"]

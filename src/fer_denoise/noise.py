"""Noise models on images in [0, 1]: pure functions of the clean images, a spec and a generator.

The same functions make the fixed noisy sets (stage `noise`) and the fresh noise drawn for every
training batch, so a model is trained on exactly the noise it is evaluated on.
"""

import zlib
from typing import Any

import numpy as np


def resolve_spec(task: dict[str, Any], factor: float) -> dict[str, Any]:
    """Turn a task's params into the concrete noise it draws (sigma on [0, 1], or amount).

    Gaussian sigma = factor * std, with the shared `noise.factor` unless the task sets its own.
    """
    if task["type"] == "gaussian":
        sigma = task.get("factor", factor) * task["std"]
        return {"type": "gaussian", "sigma": round(sigma, 12)}  # 0.04, not 0.04000000000000001
    if task["type"] == "salt_pepper":
        return {"type": "salt_pepper", "amount": task["amount"]}
    raise ValueError(f"unknown noise type {task['type']!r}")


def add_noise(clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Noisy float32 copy of `clean` (floats in [0, 1]), clipped and rounded to 8-bit levels.

    Rounding to multiples of 1/255 makes fresh training noise match the stored uint8 noisy sets.
    """
    clean = np.asarray(clean, dtype=np.float32)
    if spec["type"] == "gaussian":
        noisy = clean + np.float32(spec["sigma"]) * rng.standard_normal(clean.shape, np.float32)
    elif spec["type"] == "salt_pepper":
        draw = rng.random(clean.shape, dtype=np.float32)
        amount = np.float32(spec["amount"])
        noisy = np.where(draw < amount / 2, np.float32(0.0), clean)
        noisy = np.where((draw >= amount / 2) & (draw < amount), np.float32(1.0), noisy)
    else:
        raise ValueError(f"unknown noise type {spec['type']!r}")
    return np.round(np.clip(noisy, 0.0, 1.0) * 255.0) / np.float32(255.0)


def task_rng(seed: int, task: str, purpose: str) -> np.random.Generator:
    """A generator seeded from params: the same seed, task and purpose give the same draws.

    crc32 of the names (not Python's hash, which changes per process) keeps it stable.
    """
    return np.random.default_rng([seed, zlib.crc32(task.encode()), zlib.crc32(purpose.encode())])


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 to float32 0..1."""
    return images.astype(np.float32) / np.float32(255.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float 0..1 to uint8 0..255, rounding to the nearest level."""
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)

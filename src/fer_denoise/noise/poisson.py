"""Poisson (photon, shot) noise, a real camera's: each pixel counts photons, so its noise grows
with its brightness. `peak` is the photon count of a white pixel: the lower, the noisier.

Its strength for the robustness sweep is the noise sigma of a white pixel, 1 / sqrt(peak), so
that the sweep's x axis reads like a Gaussian one.
"""

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from fer_denoise.noise import NoiseType, register


@register
class Poisson(NoiseType):
    type: Literal["poisson"]
    peak: float = Field(gt=0.0, le=1e6)

    name: ClassVar[str] = "poisson"
    level_key: ClassVar[str] = "peak"
    # The filters that estimate a Gaussian sigma from the face adapt to it well enough.
    tuned_filters: ClassVar[tuple[str, ...]] = (
        "gaussian_blur",
        "tv_chambolle",
        "wavelet",
        "nl_means",
        "bm3d",
    )
    sweep: ClassVar[tuple[float, ...]] = (400.0, 100.0, 30.0, 10.0, 4.0)  # sigma 0.05 to 0.5

    def resolve(self, factor: float) -> dict[str, Any]:
        return {"type": self.name, "peak": self.peak}

    @staticmethod
    def sample(clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        peak = spec["peak"]
        return (rng.poisson(clean.astype(np.float64) * peak) / peak).astype(np.float32)

    @classmethod
    def level(cls, spec: dict[str, Any]) -> float:
        return 1.0 / float(np.sqrt(spec["peak"]))

"""Additive white Gaussian noise: sigma = factor * std on [0, 1], or for a blind task each
image's sigma drawn from `sigma_range` (on [0, 1], not scaled by the factor)."""

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from fer_denoise.noise import LevelRange, NoiseType, register

ALL_FILTERS = ("gaussian_blur", "tv_chambolle", "wavelet", "nl_means", "bm3d")


@register
class Gaussian(NoiseType):
    type: Literal["gaussian"]
    std: float | None = Field(default=None, gt=0.0, le=10.0)
    factor: float | None = Field(default=None, gt=0.0, le=10.0)  # else noise.factor
    sigma_range: LevelRange | None = None

    name: ClassVar[str] = "gaussian"
    level_key: ClassVar[str] = "sigma"
    level_setting: ClassVar[str | None] = "std"  # sigma = factor * std
    tuned_filters: ClassVar[tuple[str, ...]] = ALL_FILTERS
    sweep: ClassVar[tuple[float, ...]] = (0.01, 0.02, 0.04, 0.06, 0.09, 0.12, 0.18, 0.24, 0.3)

    def resolve(self, factor: float) -> dict[str, Any]:
        if (spec := self.range_spec()) is not None:
            return spec
        sigma = (factor if self.factor is None else self.factor) * self.std
        return {"type": self.name, "sigma": round(sigma, 12)}  # 0.04, not 0.04000000000000001

    @staticmethod
    def sample(clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        return clean + np.float32(spec["sigma"]) * rng.standard_normal(clean.shape, np.float32)

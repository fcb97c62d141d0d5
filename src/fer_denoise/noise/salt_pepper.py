"""Salt-and-pepper impulses: a share `amount` of pixels set to 0 or 1, half each (for a blind
task, each image's amount drawn from `amount_range`)."""

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from fer_denoise.noise import LevelRange, NoiseType, register


@register
class SaltPepper(NoiseType):
    type: Literal["salt_pepper"]
    amount: float | None = Field(default=None, gt=0.0, le=1.0)
    amount_range: LevelRange | None = None

    name: ClassVar[str] = "salt_pepper"
    level_key: ClassVar[str] = "amount"
    sweep: ClassVar[tuple[float, ...]] = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
    impulse: ClassVar[bool] = True
    classical_baseline: ClassVar[str] = "switching_median"
    # BM3D is built for Gaussian noise (and takes 0.7 s a face): not tried on impulses.
    tuned_filters: ClassVar[tuple[str, ...]] = (
        "gaussian_blur",
        "tv_chambolle",
        "wavelet",
        "nl_means",
    )

    def resolve(self, factor: float) -> dict[str, Any]:
        if (spec := self.range_spec()) is not None:
            return spec
        return {"type": self.name, "amount": self.amount}

    @staticmethod
    def sample(clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        draw = rng.random(clean.shape, dtype=np.float32)
        amount = np.float32(spec["amount"])
        noisy = np.where(draw < amount / 2, np.float32(0.0), clean)
        return np.where((draw >= amount / 2) & (draw < amount), np.float32(1.0), noisy)

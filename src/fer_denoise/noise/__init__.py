"""Noise types on images in [0, 1], each one file of this folder that registers itself.

A task in params.yaml names its `type`; that type's class checks the task's settings, turns
them into a concrete spec (a JSON-able dict stored with the noisy set: `{"type": "gaussian",
"sigma": 0.04}`), draws the noise, and says how the rest of the pipeline treats it: its level
for the robustness sweep, whether it is impulse-like (restore only the hit pixels) and its
classical baselines. Sampling is a pure function of the clean images, the spec and a generator,
so the fixed noisy sets (stage `noise`) and the fresh noise of every training batch match.
"""

import functools
import importlib
import pkgutil
import zlib
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from fer_denoise.settings import Settings, params_error

# A task may give its level as a range instead of one value (`sigma_range: [0.0, 0.3]`): every
# image then draws its own level, uniformly, from the task's seeded generator (blind denoisers).
# With `low_range` (inside the range), a share `low_share` of the images draws from it instead:
# a blind model then sees more of the faint noise that a uniform draw gives few faces.
LevelRange = Annotated[
    list[Annotated[float, Field(ge=0.0)]],
    Field(min_length=2, max_length=2, description="[lowest, highest] with lowest <= highest"),
]


class NoiseType(Settings):
    """One task's settings in params.yaml; the class says how its noise is drawn and scored."""

    type: str
    name: ClassVar[str]  # the `type` value in params.yaml
    level_key: ClassVar[str]  # the spec key of its strength (see `level` and `scaled`)
    level_setting: ClassVar[str | None] = None  # its params.yaml key, if not level_key
    # The values of `level_key` that the robustness sweep of `error_analysis` tries, for
    # every model of this noise type, the blind one included: the range users meet.
    sweep: ClassVar[tuple[float, ...]] = ()
    impulse: ClassVar[bool] = False  # hits some pixels and leaves the rest exactly as they were
    classical_baseline: ClassVar[str] = "median_3x3"  # fer_denoise.baselines.CLASSICAL
    tuned_filters: ClassVar[tuple[str, ...]] = ()  # fer_denoise.baselines.TUNED_FILTERS
    low_range: LevelRange | None = None
    low_share: float = Field(default=0.5, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _low_range_inside_the_range(self):
        """`low_range` only beside a range, and inside it."""
        if self.low_range is None:
            return self
        range_key = f"{self.level_key}_range"
        bounds = getattr(self, range_key, None)
        if bounds is None:
            raise ValueError(f"`low_range` needs `{range_key}` (a blind task's range)")
        low, high = self.low_range
        if not bounds[0] <= low <= high <= bounds[1]:
            raise ValueError(
                f"`low_range` must be [lowest, highest] inside `{range_key}` {bounds}; "
                f"got {self.low_range}"
            )
        return self

    def range_spec(self) -> dict[str, Any] | None:
        """The spec of a task with a level range (None for a fixed level): what `levels` reads."""
        bounds = getattr(self, f"{self.level_key}_range", None)
        if bounds is None:
            return None
        spec = {"type": self.name, f"{self.level_key}_range": list(bounds)}
        if self.low_range is not None:
            spec |= {"low_range": list(self.low_range), "low_share": self.low_share}
        return spec

    @model_validator(mode="after")
    def _one_level(self):
        """A task gives its level or its level's range (`<level_key>_range`), not both."""
        key, range_key = self.level_setting or self.level_key, f"{self.level_key}_range"
        if key not in type(self).model_fields or range_key not in type(self).model_fields:
            return self
        given = [name for name in (key, range_key) if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of `{key}` and `{range_key}`")
        bounds = getattr(self, range_key)
        if bounds is not None and bounds[0] > bounds[1]:
            raise ValueError(f"`{range_key}` must be [lowest, highest]; got {bounds}")
        return self

    def resolve(self, factor: float) -> dict[str, Any]:
        """The concrete noise this task draws; `factor` is params.yaml `noise.factor`."""
        raise NotImplementedError

    @staticmethod
    def sample(clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        """Noisy float32 images before clipping and 8-bit rounding (done by `add_noise`)."""
        raise NotImplementedError

    @classmethod
    def levels(cls, spec: dict[str, Any], count: int, rng: np.random.Generator):
        """Each image's level for a spec with a range (drawn first from `rng`), else None, so
        that fixed-level tasks draw exactly what they drew before ranges existed."""
        bounds = spec.get(f"{cls.level_key}_range")
        if bounds is None:
            return None
        levels = rng.uniform(bounds[0], bounds[1], count)
        low = spec.get("low_range")
        if low is not None:
            from_low = rng.random(count) < spec["low_share"]
            levels = np.where(from_low, rng.uniform(low[0], low[1], count), levels)
        return levels

    @classmethod
    def level(cls, spec: dict[str, Any]) -> float:
        """The strength of a spec, the x axis of the robustness sweep."""
        return spec[cls.level_key]

    @classmethod
    def family(cls) -> str:
        """The kind of model that restores it: `impulse` for impulse noise, else its name
        (a blind model per family ships in the package)."""
        return "impulse" if cls.impulse else cls.name

    @classmethod
    def sweep_specs(cls) -> list[dict[str, Any]]:
        """One fixed-level spec per level of `sweep`."""
        return [{"type": cls.name, cls.level_key: value} for value in cls.sweep]


REGISTRY: dict[str, type[NoiseType]] = {}


def register(cls: type[NoiseType]) -> type[NoiseType]:
    """Class decorator: make a noise type known by its `name`."""
    if cls.name in REGISTRY:
        raise ValueError(f"noise type {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


@functools.cache
def _import_every_type() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def noise_types() -> dict[str, type[NoiseType]]:
    """Every noise type (each module of this folder is imported on the first call)."""
    _import_every_type()
    return REGISTRY


def noise_type(name: str) -> type[NoiseType]:
    """The class of a registered noise type, or a ValueError listing them."""
    types = noise_types()
    if name not in types:
        raise ValueError(f"unknown noise type {name!r}; registered: {', '.join(types)}")
    return types[name]


def parse_task(key: str, raw: Any) -> NoiseType:
    """Check one params.yaml task (at `key`) with the settings of the type it names."""
    types = noise_types()
    if not isinstance(raw, dict) or "type" not in raw:
        raise params_error(f"{key}.type", f"is missing (one of {', '.join(types)})")
    if raw["type"] not in types:
        raise params_error(f"{key}.type", f"must be one of {', '.join(types)}; got {raw['type']!r}")
    return types[raw["type"]].parse(key, raw)


def add_noise(clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Noisy float32 copy of `clean` (floats in [0, 1]), clipped and rounded to 8-bit levels.

    Rounding to multiples of 1/255 makes fresh training noise match the stored uint8 noisy sets.
    """
    return draw_noise(clean, spec, rng)[0]


def draw_noise(
    clean: np.ndarray, spec: dict[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """`add_noise`, and each image's level when the spec gives a range (else None)."""
    kind = noise_type(spec["type"])
    clean = np.asarray(clean, dtype=np.float32)
    levels = kind.levels(spec, len(clean), rng)
    if levels is not None:  # one level per image, broadcast over its pixels
        spec = {k: v for k, v in spec.items() if k != f"{kind.level_key}_range"}
        spec[kind.level_key] = levels.reshape((-1,) + (1,) * (clean.ndim - 1))
    noisy = kind.sample(clean, spec, rng)
    return np.round(np.clip(noisy, 0.0, 1.0) * 255.0) / np.float32(255.0), levels


def noise_level(spec: dict[str, Any]) -> float:
    """The strength of a spec: sigma, impulse amount, ..."""
    return noise_type(spec["type"]).level(spec)


def family(spec: dict[str, Any]) -> str:
    """`impulse` or the noise type's name: which blind model restores this noise."""
    return noise_type(spec["type"]).family()


def is_impulse(spec: dict[str, Any]) -> bool:
    return noise_type(spec["type"]).impulse


def describe(spec: dict[str, Any]) -> str:
    """'gaussian, sigma 0.04', 'salt_pepper, amount 0.1' or 'gaussian, sigma_range 0-0.3'."""

    def value(v) -> str:
        return "-".join(f"{bound:g}" for bound in v) if isinstance(v, list) else f"{v:g}"

    return ", ".join([spec["type"]] + [f"{k} {value(v)}" for k, v in spec.items() if k != "type"])


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

"""Read params.yaml and check every value before a stage starts.

Each error names the key, what it should be and how to fix it, so that a typo in
`dvc exp run -S ...` fails at once instead of an hour into training.
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fer_denoise.errors import UserError

PARAMS_FILE = "params.yaml"
TASK_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its type, bounds or choices, and whether it may be null."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str | int, ...] | None = None
    nullable: bool = False
    required: bool = True

    def check(self, key: str, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise _error(key, f"must be set ({self.describe()})")
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise _error(key, f"must be {self.describe()}, got {value!r}")
        if self.kind is float and not math.isfinite(value):  # NaN passes every comparison
            raise _error(key, f"must be a finite number ({self.describe()}), got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise _error(key, f"must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        too_low = self.low is not None and (
            value <= self.low if self.low_open else value < self.low
        )
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            raise _error(key, f"must be {self.describe()}, got {value!r}")
        return value

    def describe(self) -> str:
        text = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[
            self.kind
        ]
        if self.low is not None:
            text += f" {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            text += f" {'and ' if self.low is not None else ''}<= {self.high}"
        return text + (" or null" if self.nullable else "")


@dataclass(frozen=True)
class Grid:
    """A non-empty list of positive numbers: the settings a tuned filter is tried with."""

    required: bool = True

    def check(self, key: str, value: Any) -> list[float]:
        numbers = (
            isinstance(value, list)
            and value
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in value
            )
        )
        if not numbers or min(value) <= 0:
            raise _error(key, f"must be {self.describe()}, got {value!r}")
        return [float(v) for v in value]

    def describe(self) -> str:
        return "a non-empty list of positive numbers, such as [0.5, 1.0]"


# fer2013: the competition CSV or Kaggle's image-folder zip, 48x48 grayscale with emotion labels.
# images: any folder or zip of same-size PNG / JPEG images, no labels (image_folders.py).
DATASETS = ("fer2013", "images")
FER2013_SHAPE = {"image_size": 48, "channels": 1}

NOISE_TYPES: dict[str, dict[str, Field]] = {
    "gaussian": {
        "type": Field(str),
        "std": Field(float, low=0.0, low_open=True, high=10.0),
        "factor": Field(float, low=0.0, low_open=True, high=10.0, required=False),
    },
    "salt_pepper": {
        "type": Field(str),
        "amount": Field(float, low=0.0, low_open=True, high=1.0),
    },
}

SCHEMA: dict[str, dict[str, Field | Grid]] = {
    "data": {
        "dataset": Field(str, choices=DATASETS),
        "source": Field(str),
        "md5": Field(str, nullable=True),
        "limit": Field(int, low=1, nullable=True),
        "image_size": Field(int, low=8, high=1024),
        "channels": Field(int, choices=(1, 3)),
        "val_fraction": Field(float, low=0.0, low_open=True, high=0.5),
        "test_fraction": Field(float, low=0.0, low_open=True, high=0.5),
        "split_seed": Field(int, low=0),
    },
    "noise": {
        "seed": Field(int, low=0),
        "factor": Field(float, low=0.0, low_open=True, high=10.0),
        # "tasks" is checked by _check_tasks: its keys are the user's task names.
    },
    "models": {},  # one section per model name, checked against MODEL_SCHEMAS
    "extra_models": {},  # {models, tasks}, checked by _check_extra_models
    "train": {
        "seed": Field(int, low=0),
        "epochs": Field(int, low=1),
        "batch_size": Field(int, low=1, high=4096),
        "learning_rate": Field(float, low=0.0, low_open=True, high=1.0),
        "loss": Field(str, choices=("mse", "mae", "l1+ssim")),
        "fresh_noise": Field(bool),
        "switching_output": Field(bool),
        "flip": Field(bool),
        "shift": Field(float, low=0.0, high=0.5),
        "early_stopping_patience": Field(int, low=1),
        "reduce_lr_patience": Field(int, low=1),
        "reduce_lr_factor": Field(float, low=0.0, low_open=True, high=1.0),
        "distribute": Field(str, choices=("none", "mirrored")),
    },
    "fine_tune": {
        "epochs": Field(int, low=1),
        "learning_rate": Field(float, low=0.0, low_open=True, high=1.0),
        "frozen_epochs": Field(int, low=0),
    },
    "curriculum": {},  # task -> {init}, checked by _check_curriculum
    "gan": {
        "epochs": Field(int, low=1),
        "steps_per_epoch": Field(int, low=1, nullable=True),
        "batch_size": Field(int, low=1, high=4096),
        "generator_learning_rate": Field(float, low=0.0, low_open=True, high=1.0),
        "discriminator_learning_rate": Field(float, low=0.0, low_open=True, high=1.0),
        "content_loss": Field(str, choices=("mse", "mae")),
        "adversarial_weight": Field(float, low=0.0),
        "label_smoothing": Field(float, low=0.0, high=0.5),
        "discriminator_filters": Field(int, low=1, high=512),
        "discriminator_layers": Field(int, low=1, high=4),
    },
    "classifier": {
        "seed": Field(int, low=0),
        "epochs": Field(int, low=1),
        "batch_size": Field(int, low=1, high=4096),
        "learning_rate": Field(float, low=0.0, low_open=True, high=1.0),
        "early_stopping_patience": Field(int, low=1),
        "width": Field(int, low=1, high=512),
        "blocks": Field(int, low=1, high=4),
        "batch_norm": Field(bool),
        "dropout": Field(float, low=0.0, high=0.9),
        "flip": Field(bool),
        "shift": Field(float, low=0.0, high=0.5),
    },
    "analysis": {
        "edge_fraction": Field(float, low=0.0, low_open=True, high=1.0),
        "flat_fraction": Field(float, low=0.0, low_open=True, high=1.0),
        "worst_images": Field(int, low=1, high=64),
        "robustness_images": Field(int, low=1),
        "noise_scale_min": Field(float, low=0.0, low_open=True, high=10.0),
        "noise_scale_max": Field(float, low=0.0, low_open=True, high=10.0),
        "noise_levels": Field(int, low=1, high=50),
    },
    "baselines": {
        "tune_images": Field(int, low=1),
        "bm3d_images": Field(int, low=1),
        "gaussian_blur": Grid(),
        "tv_chambolle": Grid(),
        "wavelet": Grid(),
        "nl_means": Grid(),
        "bm3d": Grid(),
    },
    "evaluate": {
        "grid_images": Field(int, low=1, high=64),
        "switching_median_guard": Field(int, low=0, high=8),
    },
}

UNET_FAMILY = {
    "depth": Field(int, low=1, high=4),
    "base_filters": Field(int, low=1, high=512),
    "batch_norm": Field(bool),
    "residual": Field(bool),
}

MODEL_SCHEMAS: dict[str, dict[str, Field]] = {
    "unet": UNET_FAMILY,
    "attention_unet": UNET_FAMILY,
    "autoencoder": {
        "depth": Field(int, low=1, high=4),
        "base_filters": Field(int, low=1, high=512),
        "dropout": Field(float, low=0.0, high=0.9),
        "residual": Field(bool),
    },
    "dncnn": {
        "depth": Field(int, low=2, high=30),
        "width": Field(int, low=1, high=512),
        "batch_norm": Field(bool),
    },
}

# The models the default chain trains by itself (train_unet, attention_unet): not extra models.
CHAIN_MODELS = ("unet", "attention_unet")

# The weights a curriculum task starts from: a saved model, or this file for random weights.
SCRATCH = "src/fer_denoise/models/attention_unet.py"


def _error(key: str, problem: str) -> UserError:
    return UserError(
        f"{PARAMS_FILE}: `{key}` {problem}. Fix it in {PARAMS_FILE} "
        f"(or override it with `dvc exp run -S {key}=...`)."
    )


def _check_section(prefix: str, values: Any, fields: dict[str, Field | Grid]) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise _error(prefix, f"must be a mapping of keys, got {values!r}")
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise _error(f"{prefix}.{unknown[0]}", f"is not a known key (known: {', '.join(fields)})")
    checked = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}"
        if name not in values:
            if field.required:
                raise _error(key, f"is missing ({field.describe()})")
            continue
        checked[name] = field.check(key, values[name])
    return checked


def _check_tasks(tasks: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(tasks, dict) or not tasks:
        raise _error("noise.tasks", "must map task names to noise settings (at least one task)")
    checked = {}
    for name, task in tasks.items():
        if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
            raise _error(
                f"noise.tasks.{name!r}",
                "is not a valid task name: use lower-case letters, digits and _, starting with a "
                "letter (it names files), with no spaces or line breaks",
            )
        key = f"noise.tasks.{name}"
        if not isinstance(task, dict) or "type" not in task:
            raise _error(f"{key}.type", f"is missing (one of {', '.join(NOISE_TYPES)})")
        noise_type = task["type"]
        if noise_type not in NOISE_TYPES:
            choices = ", ".join(NOISE_TYPES)
            raise _error(f"{key}.type", f"must be one of {choices}; got {noise_type!r}")
        checked[name] = _check_section(key, task, NOISE_TYPES[noise_type])
    return checked


def _check_models(models: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(models, dict):
        raise _error("models", "must map model names to their settings")
    unknown = sorted(set(models) - set(MODEL_SCHEMAS))
    if unknown:
        raise _error(f"models.{unknown[0]}", f"is not a known model ({', '.join(MODEL_SCHEMAS)})")
    return {
        name: _check_section(f"models.{name}", models[name], MODEL_SCHEMAS[name]) for name in models
    }


def _check_extra_models(extra: Any, models: dict, tasks: dict) -> dict[str, list[str]]:
    if not isinstance(extra, dict) or set(extra) != {"models", "tasks"}:
        raise _error("extra_models", "must hold exactly two lists, `models` and `tasks`")
    choices = {
        "models": [name for name in models if name not in CHAIN_MODELS],
        "tasks": list(tasks),
    }
    for key, allowed in choices.items():
        values = extra[key]
        if not isinstance(values, list) or any(value not in allowed for value in values):
            raise _error(
                f"extra_models.{key}",
                f"must be a list of names from {', '.join(allowed) or '(none)'}; got {values!r}",
            )
        if len(set(values)) != len(values):
            raise _error(f"extra_models.{key}", f"lists a name twice: {values!r}")
    return {"models": list(extra["models"]), "tasks": list(extra["tasks"])}


def _check_curriculum(curriculum: Any, tasks: dict[str, Any]) -> dict[str, dict[str, str]]:
    if not isinstance(curriculum, dict):
        raise _error("curriculum", "must map task names, in training order, to {init: ...}")
    checked = {}
    for task, entry in curriculum.items():
        key = f"curriculum.{task}"
        if task not in tasks:
            raise _error(key, f"is not a task of noise.tasks ({', '.join(tasks)})")
        if not isinstance(entry, dict) or set(entry) != {"init"}:
            raise _error(key, "must hold exactly one key, `init`")
        init = entry["init"]
        if not isinstance(init, str) or not (init.endswith(".keras") or init == SCRATCH):
            raise _error(
                f"{key}.init",
                f"must be a saved model (models/<model>/<task>.keras) or {SCRATCH} for random "
                f"weights; got {init!r}",
            )
        checked[task] = {"init": init}
    return checked


def validate(raw: Any) -> dict[str, Any]:
    """Return the checked params, or raise a UserError naming the first bad key."""
    if not isinstance(raw, dict):
        raise UserError(f"{PARAMS_FILE} must hold a mapping of sections ({', '.join(SCHEMA)})")
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise _error(unknown[0], f"is not a known section (known: {', '.join(SCHEMA)})")
    params: dict[str, Any] = {}
    for section, fields in SCHEMA.items():
        values = raw.get(section)
        if values is None:
            raise _error(section, "is missing")
        if section == "noise" and isinstance(values, dict):
            rest = {k: v for k, v in values.items() if k != "tasks"}
            params["noise"] = _check_section("noise", rest, fields)
            params["noise"]["tasks"] = _check_tasks(values.get("tasks"))
        elif section == "models":
            params["models"] = _check_models(values)
        elif section == "extra_models":
            params["extra_models"] = _check_extra_models(
                values, params["models"], params["noise"]["tasks"]
            )
        elif section == "curriculum":
            params["curriculum"] = _check_curriculum(values, params["noise"]["tasks"])
        else:
            params[section] = _check_section(section, values, fields)
    _check_dataset_shape(params["data"])
    return params


def _check_dataset_shape(data: dict[str, Any]) -> None:
    """FER2013 faces are 48x48 grayscale: other sizes and channels are for `images` datasets."""
    if data["dataset"] != "fer2013":
        return
    for key, value in FER2013_SHAPE.items():
        if data[key] != value:
            raise _error(
                f"data.{key}",
                f"is {data[key]}, but FER2013 faces have {key} {value}; set it to {value}, or "
                "data.dataset to `images` for a dataset of your own",
            )


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Read and validate params.yaml (safe_load: no Python objects from YAML)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run the stage from the repository root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from error
    return validate(raw)


def task_params(params: dict[str, Any], task: str) -> dict[str, Any]:
    """The settings of one noise task, or an error listing the tasks that exist."""
    tasks = params["noise"]["tasks"]
    if task not in tasks:
        raise UserError(f"unknown task {task!r}: {PARAMS_FILE} defines {', '.join(tasks)}")
    return tasks[task]

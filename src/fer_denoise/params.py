"""params.yaml as typed sections, each checked before a stage starts.

A stage reads attributes (`params.train.epochs`). Noise tasks are checked by their noise type
(fer_denoise.noise); a model's section is checked by the model's own settings when a stage
builds it (fer_denoise.models), since models import Keras and the data stages do not.
"""

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from fer_denoise import noise
from fer_denoise.errors import UserError
from fer_denoise.paths import blind_model_path, extra_model_path, model_path
from fer_denoise.settings import PARAMS_FILE, Settings, params_error

TASK_NAME = re.compile(r"[a-z][a-z0-9_]*")
FER2013_SHAPE = {"image_size": 48, "channels": 1}

# The models the default chain trains by itself (train_unet, attention_unet): not extra models.
CHAIN_MODELS = ("unet", "attention_unet")
EXTRA_MODELS_DIR = Path(__file__).parent / "models" / "extra"

# The weights a curriculum task starts from: a saved model, or for random weights the
# architecture's source file (dvc.yaml lists `init` as a dependency, so it must be a file).
SCRATCH = "src/fer_denoise/models/attention_unet.py"

Fraction = Annotated[float, Field(gt=0.0, le=0.5)]
Rate = Annotated[float, Field(gt=0.0, le=1.0)]
Count = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]
BatchSize = Annotated[int, Field(ge=1, le=4096)]
Grid = Annotated[
    list[Annotated[float, Field(gt=0.0)]],
    Field(min_length=1, description="a non-empty list of positive numbers, such as [0.5, 1.0]"),
]


class Data(Settings):
    # fer2013: the competition CSV or Kaggle's image-folder zip, 48x48 grayscale, labelled.
    # images: any folder or zip of same-size PNG / JPEG images, no labels (image_folders.py).
    dataset: Literal["fer2013", "images"]
    source: str
    md5: str | None
    limit: int | None = Field(ge=1)
    image_size: int = Field(ge=8, le=1024)
    channels: Literal[1, 3]
    val_fraction: Fraction
    test_fraction: Fraction
    split_seed: Seed


class Noise(Settings):
    seed: Seed
    factor: float = Field(gt=0.0, le=10.0)
    # task name -> its noise type's settings; under `train` the task's own values of `train`
    # keys, under `models` its own values of a model's keys (checked in `validate`; training
    # stages read them through `Params.train_for` and `Params.models_for`)
    tasks: dict[str, Any]


class ExtraModels(Settings):
    models: list[str]
    tasks: list[str]


class Train(Settings):
    seed: Seed
    epochs: Count
    batch_size: BatchSize
    learning_rate: Rate
    loss: Literal["mse", "mae", "l1+ssim", "psnr", "rmse"]
    schedule: Literal["plateau", "cosine", "cosine_tail"]
    fresh_noise: bool
    switching_output: bool
    impulse_input: bool
    flip: bool
    shift: float = Field(ge=0.0, le=0.5)
    early_stopping_patience: Count
    reduce_lr_patience: Count
    reduce_lr_factor: Rate
    distribute: Literal["none", "mirrored"]
    precision: Literal["float32", "mixed_bfloat16"]  # see fer_denoise/precision.py


class FineTune(Settings):
    epochs: Count
    learning_rate: Rate
    frozen_epochs: int = Field(ge=0)


class CurriculumStep(Settings):
    init: str
    # its own values of `fine_tune` keys, so one task's Attention U-Net can train longer
    fine_tune: FineTune


class BlindTask(Settings):
    noise: Any  # its noise type's settings, with a level range (checked in `validate`)
    init: str  # the saved model it starts from (its architecture is the blind model's)
    # its own values of `train` keys (epochs, learning rate, loss, ...), as a noise task has them
    # under noise.tasks.<task>.train: changing them reruns this model alone, not every training
    train: dict[str, Any] = Field(default_factory=dict)
    # its own values of a model's keys (model name -> keys), as under noise.tasks.<task>.models;
    # the blind model must keep the widths of its `init` to start from it
    models: dict[str, Any] = Field(default_factory=dict)


class Blind(Settings):
    model: str  # the architecture of every blind model; `init` is a model of it
    tasks: dict[str, Any]  # task name -> BlindTask (checked in `validate`)


class Gan(Settings):
    epochs: Count
    steps_per_epoch: int | None = Field(ge=1)
    batch_size: BatchSize
    generator_learning_rate: Rate
    discriminator_learning_rate: Rate
    content_loss: Literal["mse", "mae"]
    adversarial_weight: float = Field(ge=0.0)
    label_smoothing: float = Field(ge=0.0, le=0.5)
    discriminator_filters: int = Field(ge=1, le=512)
    discriminator_layers: int = Field(ge=1, le=4)


class Classifier(Settings):
    seed: Seed
    epochs: Count
    batch_size: BatchSize
    learning_rate: Rate
    early_stopping_patience: Count
    width: int = Field(ge=1, le=512)
    blocks: int = Field(ge=1, le=4)
    batch_norm: bool
    dropout: float = Field(ge=0.0, le=0.9)
    flip: bool
    shift: float = Field(ge=0.0, le=0.5)


class Analysis(Settings):
    edge_fraction: Rate
    flat_fraction: Rate
    worst_images: int = Field(ge=1, le=64)
    robustness_images: Count


class Baselines(Settings):
    tune_images: Count
    bm3d_images: Count
    gaussian_blur: Grid
    tv_chambolle: Grid
    wavelet: Grid
    nl_means: Grid
    bm3d: Grid


class Evaluate(Settings):
    grid_images: int = Field(ge=1, le=64)
    switching_median_guard: int = Field(ge=0, le=8)
    flip_ensemble: bool


SECTIONS: dict[str, type[Settings] | None] = {
    "data": Data,
    "noise": Noise,
    "models": None,  # model name -> its settings, checked by fer_denoise.models
    "extra_models": ExtraModels,
    "train": Train,
    "fine_tune": FineTune,
    "curriculum": None,  # task -> CurriculumStep, in training order
    "blind": Blind,
    "gan": Gan,
    "classifier": Classifier,
    "analysis": Analysis,
    "baselines": Baselines,
    "evaluate": Evaluate,
}


class Params(Settings):
    """Every section of params.yaml, checked."""

    data: Data
    noise: Noise
    models: dict[str, dict[str, Any]]
    extra_models: ExtraModels
    train: Train
    fine_tune: FineTune
    curriculum: dict[str, CurriculumStep]
    blind: Blind
    gan: Gan
    classifier: Classifier
    analysis: Analysis
    baselines: Baselines
    evaluate: Evaluate
    # noise task -> its own values of `train` keys (noise.tasks.<task>.train)
    task_train: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # noise task -> model name -> its own values of the model's keys (noise.tasks.<task>.models)
    task_models: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def all_tasks(self) -> dict[str, noise.NoiseType]:
        """Every task's noise: the fixed-level tasks of `noise.tasks`, then the blind ones."""
        return self.noise.tasks | {name: task.noise for name, task in self.blind.tasks.items()}

    def task(self, name: str) -> noise.NoiseType:
        """The noise settings of one task, or an error listing the tasks that exist."""
        tasks = self.all_tasks()
        if name not in tasks:
            raise UserError(f"unknown task {name!r}: {PARAMS_FILE} defines {', '.join(tasks)}")
        return tasks[name]

    def spec(self, name: str) -> dict[str, Any]:
        """The concrete noise of one task (sigma, amount, ...), as stored with its noisy set."""
        return self.task(name).resolve(self.noise.factor)

    def _own_values(self, task: str, section: str) -> tuple[str, dict[str, Any]]:
        """A task's own values of `section` ("train" or "models") and the key they sit under:
        `noise.tasks.<task>.<section>`, or a blind task's `blind.tasks.<task>.<section>`."""
        if task in self.blind.tasks:
            own = getattr(self.blind.tasks[task], section)
            key = f"blind.tasks.{task}.{section}"
        else:
            own = {"train": self.task_train, "models": self.task_models}[section].get(task, {})
            key = f"noise.tasks.{task}.{section}"
        if not isinstance(own, dict):
            what = "keys of `train`" if section == "train" else "model names"
            raise params_error(key, f"must map {what} to this task's values, got {own!r}")
        return key, own

    def train_for(self, task: str) -> Train:
        """The `train` settings of one task: the section with the task's own values on top."""
        key, own = self._own_values(task, "train")
        return Train.parse(key, {**self.train.model_dump(), **own})

    def models_for(self, task: str) -> dict[str, dict[str, Any]]:
        """Every model's settings for one task: `models` with the task's own values on top, so
        one task can train wider networks than the rest."""
        key, own = self._own_values(task, "models")
        for name, values in own.items():
            if name not in self.models:
                known = ", ".join(self.models)
                raise params_error(f"{key}.{name}", f"is not a model of `models` ({known})")
            if not isinstance(values, dict):
                raise params_error(f"{key}.{name}", f"must be a mapping of keys, got {values!r}")
        return {name: {**values, **own.get(name, {})} for name, values in self.models.items()}

    def trained_models(self, task: str) -> dict[str, Path]:
        """The models that dvc.yaml trains for `task`: the U-Net, then the curriculum's two."""
        models = {"unet": model_path("unet", task)}
        if task in self.curriculum:
            models |= {name: model_path(name, task) for name in ("attention_unet", "gan")}
        return models

    def blind_models(self) -> dict[str, Path]:
        """Noise family (`impulse`, `gaussian`, ...) -> the blind model trained for it."""
        return {
            task.noise.family(): blind_model_path(name) for name, task in self.blind.tasks.items()
        }

    def blind_model_for(self, task: str) -> dict[str, Path]:
        """{"blind": path} when a blind model restores the noise family of `task`, else {}."""
        path = self.blind_models().get(self.task(task).family())
        return {} if path is None else {"blind": path}

    def extra_models_of(self, task: str) -> dict[str, Path]:
        """The extra models (params.yaml extra_models) trained for `task`."""
        if task not in self.extra_models.tasks:
            return {}
        return {name: extra_model_path(name, task) for name in self.extra_models.models}

    def model_file(self, model: str, task: str) -> Path:
        """Where a training stage saves `model` trained on `task`."""
        if task in self.blind.tasks:
            return blind_model_path(task)
        return model_path(model, task) if model in CHAIN_MODELS else extra_model_path(model, task)


def model_names() -> list[str]:
    """The models params.yaml may configure: the chain's and one per file of models/extra."""
    extras = sorted(p.stem for p in EXTRA_MODELS_DIR.glob("*.py") if not p.stem.startswith("_"))
    return [*CHAIN_MODELS, *extras]


def _check_tasks(tasks: Any) -> tuple[dict[str, noise.NoiseType], dict[str, Any], dict[str, Any]]:
    """Each task's noise, its own `train` values and its own model values (checked by
    `_check_task_overrides`)."""
    if not isinstance(tasks, dict) or not tasks:
        raise params_error("noise.tasks", "must map task names to noise settings (at least one)")
    checked, task_train, task_models = {}, {}, {}
    for name, task in tasks.items():
        if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
            raise params_error(
                f"noise.tasks.{name!r}",
                "is not a valid task name: use lower-case letters, digits and _, starting with a "
                "letter (it names files), with no spaces or line breaks",
            )
        if isinstance(task, dict):
            task = dict(task)
            if "train" in task:
                task_train[name] = task.pop("train")
            if "models" in task:
                task_models[name] = task.pop("models")
        checked[name] = noise.parse_task(f"noise.tasks.{name}", task)
    return checked, task_train, task_models


def _check_models(models: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(models, dict):
        raise params_error("models", "must map model names to their settings")
    known = model_names()
    for name, settings in models.items():
        if name not in known:
            raise params_error(f"models.{name}", f"is not a known model ({', '.join(known)})")
        if not isinstance(settings, dict):
            raise params_error(f"models.{name}", f"must be a mapping of keys, got {settings!r}")
    return models


def _check_extra_models(extra: ExtraModels, models: dict, tasks: dict) -> None:
    choices = {
        "models": [name for name in models if name not in CHAIN_MODELS],
        "tasks": list(tasks),
    }
    for key, allowed in choices.items():
        values = getattr(extra, key)
        if any(value not in allowed for value in values):
            raise params_error(
                f"extra_models.{key}",
                f"must be a list of names from {', '.join(allowed) or '(none)'}; got {values!r}",
            )
        if len(set(values)) != len(values):
            raise params_error(f"extra_models.{key}", f"lists a name twice: {values!r}")


def _check_curriculum(
    curriculum: Any, tasks: dict, defaults: FineTune
) -> dict[str, CurriculumStep]:
    """Each curriculum task's `init` and its `fine_tune`: the section with its own values on top."""
    if not isinstance(curriculum, dict):
        raise params_error("curriculum", "must map task names, in training order, to {init: ...}")
    checked = {}
    for task, entry in curriculum.items():
        key = f"curriculum.{task}"
        if task not in tasks:
            raise params_error(key, f"is not a task of noise.tasks ({', '.join(tasks)})")
        if not isinstance(entry, dict) or "init" not in entry or set(entry) - {"init", "fine_tune"}:
            raise params_error(
                key, "must hold `init` and, optionally, `fine_tune` (this task's own values)"
            )
        init = entry["init"]
        if not isinstance(init, str) or not (init.endswith(".keras") or init == SCRATCH):
            raise params_error(
                f"{key}.init",
                f"must be a saved model (models/<model>/<task>.keras) or {SCRATCH} for random "
                f"weights; got {init!r}",
            )
        own = entry.get("fine_tune", {})
        if not isinstance(own, dict):
            raise params_error(
                f"{key}.fine_tune", f"must map keys of `fine_tune` to values, got {own!r}"
            )
        fine_tune = FineTune.parse(f"{key}.fine_tune", {**defaults.model_dump(), **own})
        checked[task] = CurriculumStep(init=init, fine_tune=fine_tune)
    return checked


def _check_blind(blind: Blind, models: dict, fixed_tasks: dict) -> Blind:
    """Blind tasks: valid new task names with a noise and an `init` model, one per family."""
    if blind.model not in models:
        raise params_error("blind.model", f"must be a model of `models` ({', '.join(models)})")
    checked, families = {}, {}
    for name, entry in blind.tasks.items():
        key = f"blind.tasks.{name}"
        if name in fixed_tasks or not isinstance(name, str) or not TASK_NAME.fullmatch(name):
            raise params_error(
                key,
                "must be a new task name (not one of noise.tasks): lower-case letters, "
                "digits and _, starting with a letter",
            )
        step = BlindTask.parse(key, entry)
        if not step.init.endswith(".keras"):
            raise params_error(f"{key}.init", f"must be a saved model (.keras); got {step.init!r}")
        kind = noise.parse_task(f"{key}.noise", step.noise)
        if kind.family() in families:
            raise params_error(
                key,
                f"restores {kind.family()} noise, as {families[kind.family()]} does: keep "
                "one blind task per noise family (each ships as that family's model)",
            )
        families[kind.family()] = name
        checked[name] = step.model_copy(update={"noise": kind})
    return blind.model_copy(update={"tasks": checked})


def _check_task_overrides(params: Params) -> None:
    for task in params.all_tasks():
        params.train_for(task)
        params.models_for(task)


def _check_dataset_shape(data: Data) -> None:
    """FER2013 faces are 48x48 grayscale: other sizes and channels are for `images` datasets."""
    if data.dataset != "fer2013":
        return
    for key, value in FER2013_SHAPE.items():
        if getattr(data, key) != value:
            raise params_error(
                f"data.{key}",
                f"is {getattr(data, key)}, but FER2013 faces have {key} {value}; set it to "
                f"{value}, or data.dataset to `images` for a dataset of your own",
            )


def validate(raw: Any) -> Params:
    """Return the checked params, or raise a UserError naming the first bad key."""
    if not isinstance(raw, dict):
        raise UserError(f"{PARAMS_FILE} must hold a mapping of sections ({', '.join(SECTIONS)})")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise params_error(unknown[0], f"is not a known section (known: {', '.join(SECTIONS)})")
    sections: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        if raw.get(name) is None:
            raise params_error(name, "is missing")
        if section is not None:
            sections[name] = section.parse(name, raw[name])
    tasks, task_train, task_models = _check_tasks(raw["noise"].get("tasks"))
    sections["noise"] = sections["noise"].model_copy(update={"tasks": tasks})
    sections["models"] = _check_models(raw["models"])
    _check_extra_models(sections["extra_models"], sections["models"], tasks)
    sections["curriculum"] = _check_curriculum(raw["curriculum"], tasks, sections["fine_tune"])
    sections["blind"] = _check_blind(sections["blind"], sections["models"], tasks)
    _check_dataset_shape(sections["data"])
    params = Params.model_construct(**sections, task_train=task_train, task_models=task_models)
    _check_task_overrides(params)
    return params


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml (safe_load: no Python objects from YAML)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run the stage from the repository root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from error
    return validate(raw)

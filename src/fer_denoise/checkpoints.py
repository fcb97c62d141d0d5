"""Per-epoch training checkpoints: a killed training stage resumes from its last finished epoch.

A checkpoint lives in models/checkpoints/<model>/<task>/ (the classifier's in
models/checkpoints/classifier/), outside DVC's outputs (DVC deletes a stage's outputs before it
reruns the stage) and out of git. It holds the networks' variables, the optimizers' variables
(learning rate and moments included), the best weights so far and the TrainingState.
A fingerprint of the params, the input data and the package's code makes sure that only the
same run resumes it; the stage deletes it once the model is saved.
"""

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

import fer_denoise
from fer_denoise.errors import UserError
from fer_denoise.files import atomic_path
from fer_denoise.paths import CHECKPOINT_DIR
from fer_denoise.training import (
    EpochBatches,
    PlateauSchedule,
    ProgressLog,
    StartEpoch,
    TrainingState,
)

PACKAGE_DIR = Path(fer_denoise.__file__).parent


def fingerprint(config: dict, inputs: list[Path]) -> str:
    """A digest of what determines the run: settings, input files and this package's code."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    sources = sorted(PACKAGE_DIR.rglob("*.py"))
    for path in [*inputs, *sources]:
        with open(path, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def check_writable(directory: Path) -> None:
    """Fail before the first epoch, not after it, when checkpoints cannot be written."""
    probe = directory.parent / f".tmp-probe-{directory.name}"
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(
            f"cannot write the training checkpoint in {directory.parent} "
            f"({error.strerror or error}); make {CHECKPOINT_DIR} a writable folder, then rerun"
        ) from error


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, *arrays)


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def network_variables(models: list[keras.Model]) -> list:
    """Every variable of several networks as one list (a GAN's two, a denoiser's one): the
    weights and the random layers' seed states, which decide a resumed epoch's augmentations
    and dropout."""
    return [variable for model in models for variable in model.variables]


def optimizer_variables(models: list[keras.Model]) -> list:
    """Every variable of the networks' optimizers (moments, step counts, learning rate)."""
    return [variable for model in models for variable in model.optimizer.variables]


def values_of(variables: list) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def assign(variables: list, values: list[np.ndarray], what: str) -> None:
    """Give `variables` the saved `values`; a checkpoint of other networks is an error."""
    if len(variables) != len(values):
        raise ValueError(
            f"the checkpoint does not fit the models: {len(values)} saved arrays of {what}, "
            f"{len(variables)} in the models"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


@dataclass
class Checkpoint:
    """A finished epoch: the networks' variables (weights and seed states), the optimizers'
    variables, the best weights, the state."""

    state: TrainingState
    variables: list[np.ndarray]
    optimizer: list[np.ndarray]
    best_weights: list[np.ndarray]


def load_checkpoint(directory: Path, run_fingerprint: str) -> Checkpoint | None:
    """The checkpoint in `directory`, or None (deleting it) when it belongs to other params,
    data or code."""
    state_file = directory / "state.json"
    if not state_file.is_file():
        return None
    saved = json.loads(state_file.read_text())
    if saved.pop("fingerprint") != run_fingerprint:
        print(f"{directory} is from other params, data or code: starting afresh")
        shutil.rmtree(directory)
        return None
    return Checkpoint(
        TrainingState(**saved),
        _load_arrays(directory / "variables.npz"),
        _load_arrays(directory / "optimizer.npz"),
        _load_arrays(directory / "best_weights.npz"),
    )


class TrainingRun:
    """One training stage's checkpoint: every training stage (denoisers, the GAN, the emotion
    classifier) saves one after each epoch and resumes from it the same way.

    `models` are the compiled networks whose weights and optimizers make up the run: a
    denoiser or the classifier is one; the GAN is its discriminator and its generator's trainer.
    """

    def __init__(self, directory: Path, config: dict, inputs: list[Path]):
        check_writable(directory)
        self.directory = directory
        self.fingerprint = fingerprint(config, inputs)
        self.checkpoint = load_checkpoint(directory, self.fingerprint)
        self.state = self.checkpoint.state if self.checkpoint else TrainingState()
        self.best_weights = self.checkpoint.best_weights if self.checkpoint else None

    def resume(self, models: list[keras.Model]) -> bool:
        """Load the checkpoint's variables into `models`; False when there is none."""
        if not self.checkpoint:
            return False
        assign(network_variables(models), self.checkpoint.variables, "variables")
        print(f"resuming from {self.directory} after epoch {self.state.epochs_done}")
        return True

    def restore_optimizers(self, models: list[keras.Model]) -> None:
        """Give the compiled models' optimizers the saved moments and step counts."""
        for model in models:
            model.optimizer.build(model.trainable_variables)
        assign(optimizer_variables(models), self.checkpoint.optimizer, "optimizer state")

    def save(self, models: list[keras.Model], best_weights: list[np.ndarray]) -> None:
        """Write the whole checkpoint under a temporary name, then rename it into place."""
        try:
            with atomic_path(self.directory) as tmp:
                tmp.mkdir()
                _save_arrays(tmp / "variables.npz", values_of(network_variables(models)))
                _save_arrays(tmp / "optimizer.npz", values_of(optimizer_variables(models)))
                _save_arrays(tmp / "best_weights.npz", best_weights)
                state = {"fingerprint": self.fingerprint, **asdict(self.state)}
                (tmp / "state.json").write_text(json.dumps(state, indent=1))
        except OSError as error:
            raise UserError(
                f"cannot write the training checkpoint {self.directory} "
                f"({error.strerror or error}); free some space, or make the folder writable, "
                "then rerun to resume"
            ) from error

    def finish(self) -> None:
        """Delete the checkpoint once the trained model is saved."""
        shutil.rmtree(self.directory)


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the run's checkpoint after each epoch of `fit`, once the schedule has updated its
    state."""

    def __init__(self, run: TrainingRun, schedule: PlateauSchedule):
        super().__init__()
        self.run, self.schedule = run, schedule

    def on_epoch_end(self, epoch, logs=None):
        self.run.save([self.model], self.schedule.best_weights)


def fit_resumable(
    model: keras.Model,
    batches: EpochBatches,
    validation: tuple[np.ndarray, np.ndarray],
    run: TrainingRun,
    schedule: PlateauSchedule,
    metrics_log: keras.callbacks.Callback,
    end: int,
    total_epochs: int,
) -> None:
    """`model.fit` from the run's next epoch up to epoch `end` (of `total_epochs`), with the
    callbacks that every `fit` of the pipeline shares: the epoch's batch order, the schedule,
    the checkpoint, progress lines and dvclive."""
    model.fit(
        batches,
        validation_data=validation,
        initial_epoch=run.state.epochs_done,
        epochs=end,
        shuffle=False,  # the batches shuffle themselves, repeatably (StartEpoch)
        verbose=0,
        callbacks=[
            StartEpoch(batches),
            schedule,
            EpochCheckpoint(run, schedule),
            ProgressLog(total_epochs, len(batches), batches.batch_size),
            metrics_log,
        ],
    )

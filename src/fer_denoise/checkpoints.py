"""Per-epoch training checkpoints: a killed training stage resumes from its last finished epoch.

A checkpoint lives in models/checkpoints/<model>/<task>/, outside DVC's outputs (DVC deletes a
stage's outputs before it reruns the stage) and out of git. It holds the weights, the optimizer's
variables (learning rate and moments included), the best weights so far and the TrainingState.
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
from fer_denoise.training import PlateauSchedule, TrainingState

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


def save_checkpoint(
    directory: Path,
    run_fingerprint: str,
    state: TrainingState,
    model: keras.Model,
    best_weights: list[np.ndarray],
) -> None:
    """Write the whole checkpoint under a temporary name, then rename it into place."""
    try:
        with atomic_path(directory) as tmp:
            tmp.mkdir()
            _save_arrays(tmp / "weights.npz", model.get_weights())
            optimizer = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
            _save_arrays(tmp / "optimizer.npz", optimizer)
            _save_arrays(tmp / "best_weights.npz", best_weights)
            state_json = {"fingerprint": run_fingerprint, **asdict(state)}
            (tmp / "state.json").write_text(json.dumps(state_json, indent=1))
    except OSError as error:
        raise UserError(
            f"cannot write the training checkpoint {directory} ({error.strerror or error}); "
            "free some space, or make the folder writable, then rerun to resume"
        ) from error


@dataclass
class Checkpoint:
    """A finished epoch: the model's and optimizer's variables, the best weights, the state."""

    state: TrainingState
    weights: list[np.ndarray]
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
        _load_arrays(directory / "weights.npz"),
        _load_arrays(directory / "optimizer.npz"),
        _load_arrays(directory / "best_weights.npz"),
    )


def restore_optimizer(model: keras.Model, values: list[np.ndarray]) -> None:
    """Give a compiled model's optimizer the saved moments and step count."""
    model.optimizer.build(model.trainable_variables)
    if len(values) != len(model.optimizer.variables):
        raise ValueError("the checkpoint's optimizer state does not fit the model")
    for variable, value in zip(model.optimizer.variables, values, strict=True):
        variable.assign(value)


class EpochCheckpoint(keras.callbacks.Callback):
    """Save a checkpoint after each epoch, once the schedule has updated its state."""

    def __init__(self, directory: Path, run_fingerprint: str, schedule: PlateauSchedule):
        super().__init__()
        self.directory, self.run_fingerprint, self.schedule = directory, run_fingerprint, schedule

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(
            self.directory,
            self.run_fingerprint,
            self.schedule.state,
            self.model,
            self.schedule.best_weights,
        )

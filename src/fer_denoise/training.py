"""What every training stage shares: batches with fresh noise, the plateau schedule, progress
and dvclive logging.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fer_denoise.files import atomic_path
from fer_denoise.noise import add_noise, task_rng, to_float
from fer_denoise.stacks import with_channel_axis


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and the backend; on TensorFlow also choose deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def augment(
    rng: np.random.Generator, stacks: tuple[np.ndarray, ...], flip: bool, shift: float
) -> tuple[np.ndarray, ...]:
    """Flip each image left-right with probability 1/2 and shift it by up to `shift` times its
    side (borders reflected), the same way in every stack (N, H, W, C): pairs stay aligned."""
    count, height, width = stacks[0].shape[:3]
    flips = rng.random(count) < 0.5 if flip else np.zeros(count, bool)
    limit_y, limit_x = round(shift * height), round(shift * width)
    dy = rng.integers(-limit_y, limit_y + 1, count)
    dx = rng.integers(-limit_x, limit_x + 1, count)
    augmented = []
    for stack in stacks:
        stack = np.where(flips[:, None, None, None], stack[:, :, ::-1], stack)
        if limit_y or limit_x:
            pad = ((0, 0), (limit_y, limit_y), (limit_x, limit_x), (0, 0))
            padded = np.pad(stack, pad, mode="reflect")
            top, left = limit_y + dy, limit_x + dx
            stack = np.stack(
                [
                    padded[i, top[i] : top[i] + height, left[i] : left[i] + width]
                    for i in range(count)
                ]
            )
        augmented.append(stack)
    return tuple(augmented)


class EpochBatches(keras.utils.PyDataset):
    """Batches of rows in a random order that depends on (seed, name, epoch) alone, so that a
    resumed run repeats it; StartEpoch tells them which epoch begins.

    Two worker threads make the batches, in order. With one, Keras' TensorFlow backend
    prefetches through an autotuned tf.data buffer whose iterator, made at each epoch's end and
    dropped at the next one's start, stalled that start for 14-50 s in about half the epochs
    (docs/results.md); with workers, Keras turns that buffer off and starts them only once the
    epoch (and so its order) has begun.
    """

    def __init__(self, count: int, batch_size: int, seed: int, name: str):
        super().__init__(workers=2)
        self.count, self.batch_size, self.seed, self.name = count, batch_size, seed, name
        self.start_at(0)

    def start_at(self, epoch: int) -> None:
        """Serve `epoch`'s order (set by StartEpoch at the start of each epoch)."""
        self.epoch = epoch
        self.order = task_rng(self.seed, self.name, f"order-{epoch}").permutation(self.count)

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def rows(self, index: int) -> np.ndarray:
        """The rows of batch `index`, in ascending order (faster to gather)."""
        return np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])


class LabelledBatches(EpochBatches):
    """(image, label) batches of float images (N, H, W, 1) for a classifier."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        super().__init__(len(images), batch_size, seed, "classifier")
        self.images, self.labels = images, labels

    def __getitem__(self, index: int):
        rows = self.rows(index)
        return with_channel_axis(to_float(self.images[rows])), self.labels[rows]


class NoisyBatches(EpochBatches):
    """(noisy, clean) batches of clean images in random order, reshuffled every epoch.

    With `fresh_noise`, each batch draws new noise from the task's own noise function, so the
    model never sees the same noisy image twice; otherwise it reads the fixed noisy set.
    Every draw comes from a generator seeded by (seed, task, epoch, batch): reruns repeat it.
    `flip` and `shift` augment the clean images (and a fixed noisy set alike) before the noise;
    they draw from a generator of their own, so turning them on leaves the noise draws as they
    were.
    """

    def __init__(
        self,
        clean: np.ndarray,
        spec: dict[str, Any],
        batch_size: int,
        seed: int,
        task: str,
        noisy: np.ndarray | None = None,
        flip: bool = False,
        shift: float = 0.0,
    ):
        self.clean, self.noisy, self.spec, self.task = clean, noisy, spec, task
        self.flip, self.shift = flip, shift
        super().__init__(len(clean), batch_size, seed, task)

    def __getitem__(self, index: int):
        rows = self.rows(index)
        clean = with_channel_axis(to_float(self.clean[rows]))
        noisy = None if self.noisy is None else with_channel_axis(to_float(self.noisy[rows]))
        if self.flip or self.shift:
            rng = task_rng(self.seed, self.task, f"augment-{self.epoch}-{index}")
            stacks = (clean,) if noisy is None else (clean, noisy)
            clean, *rest = augment(rng, stacks, self.flip, self.shift)
            noisy = rest[0] if rest else None
        if noisy is not None:
            return noisy, clean
        rng = task_rng(self.seed, self.task, f"noise-{self.epoch}-{index}")
        return add_noise(clean, self.spec, rng), clean


class StartEpoch(keras.callbacks.Callback):
    """Tell the batches which epoch begins, so that its order and noise depend on the epoch alone.

    Keras' own PyDataset.on_epoch_end is no clock for this: it also runs after Keras peeks at
    the first batches, and `fit(shuffle=True)` would reorder batches with Python's global
    random state, which a resumed run cannot repeat. Fit with shuffle=False and this callback.
    """

    def __init__(self, batches: EpochBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.start_at(epoch)


@dataclass
class TrainingState:
    """What training needs, besides weights, to continue exactly where it stopped.

    Random draws need no saved state: batches derive theirs from (seed, task, epoch, batch).
    """

    epochs_done: int = 0
    best_score: float | None = None  # the best value of the monitored metric so far
    best_epoch: int = 0
    epochs_since_best: int = 0
    epochs_since_lr_change: int = 0
    learning_rate: float | None = None  # once the schedule has lowered it
    history: dict[str, list[float]] = field(default_factory=dict)


class PlateauSchedule(keras.callbacks.Callback):
    """Early stopping and learning-rate reduction on a validation metric (val_loss, lower is
    better; or, with `higher_is_better`, for example val_accuracy); keeps the best weights.

    With `lr_patience` None the learning rate is left to the optimizer's own schedule.

    Keras' EarlyStopping and ReduceLROnPlateau reset their counters at the start of every
    `fit`; this keeps them in a TrainingState, which a checkpoint saves and a resumed run loads.
    """

    def __init__(
        self,
        state: TrainingState,
        stop_patience: int,
        lr_patience: int | None,
        lr_factor: float,
        best_weights: list[np.ndarray] | None = None,
        monitor: str = "val_loss",
        higher_is_better: bool = False,
    ):
        super().__init__()
        self.state, self.best_weights = state, best_weights
        self.stop_patience, self.lr_patience, self.lr_factor = stop_patience, lr_patience, lr_factor
        self.monitor, self.sign = monitor, -1.0 if higher_is_better else 1.0

    def stopped_early(self) -> bool:
        return self.state.epochs_since_best >= self.stop_patience

    def learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        state, logs = self.state, logs if logs is not None else {}
        logs["learning_rate"] = self.learning_rate()  # the callbacks after this one log it too
        for name, value in logs.items():
            state.history.setdefault(name, []).append(float(value))
        state.epochs_done = epoch + 1
        score = float(logs[self.monitor])
        if state.best_score is None or self.sign * score < self.sign * state.best_score:
            state.best_score, state.best_epoch = score, epoch + 1
            state.epochs_since_best = state.epochs_since_lr_change = 0
            self.best_weights = self.model.get_weights()
            return
        state.epochs_since_best += 1
        state.epochs_since_lr_change += 1
        if self.lr_patience is not None and state.epochs_since_lr_change >= self.lr_patience:
            learning_rate = self.learning_rate() * self.lr_factor
            self.model.optimizer.learning_rate = learning_rate
            state.learning_rate, state.epochs_since_lr_change = learning_rate, 0
            print(
                f"{self.monitor} did not improve: learning rate now {learning_rate:.3g}", flush=True
            )
        if self.stopped_early():
            self.model.stop_training = True

    def restore_best(self, model: keras.Model) -> None:
        """Load the best epoch's weights into `model` once training, in all its phases, is over
        (a run resumed after its last epoch never calls `fit`, so no model is set here)."""
        model.set_weights(self.best_weights)


class ProgressLog(keras.callbacks.Callback):
    """One line every `every` seconds and at each epoch's end; readable in a `nohup` log."""

    def __init__(self, epochs: int, steps: int, batch_size: int, every: float = 30.0):
        super().__init__()
        self.epochs, self.steps, self.batch_size, self.every = epochs, steps, batch_size, every

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start = epoch, time.monotonic()
        self.last = self.start

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = (batch + 1) * self.batch_size / (now - self.start)
            print(
                f"  epoch {self.epoch + 1}/{self.epochs} step {batch + 1}/{self.steps} "
                f"loss {logs['loss']:.5f} ({rate:.0f} img/s)",
                flush=True,
            )

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.monotonic() - self.start
        values = " ".join(f"{k} {v:.5g}" for k, v in sorted(logs.items()))
        print(f"epoch {epoch + 1}/{self.epochs} done in {seconds:.0f}s: {values}", flush=True)


class LiveMetrics(keras.callbacks.Callback):
    """Log each epoch's metrics to dvclive (backend-neutral, unlike dvclive.keras).

    `history` holds the epochs of an interrupted run, logged again first: DVC deletes a stage's
    outputs before rerunning it, so a resumed run rewrites the whole training curve.
    """

    def __init__(self, live, history: dict[str, list[float]]):
        super().__init__()
        self.live = live
        for epoch in range(len(next(iter(history.values()), []))):
            self.on_epoch_end(epoch, {name: values[epoch] for name, values in history.items()})

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.live.log_metric(name, float(value))
        self.live.next_step()


@contextmanager
def live_log(folder: Path) -> Iterator:
    """A dvclive logger whose files appear in `folder` only when training ends: dvclive writes
    in place, so it writes into a temporary folder renamed at the end."""
    from dvclive import Live  # the training stages' dependency, not the batches' or schedule's

    with atomic_path(folder) as tmp, Live(dir=str(tmp), dvcyaml=None, save_dvc_exp=False) as live:
        yield live

"""What every training stage shares: batches with fresh noise, progress, dvclive logging."""

import sys
import time
from typing import Any

import keras
import numpy as np

from fer_denoise.noise import add_noise, task_rng, to_float


class NoisyBatches(keras.utils.PyDataset):
    """(noisy, clean) batches of clean images in random order, reshuffled every epoch.

    With `fresh_noise`, each batch draws new noise from the task's own noise function, so the
    model never sees the same noisy image twice; otherwise it reads the fixed noisy set.
    Every draw comes from a generator seeded by (seed, task, epoch, batch): reruns repeat it.
    """

    def __init__(
        self,
        clean: np.ndarray,
        spec: dict[str, Any],
        batch_size: int,
        seed: int,
        task: str,
        noisy: np.ndarray | None = None,
    ):
        super().__init__()
        self.clean, self.noisy, self.spec = clean, noisy, spec
        self.batch_size, self.seed, self.task = batch_size, seed, task
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        return task_rng(self.seed, self.task, f"order-{self.epoch}").permutation(len(self.clean))

    def __len__(self) -> int:
        return -(-len(self.clean) // self.batch_size)

    def __getitem__(self, index: int):
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        clean = to_float(self.clean[rows])[..., None]
        if self.noisy is not None:
            return to_float(self.noisy[rows])[..., None], clean
        rng = task_rng(self.seed, self.task, f"noise-{self.epoch}-{index}")
        return add_noise(clean, self.spec, rng), clean

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


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
        sys.stdout.flush()


class LiveMetrics(keras.callbacks.Callback):
    """Log each epoch's metrics to dvclive (backend-neutral, unlike dvclive.keras)."""

    def __init__(self, live):
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.live.log_metric(name, float(value))
        self.live.next_step()

"""Stage `emotion_classifier`: a compact CNN trained on clean Training faces to tell the seven
emotions apart, models/classifier.keras. PublicTest accuracy picks the best epoch and stops
training early; the `recognition` stage then reads clean, noisy and denoised PrivateTest faces
with it.
"""

import keras
import numpy as np

from fer_denoise.checkpoints import TrainingRun, fit_resumable
from fer_denoise.datasets import load_labelled
from fer_denoise.errors import UserError, run_stage
from fer_denoise.fer2013 import EMOTIONS
from fer_denoise.model_archive import save_model
from fer_denoise.noise import to_float
from fer_denoise.params import Classifier, load_params
from fer_denoise.paths import CLASSIFIER, PREPARED, checkpoint_dir, live_dir
from fer_denoise.recognition import build_emotion_classifier
from fer_denoise.training import (
    LabelledBatches,
    LiveMetrics,
    PlateauSchedule,
    live_log,
    make_deterministic,
)


def fit_classifier(
    settings: Classifier,
    images: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    live,
    run: TrainingRun,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train on the Training split, stop on PublicTest accuracy; the best epoch's weights and
    the history of every epoch. `run` checkpoints each epoch (and resumes a killed run)."""
    make_deterministic(settings.seed)
    train, val = split == "train", split == "val"
    for name, rows in (("Training", train), ("PublicTest", val)):
        if not rows.any():
            raise UserError(f"{PREPARED} has no {name} images: the classifier needs both splits")
    architecture = settings.model_dump(include={"width", "blocks", "batch_norm", "dropout"})
    model = build_emotion_classifier(
        images.shape[1:] + (1,),
        len(EMOTIONS),
        flip=settings.flip,
        shift=settings.shift,
        **architecture,
    )
    batches = LabelledBatches(images[train], labels[train], settings.batch_size, settings.seed)
    # Cosine decay to zero over the planned epochs: the last epochs settle instead of jitter.
    schedule = keras.optimizers.schedules.CosineDecay(
        settings.learning_rate, decay_steps=settings.epochs * len(batches)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(
        f"emotion classifier: {model.count_params():,} parameters, {train.sum()} training "
        f"images, {val.sum()} validation images"
    )
    if run.resume([model]):
        run.restore_optimizers([model])
    stopping = PlateauSchedule(
        run.state,
        stop_patience=settings.early_stopping_patience,
        lr_patience=None,
        lr_factor=1.0,
        best_weights=run.best_weights,
        monitor="val_accuracy",
        higher_is_better=True,
    )
    validation = (to_float(images[val])[..., None], labels[val])
    metrics_log = LiveMetrics(live, run.state.history)
    if not stopping.stopped_early():
        epochs = settings.epochs
        fit_resumable(model, batches, validation, run, stopping, metrics_log, epochs, epochs)
    stopping.restore_best(model)
    return model, run.state.history


def main() -> None:
    settings = load_params().classifier
    prepared = load_labelled("emotion_classifier")
    run = TrainingRun(
        checkpoint_dir("classifier"), {"classifier": settings.model_dump()}, [PREPARED]
    )
    with live_log(live_dir("classifier")) as live:
        model, history = fit_classifier(
            settings, prepared["images"], prepared["labels"], prepared["split"], live, run
        )
    best = run.state.best_epoch - 1
    card = {
        "model": "emotion_classifier",
        "classes": list(EMOTIONS),
        "input_shape": list(model.input_shape[1:]),
        "parameters": model.count_params(),
        "classifier": settings.model_dump(),
        "validation": {
            "epochs_run": len(history["val_accuracy"]),
            "best_epoch": best + 1,
            "val_accuracy": round(history["val_accuracy"][best], 5),
        },
    }
    save_model(model, CLASSIFIER, card)
    run.finish()
    print(f"saved {CLASSIFIER}: PublicTest accuracy {card['validation']['val_accuracy']:.4f}")


if __name__ == "__main__":
    run_stage(main)

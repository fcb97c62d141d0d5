"""Stage `emotion_classifier`: a compact CNN trained on clean Training faces to tell the seven
emotions apart, models/classifier.keras. PublicTest accuracy picks the best epoch and stops
training early; the `recognition` stage then reads clean, noisy and denoised PrivateTest faces
with it.
"""

import keras
import numpy as np
from dvclive import Live

from fer_denoise.datasets import load_labelled
from fer_denoise.errors import UserError, run_stage
from fer_denoise.fer2013 import EMOTIONS
from fer_denoise.files import atomic_path
from fer_denoise.model_card import write_card
from fer_denoise.noise import to_float
from fer_denoise.params import Classifier, load_params
from fer_denoise.paths import CLASSIFIER, PREPARED, live_dir
from fer_denoise.recognition import build_emotion_classifier
from fer_denoise.training import LiveMetrics, ProgressLog, make_deterministic


def fit_classifier(
    settings: Classifier, images: np.ndarray, labels: np.ndarray, split: np.ndarray, live
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train on the Training split, stop on PublicTest accuracy; the best epoch's weights."""
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
    steps = -(-int(train.sum()) // settings.batch_size)
    # Cosine decay to zero over the planned epochs: the last epochs settle instead of jitter.
    schedule = keras.optimizers.schedules.CosineDecay(
        settings.learning_rate, decay_steps=settings.epochs * steps
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
    history = model.fit(
        to_float(images[train])[..., None],
        labels[train],
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        validation_data=(to_float(images[val])[..., None], labels[val]),
        shuffle=True,  # drawn from the backend's seeded random state
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy",
                patience=settings.early_stopping_patience,
                restore_best_weights=True,
            ),
            ProgressLog(settings.epochs, steps, settings.batch_size),
            LiveMetrics(live, {}),
        ],
    )
    return model, history.history


def main() -> None:
    settings = load_params().classifier
    prepared = load_labelled("emotion_classifier")
    with (
        atomic_path(live_dir("classifier")) as live_tmp,
        Live(dir=str(live_tmp), dvcyaml=None, save_dvc_exp=False) as live,
    ):
        model, history = fit_classifier(
            settings, prepared["images"], prepared["labels"], prepared["split"], live
        )
    best = int(np.argmax(history["val_accuracy"]))
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
    with atomic_path(CLASSIFIER) as tmp:
        model.save(tmp)
        write_card(tmp, card)
    print(f"saved {CLASSIFIER}: PublicTest accuracy {card['validation']['val_accuracy']:.4f}")


if __name__ == "__main__":
    run_stage(main)

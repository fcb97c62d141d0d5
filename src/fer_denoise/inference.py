"""Loading saved models and running them, shared by the evaluation stages and the fer-denoise
command."""

import json
import logging
import zipfile
from pathlib import Path

import keras
import numpy as np

from fer_denoise.errors import UserError
from fer_denoise.models.impulse import ImpulseSwitch
from fer_denoise.models.registry import architecture, extra_names
from fer_denoise.stacks import like_input, with_channel_axis

BATCH = 256  # images per predict call


def _hide_retracing_notes() -> None:
    """Hide TensorFlow's "triggered tf.function retracing" warning: every loaded model traces
    its own predict function once (and once more for a last, smaller batch), which TensorFlow
    counts as retracing of one function and reports as if something were wrong."""
    if keras.backend.backend() == "tensorflow":
        logging.getLogger("tensorflow").addFilter(
            lambda record: "triggered tf.function retracing" not in record.getMessage()
        )


_hide_retracing_notes()


def load_model(path: Path) -> keras.Model:
    """Load a saved model for inference, or raise a UserError that says what to do."""
    if not Path(path).is_file():
        raise UserError(f"{path} does not exist: train it with `dvc repro`")
    try:
        name = saved_model_name(path)
        if name in extra_names():
            architecture(name)  # imports the model's file, which registers its custom layers
        return keras.saving.load_model(
            path, compile=False, custom_objects={"ImpulseSwitch": ImpulseSwitch}
        )
    except Exception as error:  # a corrupt file fails in zipfile, h5py or Keras, each its own way
        raise UserError(
            f"{path} is not a Keras model that can be loaded ({type(error).__name__}: {error}); "
            "retrain it with `dvc repro -f <its training stage>`"
        ) from error


def denoise(model: keras.Model, noisy: np.ndarray, flip_ensemble: bool = False) -> np.ndarray:
    """Run a model on float images (N, H, W) or (N, H, W, C); outputs alike, clipped to [0, 1].

    With `flip_ensemble`, the output is the mean of the model's restorations of each face and of
    its mirror image (mirrored back): twice the time, two opinions on every pixel.
    """
    images = with_channel_axis(noisy)
    output = model.predict(images, batch_size=BATCH, verbose=0)
    if flip_ensemble:
        mirrored = model.predict(images[:, :, ::-1], batch_size=BATCH, verbose=0)[:, :, ::-1]
        output = (output + mirrored) / 2
    return np.clip(like_input(output, noisy), 0.0, 1.0)


def saved_model_name(path: Path) -> str | None:
    """The name of the model inside a .keras file (its architecture, for the pipeline's models),
    read from its config without loading it."""
    if not zipfile.is_zipfile(path):  # a legacy .h5 file: Keras reads it as it is
        return None
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    return config.get("config", {}).get("name")

"""Loading saved models for inference, shared by the evaluate stage and the fer-denoise command."""

from pathlib import Path

import keras

from fer_denoise.errors import UserError
from fer_denoise.models.switching import ImpulseSwitch


def load_model(path: Path) -> keras.Model:
    """Load a saved model for inference, or raise a UserError that says what to do."""
    if not Path(path).is_file():
        raise UserError(f"{path} does not exist: train it with `dvc repro`")
    try:
        return keras.saving.load_model(
            path, compile=False, custom_objects={"ImpulseSwitch": ImpulseSwitch}
        )
    except Exception as error:  # a corrupt file fails in zipfile, h5py or Keras, each its own way
        raise UserError(
            f"{path} is not a Keras model that can be loaded ({type(error).__name__}: {error}); "
            "retrain it with `dvc repro -f <its training stage>`"
        ) from error

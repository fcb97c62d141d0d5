"""A model saved twice, seconds apart, makes the same file: no save time inside the archive."""

import json
import time
import zipfile

import keras
import numpy as np

from fer_denoise.model_archive import ZIP_EPOCH, save_model
from fer_denoise.model_card import read_card, write_card

CARD = {"model": "unet", "task": "gaussian_low"}


def saved(model: keras.Model, path, reproducible: bool):
    if reproducible:
        save_model(model, path, CARD)
    else:  # what Keras alone does
        model.save(path)
        write_card(path, CARD)
    return path


def test_the_same_model_saved_twice_makes_the_same_bytes_and_still_loads(tmp_path):
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    first = saved(model, tmp_path / "first.keras", reproducible=True)
    plain = saved(model, tmp_path / "plain.keras", reproducible=False)
    time.sleep(2.1)  # past the zip timestamps' 2-second and date_saved's 1-second resolution
    second = saved(model, tmp_path / "second.keras", reproducible=True)
    later = saved(model, tmp_path / "later.keras", reproducible=False)

    assert first.read_bytes() == second.read_bytes()
    assert plain.read_bytes() != later.read_bytes()
    with zipfile.ZipFile(second) as archive:
        assert {info.date_time for info in archive.infolist()} == {ZIP_EPOCH}
        assert "date_saved" not in json.loads(archive.read("metadata.json"))
    assert read_card(second) == CARD
    loaded = keras.saving.load_model(second, compile=False)
    faces = np.random.default_rng(0).random((2, 8, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(faces, verbose=0), model.predict(faces, verbose=0))

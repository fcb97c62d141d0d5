"""A model saved twice, seconds apart or in two processes, makes the same file: no save time
and no Python object id inside the archive."""

import json
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np

from fer_denoise.model_archive import ZIP_EPOCH, number_shared_objects, save_model
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


SAVE_IN_A_NEW_PROCESS = """
import sys
import keras
from fer_denoise.model_archive import save_model
from fer_denoise.models import build_model

keras.utils.set_random_seed(0)
model = build_model("unet", (8, 8, 1), depth=1, base_filters=2)  # layers share a dtype policy
if sys.argv[2] == "keras":
    model.save(sys.argv[1])
else:
    save_model(model, sys.argv[1], {"model": "unet"})
"""


def save_in_a_new_process(path, how: str):
    subprocess.run([sys.executable, "-c", SAVE_IN_A_NEW_PROCESS, str(path), how], check=True)
    with zipfile.ZipFile(path) as archive:
        return path.read_bytes(), archive.read("config.json").decode()


def test_the_same_model_saved_in_two_processes_makes_the_same_bytes(tmp_path):
    first, config = save_in_a_new_process(tmp_path / "first.keras", "reproducible")
    second, _ = save_in_a_new_process(tmp_path / "second.keras", "reproducible")
    assert first == second
    _, keras_config = save_in_a_new_process(tmp_path / "keras.keras", "keras")
    assert '"shared_object_id": ' in keras_config  # what made the files differ
    assert '"shared_object_id": 1' in config and '"shared_object_id": 2' not in config
    ours = keras.saving.load_model(tmp_path / "first.keras", compile=False)
    theirs = keras.saving.load_model(tmp_path / "keras.keras", compile=False)
    assert ours.get_config() == theirs.get_config()  # the numbers load as the ids did
    faces = np.random.default_rng(4).random((2, 8, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(ours.predict(faces, verbose=0), theirs.predict(faces, verbose=0))


def test_shared_objects_are_numbered_in_order_of_first_appearance():
    config = {"a": {"shared_object_id": 9071}, "b": [{"shared_object_id": 4410}], "c": 9071}
    numbered = number_shared_objects({**config, "d": {"shared_object_id": 9071}})
    assert numbered == {
        "a": {"shared_object_id": 1},
        "b": [{"shared_object_id": 2}],
        "c": 9071,  # a number that is not an object id stays
        "d": {"shared_object_id": 1},
    }

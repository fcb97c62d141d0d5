"""Model files whose bytes depend on the model alone.

Keras writes the time of saving into a .keras archive (metadata.json's `date_saved`, and the
weights member's zip timestamp), the model card is appended with the time too, and config.json
marks each object that several layers share (a dtype policy) with its Python `id()`, which
differs between processes. So saving the same weights again makes a different file: git keeps
one more copy of a shipped model on every rerun, and DVC sees a changed output and reruns every
stage after it. `make_reproducible` rewrites the archive with the zip format's earliest
timestamp on every member, without `date_saved` (which Keras writes but never reads), and with
the shared objects numbered 1, 2, ... in the order config.json first names them (Keras reads
the numbers only to tell which configs are one object). `save_model` is how every stage saves
a model: atomically, with its card, reproducibly.
"""

import json
import zipfile
from pathlib import Path

import keras

from fer_denoise.files import atomic_path
from fer_denoise.model_card import write_card

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can hold
METADATA_MEMBER = "metadata.json"
CONFIG_MEMBER = "config.json"
SHARED_ID = "shared_object_id"


def number_shared_objects(config, numbers: dict[int, int] | None = None):
    """`config` (parsed config.json) with each shared object's id replaced by its rank of first
    appearance: the same sharing, the same numbers in every process."""
    numbers = {} if numbers is None else numbers
    if isinstance(config, dict):
        return {
            key: numbers.setdefault(value, len(numbers) + 1)
            if key == SHARED_ID
            else number_shared_objects(value, numbers)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [number_shared_objects(value, numbers) for value in config]
    return config


def make_reproducible(model_file: Path) -> None:
    """Rewrite the saved .keras archive in place (before it is renamed into place)."""
    with zipfile.ZipFile(model_file) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(model_file, "w") as archive:
        for info, data in members:
            if info.filename == METADATA_MEMBER:
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata).encode()
            elif info.filename == CONFIG_MEMBER:
                data = json.dumps(number_shared_objects(json.loads(data))).encode()
            member = zipfile.ZipInfo(info.filename, ZIP_EPOCH)
            archive.writestr(member, data, compress_type=info.compress_type)


def save_model(model: keras.Model, path: Path, card: dict) -> None:
    """Save `model` with its card at `path`: renamed into place whole, its bytes the same for
    the same model in any process."""
    with atomic_path(path) as tmp:
        model.save(tmp)
        write_card(tmp, card)
        make_reproducible(tmp)

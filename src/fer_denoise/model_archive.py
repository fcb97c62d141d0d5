"""Model files whose bytes depend on the model alone.

Keras writes the time of saving into a .keras archive (metadata.json's `date_saved`, and the
weights member's zip timestamp), and the model card is appended with the time too. So saving
the same weights again makes a different file: git keeps one more copy of a shipped model on
every rerun, and DVC sees a changed output. `make_reproducible` rewrites the archive with the
zip format's earliest timestamp on every member and without `date_saved`, which Keras writes
but never reads. `save_model` is how every stage saves a model: atomically, with its card,
reproducibly.
"""

import json
import zipfile
from pathlib import Path

import keras

from fer_denoise.files import atomic_path
from fer_denoise.model_card import write_card

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can hold
METADATA_MEMBER = "metadata.json"


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
            member = zipfile.ZipInfo(info.filename, ZIP_EPOCH)
            archive.writestr(member, data, compress_type=info.compress_type)


def save_model(model: keras.Model, path: Path, card: dict) -> None:
    """Save `model` with its card at `path`: renamed into place whole, without save times (Keras'
    config can still hold object ids that differ between processes: docs/design.md)."""
    with atomic_path(path) as tmp:
        model.save(tmp)
        write_card(tmp, card)
        make_reproducible(tmp)

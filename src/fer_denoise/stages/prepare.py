"""Stage `prepare`: parse the fetched dataset into data/prepared/images.npz.

FER2013 (`data.dataset: fer2013`): Training = train, PublicTest = val (early stopping),
PrivateTest = test (evaluation), with emotion labels. An image-folder dataset
(`data.dataset: images`): its train/ val/ test/ folders, or a seeded split by
`data.val_fraction` and `data.test_fraction` (image_folders.py); no labels.
`data.limit` keeps the first N images of each split, for quick runs.
"""

from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError, run_stage
from fer_denoise.fer2013 import EMOTIONS, SPLITS, read_fer2013
from fer_denoise.files import save_npz, write_json
from fer_denoise.image_folders import read_image_folder
from fer_denoise.params import Data, load_params
from fer_denoise.paths import PREPARED, RAW_DIR, SUMMARY


def raw_file(raw_dir: Path = RAW_DIR) -> Path:
    """The one file that `fetch` left in data/raw/."""
    files = sorted(p for p in raw_dir.glob("*") if p.is_file()) if raw_dir.is_dir() else []
    if len(files) != 1:
        raise UserError(
            f"{raw_dir}/ should hold exactly one dataset file, found {len(files)}; "
            "run `dvc repro fetch`"
        )
    return files[0]


def first_per_split(split: np.ndarray, limit: int | None) -> np.ndarray:
    """A mask keeping the first `limit` images of each split (all of them when limit is None)."""
    keep = np.zeros(len(split), bool)
    for name in SPLITS:
        keep[np.flatnonzero(split == name)[:limit]] = True
    return keep


def read_dataset(path: Path, data: Data) -> dict[str, np.ndarray]:
    """images, split and (FER2013 only) labels of the fetched file, per `data` params."""
    if data.dataset == "fer2013":
        fer = read_fer2013(path)
        arrays = {"images": fer.images, "labels": fer.labels, "split": fer.split}
    else:
        found = read_image_folder(
            path,
            data.channels,
            data.image_size,
            data.val_fraction,
            data.test_fraction,
            data.split_seed,
        )
        arrays = {"images": found.images, "split": found.split}
    keep = first_per_split(arrays["split"], data.limit)
    return {name: array[keep] for name, array in arrays.items()}


def summary(arrays: dict[str, np.ndarray]) -> dict:
    """Image counts per split, and per emotion where there are labels."""
    counts = {}
    for name in SPLITS:
        rows = arrays["split"] == name
        counts[name] = {"images": int(rows.sum())}
        if "labels" in arrays:
            labels = arrays["labels"][rows]
            counts[name] |= {e: int((labels == code).sum()) for code, e in enumerate(EMOTIONS)}
    return counts


def main() -> None:
    params = load_params().data
    path = raw_file()
    print(f"parsing {path} ({params.dataset})")
    arrays = read_dataset(path, params)
    missing = [name for name in SPLITS if not (arrays["split"] == name).any()]
    if missing:
        raise UserError(
            f"{path} has no images for split(s) {', '.join(missing)}; FER2013 "
            "needs Training, PublicTest and PrivateTest rows"
        )
    save_npz(PREPARED, **arrays)
    counts = summary(arrays)
    write_json(SUMMARY, counts)
    print(", ".join(f"{name}: {counts[name]['images']}" for name in SPLITS))


if __name__ == "__main__":
    run_stage(main)

"""Stage `prepare`: parse the raw FER2013 file into data/prepared/fer2013.npz.

Training = train, PublicTest = val (early stopping), PrivateTest = test (evaluation).
`data.limit` keeps the first N images of each split, for quick runs.
"""

from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError, run_stage
from fer_denoise.fer2013 import EMOTIONS, SPLITS, FerData, read_fer2013
from fer_denoise.files import save_npz, write_json
from fer_denoise.params import load_params

RAW_DIR = Path("data/raw")
PREPARED = Path("data/prepared/fer2013.npz")
SUMMARY = Path("data/prepared/summary.json")


def raw_file(raw_dir: Path = RAW_DIR) -> Path:
    """The one file that `fetch` left in data/raw/."""
    files = sorted(p for p in raw_dir.glob("*") if p.is_file()) if raw_dir.is_dir() else []
    if len(files) != 1:
        raise UserError(
            f"{raw_dir}/ should hold exactly one FER2013 file, found {len(files)}; "
            "run `dvc repro fetch`"
        )
    return files[0]


def limit_per_split(data: FerData, limit: int | None) -> FerData:
    """Keep the first `limit` images of each split (all of them when limit is None)."""
    if limit is None:
        return data
    keep = np.zeros(len(data), bool)
    for split in SPLITS:
        keep[np.flatnonzero(data.split == split)[:limit]] = True
    return FerData(data.images[keep], data.labels[keep], data.split[keep])


def summary(data: FerData) -> dict:
    """Image counts per split and emotion."""
    return {
        split: {
            "images": int((data.split == split).sum()),
            **{
                emotion: int(((data.split == split) & (data.labels == code)).sum())
                for code, emotion in enumerate(EMOTIONS)
            },
        }
        for split in SPLITS
    }


def main() -> None:
    params = load_params()["data"]
    path = raw_file()
    print(f"parsing {path}")
    data = limit_per_split(read_fer2013(path), params["limit"])
    missing = [split for split in SPLITS if not (data.split == split).any()]
    if missing:
        raise UserError(
            f"{path} has no images for split(s) {', '.join(missing)}; FER2013 "
            "needs Training, PublicTest and PrivateTest rows"
        )
    save_npz(PREPARED, images=data.images, labels=data.labels, split=data.split)
    counts = summary(data)
    write_json(SUMMARY, counts)
    print(", ".join(f"{split}: {counts[split]['images']}" for split in SPLITS))


if __name__ == "__main__":
    run_stage(main)

"""Read an image-folder dataset (a folder, or a zip, of PNG / JPEG files of one size) into
arrays, so the pipeline can train on other faces, for example FFHQ thumbnails at 128x128.

Files are read in sorted path order. A file's split comes from its top folder when every file
sits under train/, val/ or test/ (or training/, valid/, validation/); otherwise a seeded
permutation sends fixed fractions to val and test, so the same files and seed give the same
split. Nothing is extracted to disk.
"""

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError
from fer_denoise.fer2013 import IMAGE_SUFFIXES, SPLITS
from fer_denoise.untrusted import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    decode_image,
    open_zip,
    read_member,
)

SPLIT_FOLDERS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
MAX_DATASET_BYTES = 8 * 2**30  # the prepared images are held in memory


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (N, H, W) for one channel, (N, H, W, 3) for RGB
    split: np.ndarray  # "train" / "val" / "test" per image

    def __len__(self) -> int:
        return len(self.split)


def split_by_fraction(
    count: int, val_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """'train' / 'val' / 'test' for `count` images: a seeded permutation gives the first
    round(count * test_fraction) positions to test and the next round(count * val_fraction)
    to val."""
    if val_fraction + test_fraction >= 1:
        raise UserError(
            f"data.val_fraction + data.test_fraction is {val_fraction + test_fraction:g}; "
            "it must stay below 1 to leave training images"
        )
    order = np.random.default_rng(seed).permutation(count)
    tests, vals = round(count * test_fraction), round(count * val_fraction)
    split = np.full(count, "train", dtype="<U5")
    split[order[:tests]] = "test"
    split[order[tests : tests + vals]] = "val"
    return split


def split_from_folders(names: list[str], source: str) -> np.ndarray | None:
    """Each file's split from its top folder; None when no file sits in a split folder."""
    tops = [name.split("/", 1)[0].lower() if "/" in name else "" for name in names]
    known = [top in SPLIT_FOLDERS for top in tops]
    if not any(known):
        return None
    if not all(known):
        stray = names[known.index(False)]
        raise UserError(
            f"{source}: {stray} is outside the train/, val/ and test/ folders that the other "
            "images are in; move it into one of them (or remove the split folders altogether "
            "to split by data.val_fraction and data.test_fraction)"
        )
    return np.array([SPLIT_FOLDERS[top] for top in tops])


def decode(data: bytes | Path, name: str, source: str, channels: int, size: int) -> np.ndarray:
    """One image as uint8 (size, size) or (size, size, 3); errors name the file and the fix."""
    try:
        image = decode_image(data, f"{source}: {name}", channels, MAX_IMAGE_PIXELS)
    except UserError as error:
        raise UserError(f"{error}; remove or replace it") from error
    if image.shape[:2] != (size, size):
        raise UserError(
            f"{source}: {name} is {image.shape[1]}x{image.shape[0]}, but data.image_size is "
            f"{size}; resize the images to {size}x{size}, or set data.image_size"
        )
    return image


def image_files(folder: Path) -> dict[str, Path]:
    """The PNG / JPEG files under a folder, by their relative path with / separators."""
    files = (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.relative_to(folder).as_posix(): p for p in files}


def is_image_member(name: str) -> bool:
    """An image of the dataset, not the resource forks macOS adds under __MACOSX/."""
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("__MACOSX/")


def check_one_copy(names: list[str], source: str) -> None:
    """Refuse split folders below several top folders (a/train/, b/train/): the dataset twice."""
    tops = {
        name.split("/", 1)[0]
        for name in names
        if name.count("/") >= 2 and name.split("/")[1].lower() in SPLIT_FOLDERS
    }
    if len(tops) > 1:
        raise UserError(
            f"{source} holds split folders under several folders ({', '.join(sorted(tops))}): "
            "the dataset twice? Keep one copy"
        )


def read_image_folder(
    path: str | Path,
    channels: int,
    size: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> ImageSet:
    """Every image under a folder, or in a zip, with its split (see the module docstring)."""
    path = Path(path)
    with contextlib.ExitStack() as stack:
        if path.is_dir():
            files = image_files(path)
            names = sorted(files)

            def read(name: str) -> Path:
                return files[name]

        else:
            archive = stack.enter_context(open_zip(path))
            names = sorted(n for n in archive.namelist() if is_image_member(n))

            def read(name: str) -> bytes:  # one member at a time: the zip may not fit in memory
                return read_member(archive, name, MAX_IMAGE_BYTES, str(path))

        if not names:
            raise UserError(
                f"{path}: no PNG or JPEG images inside; point data.source at the image folder "
                "or zip"
            )
        check_one_copy(names, str(path))
        shape = (len(names), size, size) + ((3,) if channels == 3 else ())
        if np.prod(shape) > MAX_DATASET_BYTES:
            raise UserError(
                f"{path}: {len(names):,} images of {size}x{size}x{channels} take "
                f"{np.prod(shape) / 2**30:.1f} GiB, above the limit of "
                f"{MAX_DATASET_BYTES / 2**30:.0f} GiB; use fewer or smaller images"
            )
        images = np.empty(shape, np.uint8)
        for index, name in enumerate(names):
            images[index] = decode(read(name), name, str(path), channels, size)
    split = split_from_folders(names, str(path))
    if split is None:
        split = split_by_fraction(len(names), val_fraction, test_fraction, seed)
    missing = [name for name in SPLITS if not (split == name).any()]
    if missing:
        raise UserError(
            f"{path}: no images for split(s) {', '.join(missing)}; add images to those folders, "
            "or raise data.val_fraction / data.test_fraction"
        )
    return ImageSet(images, split)

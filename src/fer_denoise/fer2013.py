"""Read FER2013 in either published layout into arrays: strict, vectorised, no extraction to disk.

- the competition CSV (`emotion,pixels,Usage`), plain or gzip-compressed, or inside a zip;
- the Kaggle image-folder zip (`train/<emotion>/Training_<id>.jpg`, `test/<emotion>/...`).

Both give the same arrays: images (N, 48, 48) uint8, labels (N,) uint8 emotion codes, and
split (N,) of "train" / "val" / "test", ordered by split, then by image id for the zip.
"""

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_denoise.errors import UserError
from fer_denoise.untrusted import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_TABLE_BYTES,
    csv_member,
    decode_image,
    gunzip,
    mib,
    open_zip,
    read_member,
)

SIDE = 48
PIXELS = SIDE * SIDE
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS = ("train", "val", "test")
CSV_COLUMNS = ("emotion", "pixels", "Usage")
ROWS_PER_PASS = 2048
MAX_ROW_CHARS = 4 * PIXELS - 1  # "255 255 ... 255"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MEMBER_NAME = re.compile(
    r"^(?:(.*)/)?(train|test)/([a-z]+)/(Training|PublicTest|PrivateTest)_(\d+)\."
)


@dataclass
class FerData:
    images: np.ndarray
    labels: np.ndarray
    split: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def detect_format(head: bytes) -> str:
    """'gzip', 'zip' or 'csv', from a file's first bytes (names and extensions can lie)."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return "csv"


def read_fer2013(path: str | Path) -> FerData:
    """Parse a FER2013 file of any supported layout; errors name the file and the fix."""
    path = Path(path)
    with open(path, "rb") as f:
        kind = detect_format(f.read(4))
    if kind == "gzip":
        return parse_csv(gunzip(path), str(path))
    if kind == "zip":
        return read_zip(path)
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise UserError(
            f"{path} is {mib(path.stat().st_size)}, above the limit of {mib(MAX_TABLE_BYTES)} "
            "for a table; is it the right file?"
        )
    return parse_csv(path.read_bytes(), str(path))


def read_zip(path: Path) -> FerData:
    """A zip holding fer2013.csv, or the image-folder layout."""
    with open_zip(path) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        member = csv_member(names, str(path))
        if member is not None:
            data = read_member(archive, member, MAX_TABLE_BYTES, str(path))
            return parse_csv(data, f"{path}!{member}")
        return parse_image_zip(archive, names, str(path))


def parse_image_zip(archive: zipfile.ZipFile, names: list[str], source: str) -> FerData:
    """Decode the Kaggle image-folder layout; emotion from the folder, split from the prefix."""
    entries, roots = [], set()
    for name in names:
        if name.startswith("__MACOSX/"):
            continue  # the resource forks that macOS's zip adds
        match = MEMBER_NAME.match(name)
        if match is None:
            if name.lower().endswith(IMAGE_SUFFIXES):
                raise UserError(
                    f"{source}: {name} is not named like "
                    "train|test/<emotion>/<Training|PublicTest|PrivateTest>_<id>.jpg; "
                    "remove it, or download the archive again"
                )
            continue  # READMEs and other files beside the images
        root, folder, emotion, usage, image_id = match.groups()
        roots.add(root)
        if emotion not in EMOTIONS:
            raise UserError(
                f"{source}: {name} is in an unknown emotion folder {emotion!r} "
                f"(expected one of {', '.join(EMOTIONS)}); move it to the right folder"
            )
        expected_folder = "train" if usage == "Training" else "test"
        if folder != expected_folder:
            raise UserError(
                f"{source}: {name} is a {usage} image in {folder}/; "
                f"{usage} images belong in {expected_folder}/"
            )
        # Two training ids appear under two emotions: the CSV orders them by emotion code.
        entries.append(
            (SPLITS.index(USAGE_TO_SPLIT[usage]), int(image_id), EMOTIONS.index(emotion), name)
        )
    if not entries:
        raise UserError(
            f"{source}: no FER2013 images or fer2013.csv inside; is this the "
            "right download (Kaggle msambare/fer2013 or deadskull7/fer2013)?"
        )
    if len(roots) > 1:
        folders = ", ".join(sorted(f"{root or '(top level)'}/" for root in roots))
        raise UserError(
            f"{source} holds train/ and test/ folders under several folders ({folders}): the "
            "dataset twice? Keep one copy in the archive"
        )
    entries.sort()
    for before, after in zip(entries, entries[1:], strict=False):
        if before[:3] == after[:3]:
            raise UserError(
                f"{source}: {before[3]} and {after[3]} are the same image id in the same "
                "folder; remove one of them"
            )
    images = np.empty((len(entries), SIDE, SIDE), np.uint8)
    for i, (*_, name) in enumerate(entries):
        data = read_member(archive, name, MAX_IMAGE_BYTES, source)
        try:
            image = decode_image(data, f"{source}: {name}", 1, MAX_IMAGE_PIXELS)
        except UserError as error:
            raise UserError(f"{error}; remove it, or download the archive again") from error
        if image.shape != (SIDE, SIDE):
            raise UserError(
                f"{source}: {name} is {image.shape[1]}x{image.shape[0]}, "
                f"FER2013 images are {SIDE}x{SIDE}; remove it, or download the archive again"
            )
        images[i] = image
    labels = np.array([code for _, _, code, _ in entries], np.uint8)
    split = np.array([SPLITS[s] for s, *_ in entries])
    return FerData(images, labels, split)


def parse_csv(data: bytes, source: str) -> FerData:
    """Parse the competition CSV. Every check is vectorised; errors give the 1-based line."""
    if not data.strip():
        raise UserError(f"{source}: the file is empty; download FER2013 again")
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(
            f"{source}: not a readable CSV ({error}); download fer2013.csv again"
        ) from error
    if not isinstance(table.index, pd.RangeIndex):  # pandas makes extra leading fields an index
        raise UserError(
            f"{source}: line 2 has {table.index.nlevels + len(table.columns)} fields, but a "
            f"FER2013 CSV has {len(CSV_COLUMNS)} ({','.join(CSV_COLUMNS)}); remove the extra "
            "columns or download the file again"
        )
    if sorted(table.columns) != sorted(CSV_COLUMNS):
        raise UserError(
            f"{source}: line 1 has columns {list(table.columns)}; a FER2013 CSV "
            f"has the header {','.join(CSV_COLUMNS)}; fix the header or download the file again"
        )
    if table.empty:
        raise UserError(f"{source}: the CSV has a header but no rows; download FER2013 again")

    def fail(row: int, problem: str, fix: str) -> UserError:
        return UserError(f"{source}: line {row + 2}: {problem}; {fix}")

    ends_early = (table[list(CSV_COLUMNS)] == "").any(axis=1).to_numpy()
    if ends_early.any():
        raise fail(
            int(np.argmax(ends_early)),
            "the row ends early (an empty field)",
            "the file is truncated or malformed; download FER2013 again",
        )
    emotion = _checked_column(
        table,
        "emotion",
        [str(c) for c in range(len(EMOTIONS))],
        fail,
        f"emotion must be an integer 0..{len(EMOTIONS) - 1}",
    )
    usage = _checked_column(
        table,
        "Usage",
        list(USAGE_TO_SPLIT),
        fail,
        f"Usage must be one of {', '.join(USAGE_TO_SPLIT)}",
    )
    images = _parse_pixels(table["pixels"], fail)
    split = np.array([USAGE_TO_SPLIT[u] for u in usage])
    return FerData(images, emotion.astype(np.uint8), split)


def _checked_column(table: pd.DataFrame, column: str, allowed: list[str], fail, fix: str):
    """The column's values, or an error at the first row whose value is not allowed."""
    values = table[column].to_numpy()
    known = np.isin(values, allowed)
    if not known.all():
        row = int(np.argmin(known))
        raise fail(row, f"unknown {column} {values[row]!r}", fix)
    return values


def _parse_pixels(pixels: pd.Series, fail) -> np.ndarray:
    """Space-separated 0..255 values, 2304 per row, parsed ROWS_PER_PASS rows at a time: the
    vectorised passes hold about 20 bytes per character of text, so a pass over all of the
    300 MB CSV at once took 4 GB. A row longer than 2304 values can be is refused first, so
    no pass holds more than ROWS_PER_PASS * MAX_ROW_CHARS characters."""
    lengths = pixels.str.len().to_numpy()
    too_long = lengths > MAX_ROW_CHARS
    if too_long.any():
        row = int(np.argmax(too_long))
        raise fail(
            row,
            f"the pixels field has {lengths[row]:,} characters; {PIXELS} values 0..255 "
            f"separated by spaces take at most {MAX_ROW_CHARS:,}",
            "the row is malformed; download FER2013 again",
        )
    images = np.empty((len(pixels), SIDE, SIDE), np.uint8)
    for start in range(0, len(pixels), ROWS_PER_PASS):
        rows = pixels.iloc[start : start + ROWS_PER_PASS]

        def fail_in_pass(row: int, problem: str, fix: str, start=start) -> UserError:
            return fail(start + row, problem, fix)

        images[start : start + len(rows)] = _parse_rows(rows, fail_in_pass)
    return images


def _parse_rows(pixels: pd.Series, fail) -> np.ndarray:
    """The rows' pixels with a few vectorised passes. The positions of the spaces give each
    row's value count and each value's last digit; a value is then its last three digits,
    where they are digits. Errors are located row by row only once something is known to be
    wrong."""
    not_ascii = ~pixels.str.isascii().to_numpy()
    if not_ascii.any():
        row = int(np.argmax(not_ascii))
        raise fail(
            row,
            f"pixel value {_first_token(pixels.iloc[row], lambda t: not t.isascii())} is not "
            "an integer",
            "pixels must be space-separated integers 0..255",
        )
    lengths = pixels.str.len().to_numpy()
    pad = 3  # leading spaces, so that looking three characters back never leaves the text
    text = np.frombuffer((" " * pad + " ".join(pixels.tolist())).encode("ascii"), np.uint8)
    row_start = pad + np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))

    def row_of(position: int) -> int:
        return int(np.searchsorted(row_start, position, side="right") - 1)

    digit = text - np.uint8(ord("0"))  # a space becomes 240, any other non-digit > 9 too
    is_space = text == ord(" ")
    spaces = np.flatnonzero(is_space)
    if np.count_nonzero(digit > 9) != len(spaces):
        row = row_of(int(np.argmax((digit > 9) & ~is_space)))
        raise fail(
            row,
            f"pixel value {_first_token(pixels.iloc[row], lambda t: not t.isdigit())} is not "
            "an integer",
            "pixels must be integers 0..255 separated by single spaces",
        )
    spaces = spaces[pad:]
    value_end = np.append(spaces - 1, len(text) - 1)  # the last digit of every value
    if (lengths == 0).any() or is_space[value_end].any():
        empty = np.flatnonzero((lengths == 0) | is_space[row_start])
        rows = list(empty) + [row_of(int(value_end[np.argmax(is_space[value_end])]))]
        raise fail(
            int(min(rows)),
            "an empty pixel value (doubled, leading or trailing space)",
            "separate the 2304 pixel values with single spaces",
        )
    values_per_row = np.diff(np.searchsorted(value_end, np.append(row_start, len(text))))
    wrong_count = values_per_row != PIXELS
    if wrong_count.any():
        row = int(np.argmax(wrong_count))
        raise fail(
            row,
            f"{values_per_row[row]} pixel values, expected {PIXELS} (48x48)",
            "the row is truncated or malformed; download FER2013 again",
        )
    values = digit[value_end].astype(np.int16)
    tens = digit[value_end - 1]
    has_tens = tens <= 9
    values += np.where(has_tens, tens, 0).astype(np.int16) * 10
    hundreds = digit[value_end - 2]
    has_hundreds = has_tens & (hundreds <= 9)
    values += np.where(has_hundreds, hundreds, 0).astype(np.int16) * 100
    too_big = (values > 255) | (has_hundreds & (digit[value_end - 3] <= 9))
    if too_big.any():
        first = int(np.argmax(too_big))
        row = first // PIXELS
        token = _first_token(pixels.iloc[row], lambda t: len(t) > 3 or int(t) > 255)
        raise fail(
            row,
            f"pixel value {token} is above 255 or longer than 3 digits",
            "pixels must be integers 0..255",
        )
    return values.astype(np.uint8).reshape(-1, SIDE, SIDE)


def _first_token(row: str, bad) -> str:
    """The row's first space-separated token for which `bad` is true, quoted and cut to 20
    characters (a row with tabs instead of spaces is one 9 kB token)."""
    token = next(t for t in row.split(" ") if t and bad(t))
    if len(token) <= 20:
        return repr(token)
    return f"{token[:20]!r}... ({len(token):,} characters)"

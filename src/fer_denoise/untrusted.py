"""Reading files that a user or a download hands us: archives, compressed tables and images.

Every read is bounded before bytes are decompressed or pixels decoded, so a small hostile file
can neither exhaust memory nor crash a whole run; every problem is a UserError that names the
file (and member) and the fix. The limits are far above what the datasets need:

- a table (FER2013 CSV, or an .npz array): at most MAX_TABLE_BYTES uncompressed; the
  competition CSV is 301 million bytes;
- an archive: at most MAX_MEMBERS members (FER2013's image zip has 35,887), none of them
  named to escape a folder if extracted;
- an image file or member: at most MAX_IMAGE_BYTES, and at most MAX_IMAGE_PIXELS pixels,
  checked from its header before the pixels are decoded.
"""

import gzip
import io
import posixpath
import re
import warnings
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError

MAX_TABLE_BYTES = 512 * 2**20
MAX_MEMBERS = 1_000_000
MAX_IMAGE_BYTES = 64 * 2**20
MAX_IMAGE_PIXELS = 4096 * 4096
CHUNK = 1 << 20
# What a corrupt gzip or zip raises while it is decompressed: a bad header or CRC (OSError,
# BadZipFile), a stream cut short (EOFError), deflate data that does not decode (zlib.error).
CORRUPT = (OSError, EOFError, zlib.error, zipfile.BadZipFile)
MODES = {1: "L", 3: "RGB"}  # channels -> the PIL mode images are decoded to


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def too_large(source: str, limit: int) -> UserError:
    return UserError(
        f"{source} holds more than {mib(limit)} of data, above the limit for a table; is it "
        "the right file? Split it into smaller files."
    )


def read_limited(stream, limit: int, source: str) -> bytes:
    """All of a stream's bytes, or an error once it gives more than `limit`."""
    chunks, size = [], 0
    try:
        while chunk := stream.read(min(CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise too_large(source, limit)
    except CORRUPT as error:
        raise UserError(f"{source} is corrupt or truncated ({error}); download it again") from error
    return b"".join(chunks)


def gunzip(path: Path, limit: int = MAX_TABLE_BYTES) -> bytes:
    """The decompressed bytes of a gzip file, at most `limit` of them."""
    with gzip.open(path, "rb") as stream:
        return read_limited(stream, limit, f"{path} (gzip)")


def check_member_name(name: str, archive: str) -> None:
    """Refuse archive members that would escape a target folder if extracted."""
    normal = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or normal.startswith(".."):
        raise UserError(
            f"{archive}: unsafe member name {name!r} (absolute or outside the "
            "archive); refusing to read this archive. Download it again from Kaggle."
        )


def open_zip(path: Path) -> zipfile.ZipFile:
    """A zip whose member count and names are checked before any member is read."""
    try:
        archive = zipfile.ZipFile(path)
    except CORRUPT as error:
        raise UserError(f"{path}: not a readable zip ({error}); download it again") from error
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        archive.close()
        raise UserError(
            f"{path} holds {len(infos):,} members, above the limit of {MAX_MEMBERS:,}; "
            "is it the right archive?"
        )
    for info in infos:
        check_member_name(info.filename, str(path))
    return archive


def read_member(archive: zipfile.ZipFile, name: str, limit: int, source: str) -> bytes:
    """One member's bytes, refused above `limit` by its declared size (zipfile never returns
    more than that size: a member that decompresses to more fails its CRC check instead)."""
    where = f"{source}!{name}"
    size = archive.getinfo(name).file_size
    if size > limit:
        raise UserError(
            f"{where} is {mib(size)} uncompressed, above the limit of {mib(limit)}; "
            "remove it, or download the archive again"
        )
    with archive.open(name) as stream:
        return read_limited(stream, limit, where)


def csv_member(names: list[str], source: str) -> str | None:
    """The archive's FER2013 CSV: the one member named fer2013.csv, else its only .csv file;
    None when it holds no CSV. Several candidates are an error: the checksum and the parser
    must read the same member."""
    csvs = [n for n in names if n.lower().endswith(".csv")]
    named = [n for n in csvs if posixpath.basename(n) == "fer2013.csv"]
    candidates = named or csvs
    if len(candidates) > 1:
        raise UserError(
            f"{source} holds several CSV files ({', '.join(candidates[:5])}); keep only "
            "fer2013.csv in it"
        )
    return candidates[0] if candidates else None


def decode_image(
    data: bytes | Path, name: str, channels: int, max_pixels: int, modes: Counter | None = None
) -> np.ndarray:
    """An image file's pixels as uint8 (H, W) for one channel or (H, W, 3) for RGB.

    The size comes from the header and is refused above `max_pixels` before any pixel is
    decoded. 16-bit grayscale is scaled to 8 bits (65535 -> 255), not clipped; 32-bit integer
    and float images have no agreed range, so they are refused. `modes` counts the files' own
    PIL modes, for a caller that reports conversions.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(data, Path):
            size = data.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise UserError(
                    f"{name}: {mib(size)}, above the limit of "
                    f"{mib(MAX_IMAGE_BYTES)} for an image file; is it an image?"
                )
            data = data.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if modes is not None:
            modes[image.mode] += 1
        width, height = image.size
        if width * height > max_pixels:
            raise UserError(
                f"{name}: {width}x{height} ({width * height:,} pixels), above the limit of "
                f"{max_pixels:,} pixels; downscale it"
            )
        if image.mode in ("I", "F"):
            raise UserError(
                f"{name}: 32-bit {'integer' if image.mode == 'I' else 'float'} pixels; "
                "save it as an 8- or 16-bit image"
            )
        if image.mode.startswith("I;16"):
            wide = np.asarray(image).astype(np.uint32)
            image = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
        return np.asarray(image.convert(MODES[channels]))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UserError(f"{name}: too large to decode safely ({error}); downscale it") from error
    except UnidentifiedImageError as error:
        raise UserError(f"{name}: not a readable image (unknown format, or corrupt)") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise UserError(f"{name}: not a readable image ({error})") from error

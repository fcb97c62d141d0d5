"""The data stages, params and training against hostile and broken files, run as the stages run:
exit status 2, a message naming the file, line, member or key and the fix, nothing half-made
left behind, and memory bounded by the documented limits, not by what a file claims."""

import gzip
import hashlib
import io
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import csv_text, fer_rows, png_bytes, write_image_zip
from PIL import Image
from test_bad_input import (
    PIXELS,
    change_params,
    csv_with_row,
    data_stages_fail_cleanly,
    fails_cleanly,
    zip_of,
)
from test_hostile_cli import bilevel_png
from test_params import with_change

from fer_denoise.errors import UserError
from fer_denoise.fer2013 import parse_csv, read_fer2013
from fer_denoise.image_folders import read_image_folder
from fer_denoise.params import validate
from fer_denoise.stages import add_noise, fetch, prepare, train
from fer_denoise.untrusted import MAX_TABLE_BYTES

CSV = csv_text(fer_rows(4)).encode()
GZIPPED = gzip.compress(CSV)
GOOD_PNG = png_bytes(fer_rows(1)[0][1])


def zeros_over_the_table_limit(compressor) -> bytes:
    """A few hundred kB that decompress to more than MAX_TABLE_BYTES."""
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(MAX_TABLE_BYTES // len(chunk) + 1)]
    return b"".join(parts) + compressor.flush()


def gzip_bomb() -> bytes:
    return zeros_over_the_table_limit(zlib.compressobj(9, zlib.DEFLATED, 31))  # 31: gzip


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("fer2013.csv", "w", force_zip64=True) as member,
    ):
        for _ in range(MAX_TABLE_BYTES // (1 << 20) + 1):
            member.write(bytes(1 << 20))
    return buffer.getvalue()


def with_bad_crc(data: bytes, offset: int) -> bytes:
    corrupt = bytearray(data)
    corrupt[offset] ^= 0xFF
    return bytes(corrupt)


def stored_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def bilevel_png_bytes(tmp_path: Path, side: int) -> bytes:
    return bilevel_png(tmp_path / f"{side}.png", side).read_bytes()


CORRUPT_FILES = {
    "truncated csv.gz": (
        lambda: GZIPPED[:-200],
        "fer2013.csv.gz",
        ("(gzip) is corrupt or truncated", "download it again"),
    ),
    "csv.gz with a bad CRC": (
        lambda: with_bad_crc(GZIPPED, -6),
        "fer2013.csv.gz",
        ("(gzip) is corrupt or truncated", "CRC check failed"),
    ),
    "garbage after the gzip": (
        lambda: GZIPPED + b"garbage!",
        "fer2013.csv.gz",
        ("(gzip) is corrupt or truncated", "download it again"),
    ),
    "truncated zip": (
        lambda: stored_zip({"fer2013.csv": CSV})[: len(CSV) // 2],
        "archive.zip",
        ("archive.zip: not a readable zip", "download it again"),
    ),
    "zip member with a bad CRC": (
        lambda: with_bad_crc(stored_zip({"fer2013.csv": CSV}), 100),
        "archive.zip",
        ("archive.zip!fer2013.csv is corrupt or truncated", "Bad CRC-32"),
    ),
    "gzip bomb": (
        gzip_bomb,
        "fer2013.csv.gz",
        ("(gzip) holds more than 512 MiB of data", "is it the right file?"),
    ),
    "zip bomb": (
        zip_bomb,
        "archive.zip",
        ("archive.zip!fer2013.csv holds more than 512 MiB of data", "is it the right file?"),
    ),
    "the image zip twice": (
        lambda: zip_of(
            {"a/train/happy/Training_1.png": GOOD_PNG, "b/train/happy/Training_1.png": GOOD_PNG}
        ),
        "archive.zip",
        ("under several folders (a/, b/): the dataset twice? Keep one copy",),
    ),
    "one image twice": (
        lambda: zip_of(
            {"train/happy/Training_1.png": GOOD_PNG, "train/happy/Training_1.jpg": GOOD_PNG}
        ),
        "archive.zip",
        ("Training_1.jpg and train/happy/Training_1.png are the same image id",),
    ),
    "token 0128": (
        lambda: csv_with_row(0, pixels=PIXELS.replace("9", "0128", 1)),
        "fer2013.csv",
        ("line 2: pixel value '0128' is above 255 or longer than 3 digits",),
    ),
    "token 0000": (
        lambda: csv_with_row(3, pixels=PIXELS.replace("9", "0000", 1)),
        "fer2013.csv",
        ("line 5: pixel value '0000' is above 255 or longer than 3 digits",),
    ),
    "Unicode digit": (
        lambda: csv_with_row(2, pixels=PIXELS.replace("9", "\u00b2", 1)),
        "fer2013.csv",
        ("line 4: pixel value '\u00b2' is not an integer",),
    ),
    "tab-separated pixels": (
        lambda: csv_with_row(1, pixels=PIXELS.replace(" ", "\t")),
        "fer2013.csv",
        ("line 3: pixel value '9\\t9\\t", "(4,607 characters) is not an integer", "single spaces"),
    ),
    "4 fields in every row": (
        lambda: CSV.replace(b"\n", b",x\n").replace(b"Usage,x\n", b"Usage\n", 1),
        "fer2013.csv",
        ("line 2 has 4 fields, but a FER2013 CSV has 3", "remove the extra columns"),
    ),
}


@pytest.mark.parametrize("case", CORRUPT_FILES)
def test_corrupt_and_hostile_files_stop_fetch_or_prepare(workspace, capsys, case):
    make, name, fragments = CORRUPT_FILES[case]
    data_stages_fail_cleanly(workspace, capsys, make(), name, *fragments)


def test_a_huge_image_in_the_image_zip_is_refused_from_its_header(workspace, capsys, tmp_path):
    for side, message in [(20_000, "too large to decode safely"), (5_000, "5000x5000")]:
        archive = workspace / "data/raw/archive.zip"
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(
            zip_of({"train/happy/Training_1.png": bilevel_png_bytes(tmp_path, side)})
        )
        fails_cleanly(prepare.main, capsys, "Training_1.png", message, "remove it")


def test_the_checksum_is_of_the_member_that_prepare_parses(workspace, capsys):
    """A zip with old/my_fer2013.csv beside fer2013.csv: data.md5 of the first is refused,
    data.md5 of the second passes and that is the file parsed."""
    other = csv_text(fer_rows(4, seed=5)).encode()
    (workspace / "data/external").mkdir(parents=True)
    (workspace / "data/external/archive.zip").write_bytes(
        zip_of({"old/my_fer2013.csv": other, "fer2013.csv": CSV})
    )
    change_params("data.md5", hashlib.md5(other, usedforsecurity=False).hexdigest())
    fails_cleanly(fetch.main, capsys, "does not match data.md5")

    change_params("data.md5", hashlib.md5(CSV, usedforsecurity=False).hexdigest())
    fetch.main()
    prepare.main()
    with np.load(workspace / "data/prepared/images.npz") as prepared:
        assert np.array_equal(prepared["images"], parse_csv(CSV, "expected").images)


def test_two_csvs_without_fer2013_csv_are_ambiguous(tmp_path):
    path = tmp_path / "two.zip"
    path.write_bytes(zip_of({"a.csv": CSV, "b.csv": CSV}))
    with pytest.raises(UserError, match="holds several CSV files .a.csv, b.csv.; keep only"):
        read_fer2013(path)


def test_the_macos_resource_forks_beside_the_images_are_ignored(tmp_path):
    rows = fer_rows(1)
    path = write_image_zip(tmp_path / "archive.zip", rows)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/train/angry/._Training_1.png", b"\x00\x05\x16\x07 fork")
    assert len(read_fer2013(path)) == 3


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    face = fer_rows(1)[0][1]
    folder = tmp_path / "faces"
    for split in ("train", "val", "test"):
        (folder / split).mkdir(parents=True)
        wide = face.astype(np.uint16) * 257  # 8-bit v is 16-bit v * 257: the same brightness
        Image.fromarray(wide).save(folder / split / "face.png")
    found = read_image_folder(folder, 1, 48, 0.1, 0.1, 0)
    assert np.array_equal(found.images[0], face)


NON_FINITE = [
    ("noise.factor", math.nan),
    ("noise.tasks.salt_pepper.amount", math.nan),
    ("noise.tasks.gaussian_low.std", math.inf),
    ("train.learning_rate", math.nan),
    ("gan.adversarial_weight", math.inf),
]


@pytest.mark.parametrize(("key", "value"), NON_FINITE, ids=[k for k, _ in NON_FINITE])
def test_nan_and_infinity_are_refused_by_the_stages(workspace, capsys, key, value):
    change_params(key, value)
    fails_cleanly(
        lambda: add_noise.main("gaussian_low"), capsys, f"`{key}` must be a finite number", "Fix it"
    )
    assert not (workspace / "data/noisy").exists()


def test_a_nan_in_a_filter_grid_is_refused():
    with pytest.raises(UserError, match="`baselines.bm3d` must be a non-empty list of positive"):
        validate(with_change("baselines.bm3d", [1.0, math.nan]))


@pytest.mark.parametrize("name", ["my task", "gaussian\n", "Gaussian"])
def test_task_names_that_cannot_name_files_say_why(name):
    params = with_change("noise.tasks", {name: {"type": "gaussian", "std": 0.2}})
    params["curriculum"], params["extra_models"]["tasks"] = {}, []
    with pytest.raises(UserError) as error:
        validate(params)
    message = str(error.value)
    assert f"`noise.tasks.{name!r}` is not a valid task name" in message
    assert "no spaces or line breaks" in message


def test_an_unwritable_checkpoint_folder_stops_training_before_the_first_epoch(workspace, capsys):
    (workspace / "data/external").mkdir(parents=True)
    (workspace / "data/external/fer2013.csv").write_bytes(CSV)
    change_params("data.limit", 4)
    fetch.main()
    prepare.main()
    add_noise.main("gaussian_low")
    Path("models").mkdir()
    Path("models/checkpoints").write_text("a file where the checkpoint folder goes")
    capsys.readouterr()
    fails_cleanly(
        lambda: train.main("unet", "gaussian_low"),
        capsys,
        "cannot write the training checkpoint in models/checkpoints/unet",
        "make models/checkpoints a writable folder",
    )
    assert not Path("models/unet").exists() and not Path("metrics").exists()


def test_packing_an_image_folder_refuses_a_file_too_large_for_an_image(tmp_path, monkeypatch):
    folder = tmp_path / "faces" / "train"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(GOOD_PNG)
    with open(folder / "huge.png", "wb") as sparse:  # 65 MiB on paper, nothing on disk
        sparse.truncate(65 * 2**20)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="huge.png is 65 MiB, above the limit of 64 MiB"):
        fetch.fetch(str(tmp_path / "faces"), None, {}, dataset="images")
    assert not (tmp_path / "data/raw").exists()


def test_prepare_refuses_a_zip_member_by_its_declared_size(tmp_path):
    """Before reading a byte of it: `fetch` refuses it first, `prepare` again on its own."""
    path = tmp_path / "archive.zip"
    path.write_bytes(zip_bomb())
    with pytest.raises(UserError, match="fer2013.csv is 513 MiB uncompressed, above the limit"):
        read_fer2013(path)

import gzip
import zipfile

import numpy as np
import pytest
from conftest import csv_text, fer_rows, png_bytes, write_image_zip

from fer_denoise import fer2013
from fer_denoise.errors import UserError
from fer_denoise.fer2013 import detect_format, parse_csv, read_fer2013


def test_csv_rows_become_images_labels_and_splits(fer_csv):
    rows = fer_rows(8)
    data = read_fer2013(fer_csv)
    assert data.images.shape == (24, 48, 48) and data.images.dtype == np.uint8
    assert np.array_equal(data.images, np.stack([image for _, image, _ in rows]))
    assert data.labels.tolist() == [e for e, _, _ in rows]
    assert data.split.tolist() == ["train"] * 8 + ["val"] * 8 + ["test"] * 8


def test_gzip_and_zipped_csv_give_the_same_arrays(tmp_path, fer_csv):
    expected = read_fer2013(fer_csv)
    gz = tmp_path / "fer2013.csv.gz"
    gz.write_bytes(gzip.compress(fer_csv.read_bytes()))
    zipped = tmp_path / "download"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("fer2013.csv", fer_csv.read_bytes())
    for path in (gz, zipped):
        data = read_fer2013(path)
        assert np.array_equal(data.images, expected.images)
        assert np.array_equal(data.labels, expected.labels)


def test_image_zip_is_ordered_by_split_then_id_and_matches_the_csv(tmp_path):
    rows = fer_rows(4)
    # Shuffle the ids inside each split: order must come from the id, not the member order.
    ids = [5, 3, 9, 1, 40, 30, 20, 10, 2, 4, 6, 8]
    data = read_fer2013(write_image_zip(tmp_path / "archive.zip", rows, ids))
    order = sorted(range(len(rows)), key=lambda i: (i // 4, ids[i]))
    assert np.array_equal(data.images, np.stack([rows[i][1] for i in order]))
    assert data.labels.tolist() == [rows[i][0] for i in order]
    assert data.split.tolist() == ["train"] * 4 + ["val"] * 4 + ["test"] * 4


def test_duplicate_id_in_two_emotions_is_ordered_by_emotion_code(tmp_path):
    rows = fer_rows(2)
    rows[0] = (6, rows[0][1], "Training")  # neutral
    rows[1] = (5, rows[1][1], "Training")  # surprise, same id below
    data = read_fer2013(write_image_zip(tmp_path / "archive.zip", rows, [7, 7, 1, 2, 3, 4]))
    assert data.labels[:2].tolist() == [5, 6]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows.__setitem__(2, (3, rows[2][1][:-1], "Training")), "line 4: 2303 pixel"),
        (lambda rows: rows.__setitem__(5, (9, rows[5][1], "Training")), "line 7: unknown emotion"),
        (lambda rows: rows.__setitem__(0, (7, rows[0][1], "Training")), "line 2: unknown emotion"),
        (lambda rows: rows.__setitem__(9, (1, rows[9][1], "Validation")), "line 11: unknown Usage"),
    ],
)
def test_bad_rows_name_the_line(mutate, message):
    rows = [(e, image.ravel(), u) for e, image, u in fer_rows(4)]
    mutate(rows)
    with pytest.raises(UserError, match=message):
        parse_csv(csv_text(rows).encode(), "fer.csv")


def replace_pixels(row: int, pixels: str) -> bytes:
    lines = csv_text(fer_rows(4)).splitlines()
    emotion, _, usage = lines[row].split(",")
    lines[row] = f"{emotion},{pixels},{usage}"
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (" ".join(["7"] * 2305), "line 3: 2305 pixel values, expected 2304"),
        (" ".join(["256"] * 2304), "line 3: pixel value .256. is above 255"),
        (" ".join(["1000"] + ["1"] * 2303), "line 3: pixel value .1000. is above 255"),
        (" ".join(["-1"] + ["1"] * 2303), "line 3: pixel value '-1' is not an integer"),
        (" ".join(["1"] * 100 + ["abc"] + ["1"] * 2203), "line 3: pixel value 'abc'"),
        ("1  " + " ".join(["1"] * 2303), "line 3: an empty pixel value"),
        ("", "line 3: the row ends early"),
    ],
)
def test_bad_pixel_values_name_the_line(pixels, message):
    with pytest.raises(UserError, match=message):
        parse_csv(replace_pixels(2, pixels), "fer.csv")


def test_truncated_file_names_its_last_line(fer_csv):
    data = fer_csv.read_bytes()
    with pytest.raises(UserError, match="line 25: the row ends early"):
        parse_csv(data[: len(data) - 500], str(fer_csv))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"label,pixels,Usage\n0,1 2,Training\n", "header emotion,pixels,Usage"),
        (b"emotion,pixels,Usage\n", "no rows"),
    ],
)
def test_bad_files_say_what_is_wrong(content, message):
    with pytest.raises(UserError, match=message):
        parse_csv(content, "fer.csv")


def write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../../outside/fer2013.csv": b"emotion,pixels,Usage\n"}, "unsafe member name"),
        ({"/etc/fer2013.csv": b"emotion,pixels,Usage\n"}, "unsafe member name"),
        (
            {
                "train/happy/Training_1.png": png_bytes(fer_rows(1)[0][1]),
                "train/sad/Training_2.jpg": b"this is not a jpeg",
            },
            "Training_2.jpg: not a readable image",
        ),
        ({"train/bored/Training_1.png": b""}, "unknown emotion folder 'bored'"),
        ({"test/sad/Training_1.png": b""}, "Training images belong in train/"),
        ({"notes.txt": b"hello"}, "no FER2013 images or fer2013.csv"),
    ],
)
def test_bad_zips_are_refused_with_the_reason(tmp_path, members, message):
    with pytest.raises(UserError, match=message):
        read_fer2013(write_zip(tmp_path / "archive.zip", members))


def test_format_is_detected_from_content_not_name():
    assert detect_format(b"\x1f\x8b\x08\x00") == "gzip"
    assert detect_format(b"PK\x03\x04") == "zip"
    assert detect_format(b"emot") == "csv"


def test_errors_name_the_line_whichever_pass_finds_them(monkeypatch):
    """The pixels are parsed a few rows at a time; a line number counts from the file's start."""
    monkeypatch.setattr(fer2013, "ROWS_PER_PASS", 3)
    rows = [(e, image.ravel(), u) for e, image, u in fer_rows(4)]
    assert np.array_equal(
        parse_csv(csv_text(rows).encode(), "fer.csv").images.reshape(len(rows), -1),
        np.stack([image for _, image, _ in rows]),
    )
    for row in (0, 2, 3, 7, 11):
        bad = list(rows)
        bad[row] = (bad[row][0], np.append(bad[row][1], 1), bad[row][2])
        with pytest.raises(UserError, match=f"line {row + 2}: 2305 pixel values"):
            parse_csv(csv_text(bad).encode(), "fer.csv")


def test_a_row_longer_than_any_image_is_refused_before_it_is_parsed():
    data = replace_pixels(4, " ".join(["1"] * 10_000))
    with pytest.raises(UserError, match="line 5: the pixels field has 19,999 characters"):
        parse_csv(data, "fer.csv")


def test_a_byte_order_mark_windows_line_ends_and_quoted_pixels_still_parse():
    rows = fer_rows(4)
    plain = parse_csv(csv_text(rows).encode(), "fer.csv")
    text = csv_text(rows).replace("\n", "\r\n")
    quoted = "\r\n".join(
        line if i == 0 else '{},"{}",{}'.format(*line.split(","))
        for i, line in enumerate(text.split("\r\n")[:-1])
    )
    variant = parse_csv(b"\xef\xbb\xbf" + quoted.encode() + b"\r\n", "fer.csv")
    assert np.array_equal(variant.images, plain.images)
    assert np.array_equal(variant.labels, plain.labels)

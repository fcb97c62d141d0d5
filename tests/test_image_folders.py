"""Image-folder datasets: any one size, grayscale or RGB, splits from folders or a seeded
fraction; every bad file is named with its fix."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from fer_denoise.errors import UserError
from fer_denoise.fer2013 import SPLITS
from fer_denoise.image_folders import read_image_folder, split_by_fraction


def png(color: tuple[int, int, int], size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_folder(root, names: dict[str, bytes]):
    for name, data in names.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def read(path, channels=3, size=16, **kwargs):
    settings = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 7} | kwargs
    return read_image_folder(path, channels, size, **settings)


def test_split_by_fraction_is_seeded_and_sized():
    split = split_by_fraction(100, 0.1, 0.2, seed=3)
    assert (split == "val").sum() == 10 and (split == "test").sum() == 20
    assert np.array_equal(split, split_by_fraction(100, 0.1, 0.2, seed=3))
    assert not np.array_equal(split, split_by_fraction(100, 0.1, 0.2, seed=4))
    with pytest.raises(UserError, match="must stay below 1"):
        split_by_fraction(10, 0.5, 0.5, seed=0)


def test_a_folder_of_rgb_images_reads_in_sorted_order_with_seeded_splits(tmp_path):
    names = {f"faces/{i:02d}.png": png((i * 10, 0, 255 - i * 10)) for i in range(10)}
    data = read(make_folder(tmp_path, names))
    assert data.images.shape == (10, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.images[3, 0, 0].tolist() == [30, 0, 225]  # sorted: faces/03.png is fourth
    assert sorted(set(data.split)) == ["test", "train", "val"]
    assert np.array_equal(data.split, read(tmp_path).split)


def test_grayscale_and_split_folders_from_a_zip(tmp_path):
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split, count in (("train", 4), ("valid", 2), ("test", 3)):
            for i in range(count):
                zf.writestr(f"{split}/{i}.png", png((200, 200, 200)))
        zf.writestr("README.txt", "not an image")
    data = read(archive, channels=1)
    assert data.images.shape == (9, 16, 16)
    assert sorted(data.split.tolist()) == ["test"] * 3 + ["train"] * 4 + ["val"] * 2


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.png": png((1, 2, 3), size=20)}, "a.png is 20x20, but data.image_size is 16"),
        ({"b.png": b"not a png"}, "b.png: not a readable image"),
        ({"train/a.png": png((1, 2, 3)), "c.png": png((1, 2, 3))}, "c.png is outside the"),
        ({"notes.txt": b"hello"}, "no PNG or JPEG images inside"),
        ({"train/a.png": png((1, 2, 3)), "test/b.png": png((1, 2, 3))}, "no images for split"),
        (
            {f"{copy}/{split}/a.png": png((1, 2, 3)) for copy in "xy" for split in SPLITS},
            "split folders under several folders .x, y.: the dataset twice",
        ),
    ],
)
def test_bad_datasets_name_the_file_and_the_fix(tmp_path, files, message):
    with pytest.raises(UserError, match=message):
        read(make_folder(tmp_path, files))


def test_a_zip_member_that_escapes_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../outside.png", png((0, 0, 0)))
    with pytest.raises(UserError, match="unsafe member name"):
        read(archive)

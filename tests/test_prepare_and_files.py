import numpy as np
import pytest
from PIL import Image

from fer_denoise.datasets import load_labelled
from fer_denoise.errors import UserError
from fer_denoise.fer2013 import SPLITS, read_fer2013
from fer_denoise.files import atomic_path, load_npz, save_npz, write_bytes
from fer_denoise.params import Data
from fer_denoise.paths import PREPARED
from fer_denoise.stages.prepare import raw_file, read_dataset, summary

FER = {"dataset": "fer2013", "limit": None}
IMAGES = {
    "dataset": "images",
    "limit": None,
    "channels": 3,
    "image_size": 8,
    "val_fraction": 0.25,
    "test_fraction": 0.25,
    "split_seed": 1,
}


def test_limit_keeps_the_first_images_of_every_split(fer_csv):
    data = read_dataset(fer_csv, Data.model_construct(**FER | {"limit": 3}))
    assert data["split"].tolist() == ["train"] * 3 + ["val"] * 3 + ["test"] * 3
    assert np.array_equal(data["images"][:3], read_fer2013(fer_csv).images[:3])
    assert np.array_equal(data["labels"][:3], read_fer2013(fer_csv).labels[:3])


def test_summary_counts_images_per_split_and_emotion(fer_csv):
    counts = summary(read_dataset(fer_csv, Data.model_construct(**FER)))
    assert counts["train"]["images"] == 8
    assert sum(v for k, v in counts["test"].items() if k != "images") == 8
    assert counts["val"]["disgust"] == 2 and counts["val"]["angry"] == 1


def test_an_image_folder_dataset_has_color_images_a_seeded_split_and_no_labels(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(8):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    data = read_dataset(folder, Data.model_construct(**IMAGES))
    assert data["images"].shape == (8, 8, 8, 3) and "labels" not in data
    assert summary(data) == {name: {"images": 2 if name != "train" else 4} for name in SPLITS}
    assert (
        read_dataset(folder, Data.model_construct(**IMAGES | {"limit": 1}))["split"]
        .tolist()
        .count("train")
        == 1
    )


def test_the_label_stages_say_what_to_run_without_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_npz(PREPARED, images=np.zeros((3, 8, 8), np.uint8), split=np.array(SPLITS))
    with pytest.raises(UserError, match="recognition needs emotion labels.*dvc repro evaluate"):
        load_labelled("recognition")


def test_raw_folder_must_hold_exactly_one_file(tmp_path):
    with pytest.raises(UserError, match="run `dvc repro fetch`"):
        raw_file(tmp_path / "raw")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "fer2013.csv").write_text("x")
    assert raw_file(tmp_path / "raw").name == "fer2013.csv"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_bytes_replaces_the_file_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "face.png"
    (tmp_path / ".tmp-face.png").write_bytes(b"left by a killed run")
    write_bytes(target, b"first")
    assert target.read_bytes() == b"first"

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["face.png"]


def test_npz_round_trip_without_pickle_and_missing_file_names_the_stage(tmp_path):
    save_npz(tmp_path / "a.npz", images=np.arange(4, dtype=np.uint8))
    assert load_npz(tmp_path / "a.npz", ("images",), "prepare")["images"].tolist() == [0, 1, 2, 3]
    with pytest.raises(UserError, match="run `dvc repro prepare` first"):
        load_npz(tmp_path / "b.npz", ("images",), "prepare")
    with pytest.raises(UserError, match="lacks arrays"):
        load_npz(tmp_path / "a.npz", ("labels",), "prepare")

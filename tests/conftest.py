"""Small synthetic FER2013 data, so the suite needs neither the real data set nor a network."""

import contextlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from tiny_repo import ROOT, TINY_CSV, make_tiny_repository, outcome, run

from fer_denoise.fer2013 import EMOTIONS
from fer_denoise.stages import add_noise, fetch, prepare

USAGES = ("Training", "PublicTest", "PrivateTest")


def synthetic_faces(count: int, seed: int = 0) -> np.ndarray:
    """Smooth random 48x48 uint8 images (blurred blobs): structure a denoiser can learn."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 6, 6))
    images = np.kron(coarse, np.ones((8, 8)))
    images = (images + np.roll(images, 4, 1) + np.roll(images, 4, 2)) / 3
    return np.round(images * 255).astype(np.uint8)


def fer_rows(per_split: int, seed: int = 0) -> list[tuple[int, np.ndarray, str]]:
    """(emotion, image, Usage) rows in the competition file's order."""
    images = synthetic_faces(per_split * len(USAGES), seed)
    return [(i % len(EMOTIONS), images[i], USAGES[i // per_split]) for i in range(len(images))]


def csv_text(rows) -> str:
    lines = ["emotion,pixels,Usage"]
    lines += [f"{e},{' '.join(map(str, image.ravel()))},{u}" for e, image, u in rows]
    return "\n".join(lines) + "\n"


def write_fer_csv(path: Path, per_split: int = 8, seed: int = 0) -> Path:
    path.write_text(csv_text(fer_rows(per_split, seed)))
    return path


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_image_zip(path: Path, rows, ids=None) -> Path:
    """The Kaggle image-folder layout, lossless PNGs, with image ids `ids` (default 1..N)."""
    ids = ids or list(range(1, len(rows) + 1))
    with zipfile.ZipFile(path, "w") as archive:
        for image_id, (emotion, image, usage) in zip(ids, rows, strict=True):
            folder = "train" if usage == "Training" else "test"
            archive.writestr(
                f"{folder}/{EMOTIONS[emotion]}/{usage}_{image_id}.png", png_bytes(image)
            )
    return path


def committed_params(source: Path) -> dict:
    """The committed params.yaml's values, reading the data set from `source`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["source"] = str(source)
    return params


def noisy_workspace(folder: Path, params: dict, task: str) -> Path:
    """`folder` with `params` written, its data fetched, prepared and noised for `task`: the
    first stages run in this process (seconds), ready for a training stage's subprocess."""
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    with contextlib.chdir(folder):
        fetch.main()
        prepare.main()
        add_noise.main(task)
    return folder


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """An empty repository folder with the committed params.yaml, as the working directory."""
    (tmp_path / "params.yaml").write_text((Path(__file__).parents[1] / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FER2013_PATH", raising=False)
    return tmp_path


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    return write_fer_csv(tmp_path / "fer2013.csv")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny pipeline run once and committed; tests change copies of it (tiny_repo.copy_run).

    Its outcome (noisy data digests, metrics) is kept beside it in first_run.json.
    """
    base = tmp_path_factory.mktemp("tiny_run")
    source = write_fer_csv(base / "fer2013.csv", **TINY_CSV)
    repo = base / "repo"
    make_tiny_repository(repo, str(source))
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny run"], repo)
    (base / "first_run.json").write_text(json.dumps(outcome(repo)))
    return repo

"""An image-folder dataset (generated 64x64 RGB PNGs, no split folders) through the tiny
`dvc repro`: every denoising stage takes color images of another size; the emotion stages,
which need FER2013's labels, say so."""

import json
import math
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image
from tiny_repo import environment, make_tiny_repository, run

from fer_denoise.model_card import read_card

# One worker builds the color run (a module fixture) for both tests.
pytestmark = pytest.mark.xdist_group("color_run")

SIZE, COUNT = 64, 24
TASK = "gaussian_low"


def write_color_faces(folder, count: int, size: int, seed: int = 0) -> None:
    """Smooth color images: a few soft blobs of random colors on a random background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    folder.mkdir(parents=True)
    for index in range(count):
        image = np.broadcast_to(rng.random(3), (size, size, 3)).copy()
        for _ in range(3):
            cy, cx = rng.random(2)
            blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.03)[..., None]
            image = image * (1 - blob) + rng.random(3) * blob
        pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"face_{index:03d}.png")


@pytest.fixture(scope="module")
def color_repo(tmp_path_factory):
    base = tmp_path_factory.mktemp("color_run")
    write_color_faces(base / "faces", COUNT, SIZE)
    repo = base / "repo"
    make_tiny_repository(repo, str(base / "faces"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(
        dataset="images", image_size=SIZE, channels=3, val_fraction=0.25, test_fraction=0.25
    )
    params["noise"]["tasks"] = {TASK: params["noise"]["tasks"][TASK]}
    params["curriculum"] = {TASK: params["curriculum"][TASK]}
    blind = params["blind"]["tasks"]["gaussian_blind"]  # from the one task's model, in color
    params["blind"]["tasks"] = {
        "gaussian_blind": {**blind, "init": f"models/attention_unet/{TASK}.keras"}
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "color faces"], repo)
    run(["dvc", "repro", "evaluate", "error_analysis"], repo)
    return repo


def test_color_images_of_another_size_run_through_the_denoising_stages(color_repo):
    with np.load(color_repo / "data/prepared/images.npz") as prepared:
        assert prepared["images"].shape == (COUNT, SIZE, SIZE, 3)
        assert "labels" not in prepared.files
        assert (prepared["split"] == "test").sum() == COUNT // 4
    metrics = json.loads((color_repo / "metrics/details/evaluate.json").read_text())[TASK]
    models = ("unet", "attention_unet", "gan", "dncnn", "autoencoder")
    assert {"noisy", "median_3x3", "bm3d", *models, "blind"} <= set(metrics)
    assert all(math.isfinite(scores["psnr"]) and scores["ssim"] > 0 for scores in metrics.values())
    headline = json.loads((color_repo / "metrics/evaluate.json").read_text())[TASK]
    assert set(headline) == {"noisy", "best_filter", *models, "blind", "best"}
    assert read_card(color_repo / "models/blind/gaussian_blind.keras")["input_shape"][-1] == 3
    for model in models:
        folder = "models/extra" if model in ("dncnn", "autoencoder") else "models"
        card = read_card(color_repo / f"{folder}/{model}/{TASK}.keras")
        assert card["input_shape"] == [SIZE, SIZE, 3]
    with Image.open(color_repo / f"plots/grids/{TASK}.png") as grid:
        assert grid.mode in ("RGB", "RGBA")
    analysis = json.loads((color_repo / "metrics/analysis.json").read_text())[TASK]["unet"]
    assert {"edge", "flat"} <= set(analysis) and "emotion" not in analysis
    robustness = json.loads((color_repo / "metrics/robustness.json").read_text())["gaussian"]
    assert {"noisy", f"{TASK} unet", "blind"} <= set(robustness)


def test_the_emotion_stages_say_they_need_labels(color_repo):
    result = subprocess.run(
        ["dvc", "repro", "recognition"],
        cwd=color_repo,
        env=environment(color_repo),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "needs emotion labels" in result.stdout + result.stderr
    assert "dvc repro evaluate error_analysis" in result.stdout + result.stderr

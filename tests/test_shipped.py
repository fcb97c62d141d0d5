"""The package's own models: `fer-denoise denoise` with no --model, right after installing.

The blind models in src/fer_denoise/weights come from the pipeline (stage `ship`) and are in
git, so these tests run in a fresh clone with no models/ folder and no `dvc repro`.
"""

import shutil
import subprocess

import numpy as np
import pytest
from conftest import synthetic_faces
from PIL import Image

from fer_denoise.detect import noise_family
from fer_denoise.metrics import psnr_per_image
from fer_denoise.model_card import read_card
from fer_denoise.noise import add_noise, task_rng, to_float, to_uint8
from fer_denoise.shipped import shipped_models

GAUSSIAN = [{"type": "gaussian", "sigma": sigma} for sigma in (0.02, 0.06, 0.12, 0.25)]
IMPULSES = [{"type": "salt_pepper", "amount": amount} for amount in (0.02, 0.1, 0.3)]


def noisy(spec: dict, count: int = 8, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    clean = to_float(synthetic_faces(count, seed=seed))
    return clean, add_noise(clean, spec, task_rng(seed, spec["type"], str(spec)))


@pytest.mark.parametrize("spec", GAUSSIAN + IMPULSES, ids=str)
def test_auto_detection_picks_the_family_of_the_noise(spec):
    clean, images = noisy(spec)
    expected = "impulse" if spec["type"] == "salt_pepper" else "gaussian"
    assert [noise_family(image) for image in images] == [expected] * len(images)
    assert {noise_family(image) for image in clean} == {"gaussian"}  # nothing to switch


def test_the_package_ships_one_blind_model_per_family_with_its_card():
    models = shipped_models()
    assert set(models) == {"gaussian", "impulse"}
    for family, path in models.items():
        card = read_card(path)
        assert card["family"] == family and card["task"].endswith("_blind")
        assert any(key.endswith("_range") for key in card["noise"])  # trained for every level
        assert path.stat().st_size < 4 * 2**20


def fer_denoise(*arguments, cwd) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [shutil.which("fer-denoise"), *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_denoise_without_a_model_restores_both_families_and_says_which_it_chose(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    clean = {}
    for name, spec in {"g": GAUSSIAN[2], "i": IMPULSES[1]}.items():
        faces, images = noisy(spec, count=3, seed=11)
        for index, image in enumerate(images):
            Image.fromarray(to_uint8(image)).save(inputs / f"{name}{index}.png")
            clean[f"{name}{index}"] = faces[index]
    result = fer_denoise("denoise", "in", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "models").exists()
    assert "3 by the gaussian model" in result.stderr and "3 by the impulse model" in result.stderr
    for stem, face in clean.items():
        before = to_float(np.asarray(Image.open(inputs / f"{stem}.png")))
        after = to_float(np.asarray(Image.open(tmp_path / "out" / "in" / f"{stem}.png")))
        assert (
            psnr_per_image(face[None], after[None])[0]
            > psnr_per_image(face[None], before[None])[0] + 3
        )
    forced = fer_denoise("denoise", "in", "--out", "forced", "--noise", "impulse", cwd=tmp_path)
    assert forced.returncode == 0 and "6 by the impulse model" in forced.stderr


def test_info_without_a_model_describes_the_shipped_ones(tmp_path):
    result = fer_denoise("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("family: ") == 2 and "sigma_range" in result.stdout


def test_noise_choice_with_an_explicit_model_is_refused(tmp_path):
    model = next(iter(shipped_models().values()))
    result = fer_denoise(
        "denoise", "x.png", "--out", "o", "--model", model, "--noise", "auto", cwd=tmp_path
    )
    assert result.returncode == 2 and "leave it out with --model" in result.stderr

"""A task's own model values (noise.tasks.<task>.models): its stage trains that network."""

import json
import subprocess
import sys
import zipfile

from conftest import committed_params, noisy_workspace, write_fer_csv


def test_a_task_trains_the_widths_it_sets_and_the_others_keep_the_section_s(tmp_path):
    params = committed_params(write_fer_csv(tmp_path / "fer2013.csv", per_split=32, seed=5))
    params["models"]["unet"].update(depth=2, base_filters=4)
    params["noise"]["tasks"]["gaussian_low"]["models"] = {"unet": {"base_filters": 6}}
    params["train"].update(epochs=1, batch_size=8)
    noisy_workspace(tmp_path, params, "gaussian_low")
    subprocess.run(
        [sys.executable, "-m", "fer_denoise.stages.train", "unet", "gaussian_low"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    with zipfile.ZipFile(tmp_path / "models/unet/gaussian_low.keras") as archive:
        card = json.loads(archive.read("fer_denoise.json"))
        config = json.loads(archive.read("config.json"))
    assert card["architecture"]["base_filters"] == 6
    assert card["architecture"]["depth"] == 2
    first_conv = next(
        layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D"
    )
    assert first_conv["config"]["filters"] == 6

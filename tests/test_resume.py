"""A training stage killed with SIGKILL resumes from its last checkpoint, with the same result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_fer_csv
from tiny_repo import copy_run

from fer_denoise.stages import add_noise, fetch, prepare

ROOT = Path(__file__).parents[1]
TASK = "gaussian_low"
TRAIN = [sys.executable, "-m", "fer_denoise.stages.train", "unet", TASK]
STATE = Path("models/checkpoints/unet") / TASK / "state.json"
MODEL = Path("models/unet") / f"{TASK}.keras"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Prepared and noisy tiny data, and params for three short epochs."""
    work = tmp_path_factory.mktemp("resume")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["source"] = str(write_fer_csv(work / "fer2013.csv", per_split=64, seed=2))
    params["models"]["unet"].update(depth=2, base_filters=4)
    params["train"].update(epochs=3, batch_size=8, early_stopping_patience=3)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    cwd = Path.cwd()
    os.chdir(work)
    try:
        fetch.main()
        prepare.main()
        add_noise.main(TASK)
    finally:
        os.chdir(cwd)
    return work


def weights(model_file: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(model_file, compile=False).get_weights()


def test_killed_training_resumes_and_ends_with_the_uninterrupted_weights(workspace, tmp_path):
    whole = copy_run(workspace, tmp_path / "whole")
    subprocess.run(TRAIN, cwd=whole, check=True, capture_output=True)

    killed = copy_run(workspace, tmp_path / "killed")
    process = subprocess.Popen(TRAIN, cwd=killed, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / STATE).exists() and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "training ended before it could be killed"
    assert not (killed / MODEL).exists()
    done = json.loads((killed / STATE).read_text())["epochs_done"]
    assert 1 <= done < 3

    resumed = subprocess.run(TRAIN, cwd=killed, check=True, capture_output=True, text=True)
    assert f"after epoch {done}" in resumed.stdout
    assert not (killed / STATE).parent.exists(), "the checkpoint is deleted once the model is saved"
    for resumed_array, whole_array in zip(
        weights(killed / MODEL), weights(whole / MODEL), strict=True
    ):
        np.testing.assert_array_equal(resumed_array, whole_array)
    live = "metrics/train/unet/gaussian_low/metrics.json"
    resumed_metrics = json.loads((killed / live).read_text())
    assert resumed_metrics == json.loads((whole / live).read_text())
    assert resumed_metrics["step"] == 2


def test_a_checkpoint_of_other_params_is_not_resumed(workspace, tmp_path):
    work = copy_run(workspace, tmp_path / "work")
    state = work / STATE
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"fingerprint": "other", "epochs_done": 1}))
    result = subprocess.run(TRAIN, cwd=work, check=True, capture_output=True, text=True)
    assert "starting afresh" in result.stdout and "resuming" not in result.stdout
    assert (work / MODEL).is_file()

"""A training stage killed with SIGKILL resumes from its last checkpoint, with the same result:
the denoisers' `fit` stages, the GAN's loop and the emotion classifier alike."""

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import committed_params, noisy_workspace, write_fer_csv
from tiny_repo import copy_run

from fer_denoise.params import SCRATCH

TASK = "gaussian_low"


@dataclass(frozen=True)
class Stage:
    """A training stage's command and paths, and after how many epochs to kill it."""

    model: str
    command: tuple[str, ...]
    kill_after: int
    task: str | None = TASK

    @property
    def state(self) -> Path:
        return Path("models/checkpoints") / self.model / (self.task or "") / "state.json"

    @property
    def saved(self) -> Path:
        return Path("models") / (
            f"{self.model}/{self.task}.keras" if self.task else "classifier.keras"
        )

    @property
    def live(self) -> Path:
        return Path("metrics/train") / self.model / (self.task or "") / "metrics.json"


def module(name: str, *arguments: str) -> tuple[str, ...]:
    return (sys.executable, "-m", f"fer_denoise.stages.{name}", *arguments)


UNET = Stage("unet", module("train", "unet", TASK), 1)
# Killed in its second epoch, the first after the frozen one: the resumed run must restore
# the optimizer of the all-layers phase, not start a new one.
ATTENTION = Stage("attention_unet", module("fine_tune", TASK), 2)
GAN = Stage("gan", module("adversarial", TASK), 1)  # its own loop, two networks and optimizers
CLASSIFIER = Stage("classifier", module("emotion_classifier"), 1, task=None)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Prepared and noisy tiny data, and params for three short epochs."""
    work = tmp_path_factory.mktemp("resume")
    params = committed_params(write_fer_csv(work / "fer2013.csv", per_split=64, seed=2))
    for model in ("unet", "attention_unet"):
        params["models"][model].update(depth=2, base_filters=4)
    params["train"].update(epochs=3, batch_size=8, early_stopping_patience=3)
    params["noise"]["tasks"][TASK]["train"] = {"batch_size": 8}  # not the task's own epochs
    params["fine_tune"].update(epochs=3, frozen_epochs=1)
    params["curriculum"] = {TASK: {"init": SCRATCH}}
    params["gan"].update(epochs=3, steps_per_epoch=6, batch_size=8, discriminator_filters=4)
    params["classifier"].update(
        epochs=3, batch_size=8, width=4, blocks=2, early_stopping_patience=3
    )
    noisy_workspace(work, params, TASK)
    # The GAN starts from the task's Attention U-Net.
    subprocess.run(ATTENTION.command, cwd=work, check=True, capture_output=True)
    return work


def weights(model_file: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(model_file, compile=False).get_weights()


@pytest.mark.parametrize("stage", [UNET, ATTENTION, GAN, CLASSIFIER], ids=lambda stage: stage.model)
def test_killed_training_resumes_and_ends_with_the_uninterrupted_weights(
    workspace, tmp_path, stage
):
    whole = copy_run(workspace, tmp_path / "whole")
    killed = copy_run(workspace, tmp_path / "killed")
    for run in (whole, killed):  # the fixture's Attention U-Net, which the GAN starts from
        (run / stage.saved).unlink(missing_ok=True)
    subprocess.run(stage.command, cwd=whole, check=True, capture_output=True)

    process = subprocess.Popen(stage.command, cwd=killed, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and epochs_done(killed / stage.state) < stage.kill_after:
        assert time.monotonic() < deadline, f"no checkpoint of epoch {stage.kill_after} after 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "training ended before it could be killed"
    assert not (killed / stage.saved).exists()
    done = epochs_done(killed / stage.state)
    assert stage.kill_after <= done < 3

    resumed = subprocess.run(stage.command, cwd=killed, check=True, capture_output=True, text=True)
    assert f"after epoch {done}" in resumed.stdout
    assert not (killed / stage.state).parent.exists(), "the checkpoint is deleted once saved"
    for resumed_array, whole_array in zip(
        weights(killed / stage.saved), weights(whole / stage.saved), strict=True
    ):
        np.testing.assert_array_equal(resumed_array, whole_array)
    resumed_metrics = json.loads((killed / stage.live).read_text())
    assert resumed_metrics == json.loads((whole / stage.live).read_text())
    assert resumed_metrics["step"] == 2


def epochs_done(state: Path) -> int:
    """Epochs in the checkpoint (written atomically, so never half-written); 0 if none."""
    return json.loads(state.read_text())["epochs_done"] if state.exists() else 0


def test_a_checkpoint_of_other_params_is_not_resumed(workspace, tmp_path):
    work = copy_run(workspace, tmp_path / "work")
    state = work / UNET.state
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"fingerprint": "other", "epochs_done": 1}))
    result = subprocess.run(UNET.command, cwd=work, check=True, capture_output=True, text=True)
    assert "starting afresh" in result.stdout and "resuming" not in result.stdout
    assert (work / UNET.saved).is_file()


@pytest.mark.parametrize("stage", [UNET, CLASSIFIER], ids=lambda stage: stage.model)
def test_a_run_killed_after_its_last_checkpoint_saves_the_best_weights(
    workspace, tmp_path, monkeypatch, stage
):
    """Killed between the last epoch's checkpoint and the model's save, a rerun trains nothing
    and saves the checkpoint's best weights."""
    from fer_denoise.checkpoints import TrainingRun
    from fer_denoise.stages import emotion_classifier, train

    work = copy_run(workspace, tmp_path / "work")
    monkeypatch.chdir(work)
    monkeypatch.setattr(TrainingRun, "finish", lambda run: None)  # the checkpoint stays
    if stage is CLASSIFIER:
        emotion_classifier.main()
    else:
        train.main(stage.model, TASK)
    assert epochs_done(work / stage.state) == 3
    first = weights(work / stage.saved)
    (work / stage.saved).unlink()

    resumed = subprocess.run(stage.command, cwd=work, check=True, capture_output=True, text=True)
    assert "after epoch 3" in resumed.stdout
    for resumed_array, first_array in zip(weights(work / stage.saved), first, strict=True):
        np.testing.assert_array_equal(resumed_array, first_array)


def test_a_checkpoint_of_other_networks_names_the_counts_that_differ():
    import keras

    from fer_denoise.checkpoints import assign

    variables = [keras.Variable(np.zeros(2)), keras.Variable(np.zeros(3))]
    with pytest.raises(ValueError, match="3 saved arrays of variables, 2 in the models"):
        assign(variables, [np.ones(2)] * 3, "variables")
    assign(variables, [np.ones(2), np.ones(3)], "variables")
    assert [float(v.numpy().sum()) for v in variables] == [2.0, 3.0]

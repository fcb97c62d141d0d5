"""bench/quality.py refuses to time a forced run that would resume a killed run's stages."""

import importlib.util
from pathlib import Path

import pytest

QUALITY = Path(__file__).resolve().parents[1] / "bench" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("bench_quality", QUALITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_forced_run_refuses_a_killed_runs_checkpoints(quality, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / "unet" / "gaussian_low").mkdir(parents=True)
    (checkpoints / "gan").mkdir()  # an empty folder, as a finished stage leaves it
    quality.refuse_resuming(checkpoints)  # nothing to resume: no error
    (checkpoints / "unet" / "gaussian_low" / "state.json").write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        quality.refuse_resuming(checkpoints)
    message = str(stopped.value)
    assert "unet/gaussian_low" in message and "rm -r" in message
    assert quality.leftover_checkpoints(checkpoints) == [checkpoints / "unet" / "gaussian_low"]

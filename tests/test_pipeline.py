"""The real pipeline: `dvc repro` and `dvc exp run` on a copy of the repository, tiny data."""

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import write_fer_csv

from fer_denoise.model_card import read_card

ROOT = Path(__file__).parents[1]
TASKS = ("gaussian_low", "gaussian_high", "salt_pepper")
pytestmark = pytest.mark.e2e


def run(command: list[str], cwd: Path) -> str:
    """Run a command in the copy with this interpreter's tools first on PATH; fail loudly."""
    environment = {k: v for k, v in os.environ.items() if k != "FER2013_PATH"}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment["PYTHONPATH"] = str(cwd / "src")
    environment.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    result = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def copy_repository(target: Path) -> None:
    """The files a clone would have (tracked, or new and not ignored), without DVC's outputs."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in listed.splitlines():
        source = ROOT / name
        if source.is_file() and not name.startswith(("metrics/", "plots/")) and name != "dvc.lock":
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    repo.mkdir()
    copy_repository(repo)
    write_fer_csv(repo / "data" / "external" / "fer2013.csv", per_split=24, seed=1)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"]["unet"].update(depth=2, base_filters=4)
    params["train"].update(epochs=1, batch_size=8)
    params["evaluate"]["grid_images"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny"], repo)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny run"], repo)
    return repo


def test_repro_writes_finite_metrics_for_every_task_and_model(repo):
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert set(metrics) == set(TASKS)
    for task in TASKS:
        baseline = "switching_median" if task == "salt_pepper" else "median_3x3"
        assert set(metrics[task]) == {"noisy", baseline, "unet"}
        for scores in metrics[task].values():
            assert all(math.isfinite(scores[k]) for k in ("psnr", "ssim", "mse"))
    for task in TASKS:
        card = read_card(repo / f"models/unet/{task}.keras")
        assert card["task"] == task and card["model"] == "unet"
        assert card["train"]["epochs"] == 1 and card["validation"]["epochs_run"] == 1
        assert (repo / f"plots/grids/{task}.png").stat().st_size > 1000
        train_metrics = json.loads((repo / f"metrics/train/unet/{task}/metrics.json").read_text())
        assert math.isfinite(train_metrics["val_loss"])
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)


def test_noise_factor_experiment_reruns_only_the_gaussian_tasks(repo):
    before = {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS}
    metrics_before = json.loads((repo / "metrics/evaluate.json").read_text())

    output = run(["dvc", "exp", "run", "-S", "noise.factor=0.3"], repo)

    after = {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS}
    assert after["gaussian_low"] != before["gaussian_low"]
    assert after["gaussian_high"] != before["gaussian_high"]
    assert after["salt_pepper"] == before["salt_pepper"]
    assert "Running stage 'train_unet@gaussian_low'" in output
    assert "Running stage 'train_unet@salt_pepper'" not in output

    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert metrics["salt_pepper"] == metrics_before["salt_pepper"]
    assert (
        metrics["gaussian_high"]["noisy"]["psnr"] < metrics_before["gaussian_high"]["noisy"]["psnr"]
    )

    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo))["metrics/evaluate.json"]
    assert "gaussian_low.noisy.psnr" in diff and "gaussian_high.unet.psnr" in diff
    assert not any(key.startswith("salt_pepper.") for key in diff)

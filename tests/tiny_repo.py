"""A tiny copy of this repository for the end-to-end tests: real dvc commands, synthetic data."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
TASKS = ("gaussian_low", "gaussian_high", "salt_pepper")
TINY_CSV = {"per_split": 24, "seed": 1}


def environment(cwd: Path) -> dict[str, str]:
    """This interpreter's tools first on PATH, the copy's sources importable, no FER2013_PATH."""
    variables = {k: v for k, v in os.environ.items() if k != "FER2013_PATH"}
    variables["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{variables['PATH']}"
    variables["PYTHONPATH"] = str(cwd / "src")
    variables.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    return variables


def _completed(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=environment(cwd), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def run(command: list[str], cwd: Path) -> str:
    """Run a command in the copy; fail loudly, with its output. Returns stdout and stderr."""
    result = _completed(command, cwd)
    return result.stdout + result.stderr


def run_json(command: list[str], cwd: Path):
    """Run a command that prints JSON (`--json`) and parse its stdout."""
    return json.loads(_completed(command, cwd).stdout)


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


def make_tiny_repository(repo: Path, source: str) -> None:
    """A git repository of the project with tiny params, reading its data from `source`.

    The source lies outside the repository: a file in data/external/ would be git-ignored, so
    the copies that `dvc exp run --queue` and `git clone` make would lack it.
    """
    repo.mkdir()
    copy_repository(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"] = source
    for model in ("unet", "attention_unet"):
        params["models"][model].update(depth=2, base_filters=4)
    for model, settings in {
        "dncnn": {"depth": 3, "width": 4},
        "autoencoder": {"base_filters": 4},
    }.items():
        params["models"][model].update(settings)
    params["extra_models"] = {"models": ["dncnn", "autoencoder"], "tasks": ["gaussian_low"]}
    params["train"].update(epochs=1, batch_size=8)
    for task in params["noise"]["tasks"].values():
        if "epochs" in task.get("train", {}):
            task["train"]["epochs"] = 1  # a task's own epochs too
    params["fine_tune"].update(epochs=1)
    for step in params["curriculum"].values():
        step.get("fine_tune", {}).update(epochs=1)  # a task's own epochs too
    params["gan"].update(epochs=1, steps_per_epoch=2, batch_size=8, discriminator_filters=4)
    params["classifier"].update(epochs=1, batch_size=8, width=4, blocks=2)
    params["analysis"].update(worst_images=2, robustness_images=8)
    for task in ("gaussian_blind", "salt_pepper_blind"):
        params["blind"]["tasks"][task]["train"]["epochs"] = 1
    params["baselines"].update(tune_images=2, bm3d_images=2, bm3d=[1.0], nl_means=[0.6, 1.0])
    params["evaluate"]["grid_images"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny"], repo)


def outcome(repo: Path) -> dict:
    """What a second run must repeat exactly: noisy data bytes and evaluation metrics."""
    return {
        "noisy": {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS},
        "metrics": json.loads((repo / "metrics/evaluate.json").read_text()),
    }


def copy_run(template: Path, target: Path) -> Path:
    """An independent copy of a workspace: with a run repository, its git history, DVC cache
    and outputs."""
    shutil.copytree(template, target, symlinks=True)
    return target

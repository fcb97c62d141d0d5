"""The real pipeline: `dvc repro` and `dvc exp run` on a copy of the repository, tiny data."""

import contextlib
import hashlib
import http.server
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import csv_text, fer_rows, write_fer_csv

from fer_denoise.model_card import read_card

ROOT = Path(__file__).parents[1]
TASKS = ("gaussian_low", "gaussian_high", "salt_pepper")
pytestmark = pytest.mark.e2e


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


def run(command: list[str], cwd: Path) -> str:
    """Run a command in the copy; fail loudly, with its output."""
    result = subprocess.run(
        command, cwd=cwd, env=environment(cwd), capture_output=True, text=True, check=False
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


def make_tiny_repository(repo: Path, source: str | None = None) -> None:
    """A git repository of the project with tiny params; data from `source`, else data/external/."""
    repo.mkdir()
    copy_repository(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    if source is None:
        write_fer_csv(repo / "data" / "external" / "fer2013.csv", per_split=24, seed=1)
    else:
        params["data"]["source"] = source
    params["models"]["unet"].update(depth=2, base_filters=4)
    params["train"].update(epochs=1, batch_size=8)
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


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The tiny pipeline, run once; its first outcome is kept beside it in first_run.json."""
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    make_tiny_repository(repo)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny run"], repo)
    (repo.parent / "first_run.json").write_text(json.dumps(outcome(repo)))
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


@pytest.fixture
def stalling_server():
    """Serves the tiny CSV over loopback, stalling halfway until `release` is set."""
    body = csv_text(fer_rows(24, seed=1)).encode()
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            release.wait(timeout=120)
            with contextlib.suppress(OSError):
                self.wfile.write(body[len(body) // 2 :])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/fer2013.csv", release
    release.set()
    server.shutdown()


def test_a_run_killed_mid_write_leaves_no_output_and_the_rerun_repeats_the_first_run(
    repo, tmp_path, stalling_server
):
    url, release = stalling_server
    second = tmp_path / "second"
    make_tiny_repository(second, source=url)
    log = tmp_path / "killed.log"
    repro = subprocess.Popen(
        ["dvc", "repro"],
        cwd=second,
        env=environment(second),
        start_new_session=True,  # its own process group: dvc and the stage are killed together
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    partial = second / "data/.tmp-raw/download"
    deadline = time.monotonic() + 120
    while not (partial.exists() and partial.stat().st_size > 0):
        assert repro.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    os.killpg(repro.pid, signal.SIGKILL)
    repro.wait()
    release.set()
    assert not (second / "data/raw").exists(), "a half-downloaded file reached data/raw"

    run(["dvc", "repro"], second)

    assert not list(second.glob("data/**/.tmp-*")) and not list(second.glob("models/**/.tmp-*"))
    assert outcome(second) == json.loads((repo.parent / "first_run.json").read_text())

"""The real pipeline: `dvc repro` and `dvc exp run` on a copy of the repository, tiny data."""

import contextlib
import http.server
import json
import math
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import csv_text, fer_rows
from tiny_repo import (
    TASKS,
    TINY_CSV,
    copy_run,
    digest,
    environment,
    make_tiny_repository,
    outcome,
    run,
    run_json,
)

from fer_denoise.model_card import read_card

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def repo(tiny_run, tmp_path_factory) -> Path:
    return copy_run(tiny_run, tmp_path_factory.mktemp("pipeline") / "repo")


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

    diff = run_json(["dvc", "metrics", "diff", "--json"], repo)["metrics/evaluate.json"]
    assert "gaussian_low.noisy.psnr" in diff and "gaussian_high.unet.psnr" in diff
    assert not any(key.startswith("salt_pepper.") for key in diff)


@pytest.fixture
def stalling_server():
    """Serves the tiny CSV over loopback, stalling halfway until `release` is set."""
    body = csv_text(fer_rows(**TINY_CSV)).encode()
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
    tiny_run, tmp_path, stalling_server
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
    assert outcome(second) == json.loads((tiny_run.parent / "first_run.json").read_text())

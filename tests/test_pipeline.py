"""The real pipeline: `dvc repro` and `dvc exp run` on a copy of the repository, tiny data."""

import contextlib
import http.server
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import csv_text, fer_rows
from tiny_repo import (
    TASKS,
    TINY_CSV,
    copy_run,
    digest,
    environment,
    make_tiny_repository,
    run,
    run_json,
)

from fer_denoise.fer2013 import EMOTIONS
from fer_denoise.inference import load_model
from fer_denoise.model_card import read_card
from fer_denoise.transfer import leaf_layers

# One worker builds the tiny run (a session fixture) for every test that copies it.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_run")]
MODELS = ("unet", "attention_unet", "gan")
GAUSSIAN_FILTERS = ("gaussian_blur", "tv_chambolle", "wavelet", "nl_means", "bm3d")


def classical(task: str) -> set[str]:
    """The task's fixed baseline."""
    return {"switching_median" if task == "salt_pepper" else "median_3x3"}


def tuned_filters(task: str) -> set[str]:
    """The tuned filters that run on the task: BM3D only on Gaussian noise."""
    return set(GAUSSIAN_FILTERS) - ({"bm3d"} if task == "salt_pepper" else set())


@pytest.fixture(scope="module")
def repo(tiny_run, tmp_path_factory) -> Path:
    return copy_run(tiny_run, tmp_path_factory.mktemp("pipeline") / "repo")


def test_repro_writes_finite_metrics_for_every_task_and_model(repo):
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert set(metrics) == set(TASKS)
    for task in TASKS:
        extra = {"dncnn", "autoencoder"} if task == "gaussian_low" else set()  # tiny params
        assert set(metrics[task]) == {
            "noisy",
            *classical(task),
            *MODELS,
            *tuned_filters(task),
            *extra,
        }
        for scores in metrics[task].values():
            assert all(math.isfinite(scores[k]) for k in ("psnr", "ssim", "mse"))
        # Each tuned filter records its chosen setting and the faces it was scored on.
        tuning = json.loads((repo / f"metrics/baselines/{task}.json").read_text())
        assert set(tuning) == tuned_filters(task)
        for name, scores in tuning.items():
            setting = next(
                k for k in scores if k not in ("psnr", "ssim", "mse", "images", "tuning")
            )
            assert f"{scores[setting]:g}" in scores["tuning"]["psnr"]
            assert scores["tuning"]["images"] == 2
            assert scores["images"] == (2 if name == "bm3d" else TINY_CSV["per_split"])
            assert metrics[task][name] == {k: v for k, v in scores.items() if k != "tuning"}
    per_image = (repo / "plots/per_image.csv").read_text().splitlines()
    assert per_image[0] == "image,task,noisy,classical,unet,attention_unet,gan"
    assert len(per_image) == 1 + len(TASKS) * TINY_CSV["per_split"]
    rows = [row.split(",") for row in per_image[1:]]
    for task in TASKS:
        noisy_psnr = [float(row[2]) for row in rows if row[1] == task]
        assert np.mean(noisy_psnr) == pytest.approx(metrics[task]["noisy"]["psnr"], abs=1e-3)
    for task in TASKS:
        for model in MODELS:
            card = read_card(repo / f"models/{model}/{task}.keras")
            assert card["task"] == task and card["model"] == model
            assert card["validation"]["best_epoch"] == 1
            train_metrics = json.loads(
                (repo / f"metrics/train/{model}/{task}/metrics.json").read_text()
            )
            assert math.isfinite(train_metrics["val_psnr"])
        assert read_card(repo / f"models/gan/{task}_discriminator.keras")["model"] == "patchgan"
        assert (repo / f"plots/grids/{task}.png").stat().st_size > 1000
        # train.switching_output: only the salt-and-pepper models pass unhit pixels through.
        for model in MODELS:
            layers = load_model(repo / f"models/{model}/{task}.keras").layers
            assert any(layer.name == "switch" for layer in layers) == (task == "salt_pepper")
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)


def test_repro_scores_recognition_on_clean_noisy_and_every_restored_set(repo):
    scores = json.loads((repo / "metrics/recognition.json").read_text())
    assert set(scores) == {"clean", *TASKS}
    for task in TASKS:  # noisy, the baseline, every model
        assert set(scores[task]) == {"noisy", *classical(task), *MODELS}
    values = [scores["clean"]] + [s for task in TASKS for s in scores[task].values()]
    assert all(0.0 <= s[k] <= 1.0 for s in values for k in ("accuracy", "macro_f1"))
    rows = (repo / "plots/recognition.csv").read_text().splitlines()
    assert rows[0] == "label,task,model,accuracy,macro_f1" and len(rows) == len(values) + 1
    confusion = (repo / "plots/confusion.csv").read_text().splitlines()
    assert confusion[0] == "actual,predicted" and len(confusion) == 1 + TINY_CSV["per_split"]
    assert {cell for row in confusion[1:] for cell in row.split(",")} <= set(EMOTIONS)
    report = (repo / "metrics/README.md").read_text()
    assert all(f"| {task} |" in report for task in TASKS) and "attention_unet" in report
    card = read_card(repo / "models/classifier.keras")
    assert card["model"] == "emotion_classifier" and len(card["classes"]) == 7
    assert 0.0 <= card["validation"]["val_accuracy"] <= 1.0


def test_repro_analyses_edges_emotions_worst_faces_and_noise_levels(repo):
    analysis = json.loads((repo / "metrics/analysis.json").read_text())
    for task in TASKS:
        assert set(analysis[task]) == {"noisy", *classical(task), *MODELS}
        for model, scores in analysis[task].items():
            assert all(
                math.isfinite(scores[r][k]) for r in ("edge", "flat") for k in ("psnr", "ssim")
            )
            assert set(scores["emotion"]) <= set(EMOTIONS) and len(scores["robustness"]) == 3
            if model != "noisy":
                assert (repo / f"plots/worst/{task}_{model}.png").stat().st_size > 1000
        # Stronger noise, lower PSNR of the noisy input: the levels really differ.
        curve = list(analysis[task]["noisy"]["robustness"].values())
        assert curve == sorted(curve, reverse=True) and curve[0] > curve[-1]
    assert (repo / "plots/robustness.png").stat().st_size > 1000


def test_each_curriculum_stage_depends_on_the_model_it_starts_from(repo):
    edges = set(re.findall(r'"(\S+)" -> "(\S+)";', run(["dvc", "dag", "--dot"], repo)))
    chain = [
        ("train_unet@gaussian_low", "attention_unet@gaussian_low"),
        ("attention_unet@gaussian_low", "attention_unet@gaussian_high"),
        ("train_unet@salt_pepper", "attention_unet@salt_pepper"),  # impulses: its own U-Net
    ]
    assert set(chain) <= edges
    assert {(f"attention_unet@{task}", f"gan@{task}") for task in TASKS} <= edges
    assert ("train_unet@gaussian_high", "attention_unet@gaussian_high") not in edges
    assert ("attention_unet@gaussian_high", "attention_unet@salt_pepper") not in edges


def test_fine_tuning_starts_from_the_previous_task_s_weights(repo, tmp_path):
    """With a negligible learning rate, each fine-tuned model keeps the weights it started
    from: the previous task's Attention U-Net, or for the first task the U-Net's layers."""
    work = copy_run(repo, tmp_path / "work")
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["fine_tune"]["learning_rate"] = 1e-12
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for task in ("gaussian_low", "gaussian_high"):
        output = run(["python", "-m", "fer_denoise.stages.fine_tune", task], work)
        assert f"started from {params['curriculum'][task]['init']}" in output

    def layers(path: str) -> dict[str, list]:
        model = load_model(work / path)
        return {layer.name: layer.get_weights() for layer in leaf_layers(model) if layer.weights}

    low, high = (
        layers("models/attention_unet/gaussian_low.keras"),
        layers("models/attention_unet/gaussian_high.keras"),
    )
    unet = layers("models/unet/gaussian_low.keras")
    for start, tuned in [(unet, low), (low, high)]:
        for name in start:
            for start_array, tuned_array in zip(start[name], tuned[name], strict=True):
                np.testing.assert_allclose(tuned_array, start_array, atol=1e-6)
    # salt_pepper's Attention U-Net (trained at the normal rate) starts from its own U-Net,
    # through the impulse wrapper: every U-Net layer finds its match, and training moved them.
    fresh, start = (
        layers("models/attention_unet/salt_pepper.keras"),
        layers("models/unet/salt_pepper.keras"),
    )
    assert set(start) < set(fresh)
    assert any(not np.allclose(fresh[n][0], start[n][0], atol=1e-6) for n in start)


def test_noise_factor_experiment_reruns_only_what_depends_on_the_gaussian_tasks(repo):
    """`dvc exp run -S noise.factor=0.3`, targeted at the stages that show the point to stay
    quick; `dvc status` then shows which other stages the changed factor reaches."""
    before = {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS}
    unet_before = json.loads((repo / "metrics/train/unet/gaussian_high/metrics.json").read_text())

    targets = ["train_unet@gaussian_high", "noise@salt_pepper"]
    output = run(["dvc", "exp", "run", "-S", "noise.factor=0.3", *targets], repo)

    after = {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS}
    assert after["gaussian_high"] != before["gaussian_high"]
    # noise@salt_pepper reruns (noise.factor is one of its params) and writes the same bytes.
    assert after["salt_pepper"] == before["salt_pepper"]
    assert "Running stage 'train_unet@gaussian_high'" in output
    assert "Running stage 'noise@salt_pepper'" in output
    unet_after = json.loads((repo / "metrics/train/unet/gaussian_high/metrics.json").read_text())
    assert unet_after["val_psnr"] != unet_before["val_psnr"]

    changed = set(run_json(["dvc", "status", "--json"], repo))
    assert {"noise@gaussian_low", "attention_unet@gaussian_high", "baselines@gaussian_high"} <= (
        changed
    )
    assert not changed & {"noise@salt_pepper", "train_unet@salt_pepper", "baselines@salt_pepper"}

    params = run_json(["dvc", "params", "diff", "--json"], repo)["params.yaml"]
    assert (params["noise.factor"]["old"], params["noise.factor"]["new"]) == (0.2, 0.3)
    diff = run_json(["dvc", "metrics", "diff", "--json"], repo)
    assert "val_psnr" in diff["metrics/train/unet/gaussian_high/metrics.json"]
    assert "metrics/train/unet/salt_pepper/metrics.json" not in diff


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


def test_a_run_killed_mid_write_leaves_no_output_and_the_rerun_repeats_the_first_data(
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

    # The data stages suffice: training's reruns are compared weight for weight in test_resume.
    run(["dvc", "repro", *(f"noise@{task}" for task in TASKS)], second)

    assert not list(second.glob("data/**/.tmp-*"))
    first_run = json.loads((tiny_run.parent / "first_run.json").read_text())
    assert {task: digest(second / f"data/noisy/{task}.npz") for task in TASKS} == first_run["noisy"]

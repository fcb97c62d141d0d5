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
DENOISERS = (*MODELS, "blind")  # each task is scored with its noise family's blind model too
BLIND = {"gaussian": "gaussian_blind", "impulse": "salt_pepper_blind"}
BLIND_INIT = {"gaussian": "gaussian_high", "impulse": "salt_pepper"}  # params.yaml blind.tasks
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
    metrics = json.loads((repo / "metrics/details/evaluate.json").read_text())
    assert set(metrics) == set(TASKS)
    for task in TASKS:
        extra = {"dncnn", "autoencoder"} if task == "gaussian_low" else set()  # tiny params
        assert set(metrics[task]) == {
            "noisy",
            *classical(task),
            *DENOISERS,
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
    assert per_image[0] == "image,task,noisy,classical,unet,attention_unet,gan,blind"
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
    # The headline that `dvc exp show` shows: PSNR and SSIM alone, the best of each kind named.
    headline = json.loads((repo / "metrics/evaluate.json").read_text())
    for task in TASKS:
        extra = ["dncnn", "autoencoder"] if task == "gaussian_low" else []
        assert set(headline[task]) == {"noisy", "best_filter", *DENOISERS, *extra, "best"}
        assert list(headline[task])[:2] == ["noisy", "best_filter"]
        assert all(set(scores) == {"psnr", "ssim"} for scores in headline[task].values())
        denoisers = [metrics[task][model]["psnr"] for model in [*DENOISERS, *extra]]
        assert headline[task]["best"]["psnr"] == max(denoisers)
        filters = {
            name: scores["psnr"]
            for name, scores in metrics[task].items()
            if name not in ["noisy", *DENOISERS, *extra]
        }
        (baseline,) = classical(task)
        assert filters[baseline] <= headline[task]["best_filter"]["psnr"] in filters.values()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)


def test_a_task_s_own_train_values_rerun_its_models_alone(repo):
    """noise.tasks.<task>.train reaches that task's training stages, not the other tasks' nor
    the blind models' (whose own values are in blind.tasks.<task>.train)."""
    params_file = repo / "params.yaml"
    committed = params_file.read_text()
    params = yaml.safe_load(committed)
    params["noise"]["tasks"]["salt_pepper"]["train"]["epochs"] += 1
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        changed = set(run_json(["dvc", "status", "--json"], repo))
    finally:
        params_file.write_text(committed)
    assert {"train_unet@salt_pepper", "attention_unet@salt_pepper"} <= changed
    training = {name for name in changed if name.startswith(("train_", "attention_unet@"))}
    assert training == {"train_unet@salt_pepper", "attention_unet@salt_pepper"}


def test_repro_scores_recognition_on_clean_noisy_and_every_restored_set(repo):
    scores = json.loads((repo / "metrics/details/recognition.json").read_text())
    headline = json.loads((repo / "metrics/recognition.json").read_text())
    assert headline["clean"] == {"accuracy": scores["clean"]["accuracy"]}
    assert all(
        headline[task][name] == {"accuracy": score["accuracy"]}
        for task in TASKS
        for name, score in scores[task].items()
    )
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
        assert set(analysis[task]) == {"noisy", *classical(task), *DENOISERS}
        for model, scores in analysis[task].items():
            assert all(
                math.isfinite(scores[r][k]) for r in ("edge", "flat") for k in ("psnr", "ssim")
            )
            assert set(scores["emotion"]) <= set(EMOTIONS)
            if model != "noisy":
                assert (repo / f"plots/worst/{task}_{model}.png").stat().st_size > 1000
    # One sweep per noise type over its whole range, every model of the family on it.
    robustness = json.loads((repo / "metrics/robustness.json").read_text())
    assert set(robustness) == {"gaussian", "salt_pepper"}
    fixed = {
        kind: [t for t in TASKS if (t == "salt_pepper") == (kind == "salt_pepper")]
        for kind in robustness
    }
    for kind, curves in robustness.items():
        expected = {f"{task} {model}" for task in fixed[kind] for model in MODELS}
        assert set(curves) == {"noisy", *classical(fixed[kind][0]), "blind", *expected}
        levels = [float(level) for level in curves["noisy"]]
        assert levels[0] <= (0.01 if kind == "gaussian" else 0.02) and levels[-1] >= 0.3
        # Stronger noise, lower PSNR of the noisy input: the levels really differ.
        curve = list(curves["noisy"].values())
        assert curve == sorted(curve, reverse=True) and curve[0] > curve[-1]
    assert (repo / "plots/robustness.png").stat().st_size > 1000


def test_repro_trains_a_blind_model_per_family_and_ships_it_in_the_package(repo):
    for family, task in BLIND.items():
        card = read_card(repo / f"models/blind/{task}.keras")
        assert card["task"] == task and card["model"] == "attention_unet"
        assert card["init"] == f"models/attention_unet/{BLIND_INIT[family]}.keras"
        params = yaml.safe_load((repo / "params.yaml").read_text())
        assert card["noise"] == params["blind"]["tasks"][task]["noise"]
        assert ("sigma_range" if family == "gaussian" else "amount_range") in card["noise"]
        with np.load(repo / f"data/noisy/{task}.npz") as noisy:
            levels = noisy["test_levels"]
            assert len(levels) == len(noisy["test"]) and levels.std() > 0
        shipped = repo / f"src/fer_denoise/weights/{family}.keras"
        assert read_card(shipped) == {**card, "family": family}
        assert shipped.stat().st_size < (repo / f"models/blind/{task}.keras").stat().st_size
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["ship"]
    assert lock["outs"][0]["path"] == "src/fer_denoise/weights"


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


# What a user reads after an experiment, at most (the tiny run has two extra models on one task).
MAX_METRIC_COLUMNS = 66  # `dvc exp show`: headline PSNR / SSIM and accuracy (blind models too)
MAX_METRICS_DIFF_ROWS = 45  # `dvc metrics diff` after noise.factor changed the Gaussian tasks
README_EXP_SHOW = re.compile(r"^(dvc exp show --only-changed .*?)\s*(#.*)?$", re.MULTILINE)


def metric_columns(shown: list[dict]) -> set[str]:
    """The metric columns of `dvc exp show --json`: one per file and flattened key."""

    def flatten(prefix: str, value) -> list[str]:
        if isinstance(value, dict):
            return [key for k, v in value.items() for key in flatten(f"{prefix}.{k}", v)]
        return [prefix]

    columns = set()
    for commit in shown:
        revisions = [commit] + [
            rev for exp in commit.get("experiments") or [] for rev in exp["revs"]
        ]
        for revision in revisions:
            for path, metrics in ((revision.get("data") or {}).get("metrics") or {}).items():
                columns.update(flatten(path, metrics.get("data", {})))
    return columns


def test_a_model_retrained_in_a_new_process_is_the_same_file_so_nothing_after_it_reruns(
    tiny_run, tmp_path
):
    """Keras writes Python object ids into a model's config; the archive numbers them, so the
    same training in another process saves the same bytes and DVC sees nothing changed."""
    repo = copy_run(tiny_run, tmp_path / "repo")
    model = repo / "models" / "unet" / "gaussian_low.keras"
    before = digest(model)
    run(["dvc", "repro", "--force", "--single-item", "train_unet@gaussian_low"], repo)
    assert digest(model) == before
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)


def test_noise_factor_experiment_reruns_the_gaussian_tasks_and_reads_well(repo):
    """`dvc exp run -S noise.factor=0.3` reruns what the Gaussian tasks' noise reaches and
    nothing of salt_pepper; then DVC's own views stay readable."""
    before = {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS}
    output = run(["dvc", "exp", "run", "-S", "noise.factor=0.3"], repo)

    after = {task: digest(repo / f"data/noisy/{task}.npz") for task in TASKS}
    assert after["gaussian_high"] != before["gaussian_high"]
    # noise@salt_pepper reruns (noise.factor is one of its params) and writes the same bytes,
    # so nothing downstream of it reruns.
    assert after["salt_pepper"] == before["salt_pepper"]
    ran = set(re.findall(r"Running stage '([^']+)'", output))
    assert {"noise@salt_pepper", "train_unet@gaussian_high", "attention_unet@gaussian_high"} <= ran
    assert {"baselines@gaussian_low", "gan@gaussian_high", "evaluate", "recognition"} <= ran
    assert not ran & {"train_unet@salt_pepper", "attention_unet@salt_pepper", "gan@salt_pepper"}
    assert "baselines@salt_pepper" not in ran

    params = run_json(["dvc", "params", "diff", "--json"], repo)["params.yaml"]
    assert (params["noise.factor"]["old"], params["noise.factor"]["new"]) == (0.2, 0.3)
    diff = run_json(["dvc", "metrics", "diff", "--json"], repo)
    assert set(diff) == {"metrics/evaluate.json", "metrics/recognition.json"}
    rows = [key for changes in diff.values() for key in changes]
    assert "gaussian_high.unet.psnr" in diff["metrics/evaluate.json"]
    assert not any(key.startswith("salt_pepper.") for key in diff["metrics/evaluate.json"])
    assert 0 < len(rows) <= MAX_METRICS_DIFF_ROWS

    columns = metric_columns(run_json(["dvc", "exp", "show", "--json"], repo))
    assert "metrics/evaluate.json.gaussian_low.best.psnr" in columns
    assert len(columns) <= MAX_METRIC_COLUMNS, sorted(columns)

    # The README's command fits the headline of the two experiments in 200 columns.
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    command = README_EXP_SHOW.search(readme).group(1)
    shown = run(["bash", "-c", f"COLUMNS=200 {command} --no-pager"], repo)
    assert "gaussian_high.best.psnr" in shown and "noise.factor" in shown
    assert "…" not in shown  # no cell cut short to fit

    plots = run_json(["dvc", "plots", "show", "--json"], repo)
    assert plots.get("errors", []) == []
    assert {f"training_{task}_val_psnr" for task in TASKS} <= set(plots["data"])


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

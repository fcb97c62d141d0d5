"""Stage `train_<model>@<task>`: train a denoiser on one noise task, models/<model>/<task>.keras.

Fresh noise per batch (train.fresh_noise) uses the noise spec stored in data/noisy/<task>.npz;
PublicTest with its fixed noise drives early stopping and the learning-rate schedule. Every epoch
ends with a checkpoint, so rerunning a killed stage continues from its last finished epoch and
ends with the same weights as an uninterrupted run.
"""

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import keras
from dvclive import Live

from fer_denoise.checkpoints import (
    EpochCheckpoint,
    check_writable,
    checkpoint_dir,
    fingerprint,
    load_checkpoint,
    restore_optimizer,
)
from fer_denoise.distribute import distribution_scope
from fer_denoise.errors import UserError, run_stage
from fer_denoise.files import atomic_path, load_npz
from fer_denoise.inference import load_model
from fer_denoise.losses import get_loss, psnr
from fer_denoise.model_card import write_card
from fer_denoise.models import BUILDERS, build_model
from fer_denoise.models.switching import with_switching_output
from fer_denoise.noise import to_float
from fer_denoise.params import load_params, task_params
from fer_denoise.stacks import with_channel_axis
from fer_denoise.stages.add_noise import noisy_path
from fer_denoise.stages.prepare import PREPARED
from fer_denoise.training import (
    LiveMetrics,
    NoisyBatches,
    PlateauSchedule,
    ProgressLog,
    StartEpoch,
    TrainingState,
    make_deterministic,
)
from fer_denoise.transfer import freeze_encoder, seed_from


def model_path(model: str, task: str) -> Path:
    return Path("models") / model / f"{task}.keras"


def live_dir(model: str, task: str) -> Path:
    return Path("metrics/train") / model / task


def main(model_name: str, task: str) -> None:
    params = load_params()
    if model_name not in BUILDERS or model_name not in params["models"]:
        raise UserError(
            f"unknown model {model_name!r}: params.yaml models has {', '.join(params['models'])}"
        )
    fit_denoiser(params, model_name, task, params["train"])


def fit_denoiser(
    params: dict[str, Any],
    model_name: str,
    task: str,
    train: dict[str, Any],
    init: Path | None = None,
    frozen_epochs: int = 0,
) -> None:
    """Train `model_name` on `task` with the `train` settings and save it with its card.

    With `init`, the model starts from that saved model's matching layers; with
    `frozen_epochs`, its encoder stays frozen for that many epochs (then a fresh optimizer
    trains every layer).
    """
    task_params(params, task)
    make_deterministic(train["seed"])
    prepared = load_npz(PREPARED, ("images", "split"), made_by="prepare")
    noisy = load_npz(noisy_path(task), ("spec", "train", "val"), made_by=f"noise@{task}")
    spec = json.loads(str(noisy["spec"]))
    images, split = prepared["images"], prepared["split"]
    batches = NoisyBatches(
        images[split == "train"],
        spec,
        train["batch_size"],
        train["seed"],
        task,
        noisy=None if train["fresh_noise"] else noisy["train"],
        flip=train["flip"],
        shift=train["shift"],
    )
    validation = (
        with_channel_axis(to_float(noisy["val"])),
        with_channel_axis(to_float(images[split == "val"])),
    )

    architecture = params["models"][model_name]
    checkpoint_folder = checkpoint_dir(model_name, task)
    run_fingerprint = fingerprint(
        {
            "model": model_name,
            "task": task,
            "architecture": architecture,
            "train": train,
            "init": str(init),
            "frozen_epochs": frozen_epochs,
        },
        [PREPARED, noisy_path(task), *([init] if init else [])],
    )
    with distribution_scope(train["distribute"]) as replicas:
        model = build_model(model_name, with_channel_axis(images).shape[1:], **architecture)
        if train["switching_output"] and spec["type"] == "salt_pepper":
            model = with_switching_output(model)
    check_writable(checkpoint_folder)
    checkpoint = load_checkpoint(checkpoint_folder, run_fingerprint)
    state = checkpoint.state if checkpoint else TrainingState()
    print(
        f"{model_name}@{task}: {model.count_params():,} parameters, noise {spec}, "
        f"{len(batches.clean)} training images, {len(validation[0])} validation images"
        + (f", {replicas} replicas" if replicas > 1 else "")
    )
    if checkpoint:
        model.set_weights(checkpoint.weights)
        print(f"resuming from {checkpoint_folder} after epoch {state.epochs_done}")
    elif init:
        copied = seed_from(model, load_model(init), init)
        weighted = sum(1 for layer in model.layers if layer.weights)
        print(f"started from {init}: copied {len(copied)} of {weighted} layers with weights")
    schedule = PlateauSchedule(
        state,
        stop_patience=train["early_stopping_patience"],
        lr_patience=train["reduce_lr_patience"],
        lr_factor=train["reduce_lr_factor"],
        best_weights=checkpoint.best_weights if checkpoint else None,
    )
    frozen_epochs = min(frozen_epochs, train["epochs"])
    phases = [(0, frozen_epochs, True)] if frozen_epochs else []
    phases.append((frozen_epochs, train["epochs"], False))

    # dvclive writes its files in place, so it writes into a temporary folder renamed at the end.
    with (
        atomic_path(live_dir(model_name, task)) as live_tmp,
        Live(dir=str(live_tmp), dvcyaml=None, save_dvc_exp=False) as live,
    ):
        metrics_log = LiveMetrics(live, state.history)
        for start, end, frozen in phases:
            if state.epochs_done >= end or schedule.stopped_early():
                continue
            with distribution_scope(train["distribute"]):
                freeze_encoder(model, frozen)
                model.compile(
                    optimizer=keras.optimizers.Adam(state.learning_rate or train["learning_rate"]),
                    loss=get_loss(train["loss"]),
                    metrics=[psnr],
                )
                if checkpoint and state.epochs_done > start:  # resumed inside this phase
                    restore_optimizer(model, checkpoint.optimizer)
            if frozen:
                print(f"encoder frozen for epochs {start + 1}-{end}")
            model.fit(
                batches,
                validation_data=validation,
                initial_epoch=state.epochs_done,
                epochs=end,
                shuffle=False,
                verbose=0,
                callbacks=[
                    StartEpoch(batches),
                    schedule,
                    EpochCheckpoint(checkpoint_folder, run_fingerprint, schedule),
                    ProgressLog(train["epochs"], len(batches), train["batch_size"]),
                    metrics_log,
                ],
            )
    schedule.restore_best()
    history, best = state.history, state.best_epoch - 1
    card = {
        "model": model_name,
        "task": task,
        "noise": spec,
        "architecture": architecture,
        "input_shape": list(model.input_shape[1:]),
        "parameters": model.count_params(),
        "train": train,
        "init": str(init) if init else None,
        "frozen_epochs": frozen_epochs,
        "validation": {
            "epochs_run": len(history["val_loss"]),
            "best_epoch": best + 1,
            "val_loss": round(history["val_loss"][best], 7),
            "val_psnr": round(history["val_psnr"][best], 4),
        },
    }
    with atomic_path(model_path(model_name, task)) as tmp:
        model.save(tmp)
        write_card(tmp, card)
    shutil.rmtree(checkpoint_folder)
    print(f"saved {model_path(model_name, task)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model name from params.yaml models")
    parser.add_argument("task", help="a task name from params.yaml noise.tasks")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.model, arguments.task))

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

import keras
from dvclive import Live

from fer_denoise.checkpoints import EpochCheckpoint, checkpoint_dir, fingerprint, load_checkpoint
from fer_denoise.distribute import distribution_scope
from fer_denoise.errors import UserError, run_stage
from fer_denoise.files import atomic_path, load_npz
from fer_denoise.losses import get_loss, psnr
from fer_denoise.model_card import write_card
from fer_denoise.models import BUILDERS, build_model
from fer_denoise.noise import to_float
from fer_denoise.params import load_params, task_params
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


def model_path(model: str, task: str) -> Path:
    return Path("models") / model / f"{task}.keras"


def live_dir(model: str, task: str) -> Path:
    return Path("metrics/train") / model / task


def main(model_name: str, task: str) -> None:
    params = load_params()
    task_params(params, task)
    if model_name not in BUILDERS or model_name not in params["models"]:
        raise UserError(
            f"unknown model {model_name!r}: params.yaml models has {', '.join(params['models'])}"
        )
    train = params["train"]
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
    )
    validation = (to_float(noisy["val"])[..., None], to_float(images[split == "val"])[..., None])

    architecture = params["models"][model_name]
    checkpoint = checkpoint_dir(model_name, task)
    run_fingerprint = fingerprint(
        {"model": model_name, "task": task, "architecture": architecture, "train": train},
        [PREPARED, noisy_path(task)],
    )
    with distribution_scope(train["distribute"]) as replicas:
        model = build_model(model_name, images.shape[1:] + (1,), **architecture)
        model.compile(
            optimizer=keras.optimizers.Adam(train["learning_rate"]),
            loss=get_loss(train["loss"]),
            metrics=[psnr],
        )
        resumed = load_checkpoint(checkpoint, run_fingerprint, model)
    state, best_weights = resumed or (TrainingState(), None)
    schedule = PlateauSchedule(
        state,
        stop_patience=train["early_stopping_patience"],
        lr_patience=train["reduce_lr_patience"],
        lr_factor=train["reduce_lr_factor"],
        best_weights=best_weights,
    )
    print(
        f"{model_name}@{task}: {model.count_params():,} parameters, noise {spec}, "
        f"{len(batches.clean)} training images, {len(validation[0])} validation images"
        + (f", {replicas} replicas" if replicas > 1 else "")
    )
    if resumed:
        print(f"resuming from {checkpoint} after epoch {state.epochs_done}")

    # dvclive writes its files in place, so it writes into a temporary folder renamed at the end.
    with (
        atomic_path(live_dir(model_name, task)) as live_tmp,
        Live(dir=str(live_tmp), dvcyaml=None, save_dvc_exp=False) as live,
    ):
        metrics_log = LiveMetrics(live, state.history)
        if state.epochs_done < train["epochs"] and not schedule.stopped_early():
            model.fit(
                batches,
                validation_data=validation,
                initial_epoch=state.epochs_done,
                epochs=train["epochs"],
                shuffle=False,
                verbose=0,
                callbacks=[
                    StartEpoch(batches),
                    schedule,
                    EpochCheckpoint(checkpoint, run_fingerprint, schedule),
                    ProgressLog(train["epochs"], len(batches), train["batch_size"]),
                    metrics_log,
                ],
            )
        else:  # killed after its last epoch's checkpoint, before the model was saved
            model.set_weights(schedule.best_weights)
    history, best = state.history, state.best_epoch - 1
    card = {
        "model": model_name,
        "task": task,
        "noise": spec,
        "architecture": architecture,
        "input_shape": list(model.input_shape[1:]),
        "parameters": model.count_params(),
        "train": train,
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
    shutil.rmtree(checkpoint)
    print(f"saved {model_path(model_name, task)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model name from params.yaml models")
    parser.add_argument("task", help="a task name from params.yaml noise.tasks")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.model, arguments.task))

"""Training one denoiser on one noise task: the U-Nets of `train_<model>`, the extra models and
the Attention U-Net curriculum (`fine_tune`) all go through `fit_denoiser`.

Fresh noise per batch (train.fresh_noise) uses the noise spec stored in data/noisy/<task>.npz;
PublicTest with its fixed noise drives early stopping and the learning-rate schedule. Every epoch
ends with a checkpoint, so rerunning a killed stage continues from its last finished epoch and
ends with the same weights as an uninterrupted run.
"""

import shutil
from pathlib import Path

import keras
from dvclive import Live

from fer_denoise.checkpoints import (
    EpochCheckpoint,
    check_writable,
    fingerprint,
    load_checkpoint,
    restore_optimizer,
)
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.distribute import distribution_scope
from fer_denoise.files import atomic_path
from fer_denoise.inference import load_model
from fer_denoise.losses import get_loss, psnr
from fer_denoise.model_card import write_card
from fer_denoise.models import architecture, model_settings
from fer_denoise.models.impulse import with_impulse_input, with_switching_output
from fer_denoise.noise import is_impulse, to_float
from fer_denoise.params import Params, Train
from fer_denoise.paths import PREPARED, checkpoint_dir, live_dir, noisy_path
from fer_denoise.stacks import with_channel_axis
from fer_denoise.training import (
    LiveMetrics,
    NoisyBatches,
    PlateauSchedule,
    ProgressLog,
    StartEpoch,
    TrainingState,
    make_deterministic,
)
from fer_denoise.transfer import freeze_encoder, leaf_layers, seed_from

# A cosine schedule ends at this share of the starting learning rate.
COSINE_FLOOR = 0.02


def build_denoiser(
    model_name: str, shape: tuple[int, ...], settings, spec: dict, train: Train
) -> keras.Model:
    """The registered model, wrapped for impulse noise as `train` says (impulse input, switching
    output)."""
    build = architecture(model_name).build
    if train.impulse_input and is_impulse(spec):
        if "residual" in type(settings).model_fields:  # the wrapper adds the residual itself
            settings = settings.model_copy(update={"residual": False})
        model = with_impulse_input(lambda body_shape: build(body_shape, settings), shape)
    else:
        model = build(shape, settings)
    if train.switching_output and is_impulse(spec):
        model = with_switching_output(model)
    return model


def learning_rate(train: Train, state: TrainingState, steps: int):
    """The optimizer's learning rate: a cosine decay over the phase's `steps`, or a constant
    that the plateau schedule lowers (restored from the checkpoint when resuming)."""
    if train.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(train.learning_rate, steps, COSINE_FLOOR)
    return state.learning_rate or train.learning_rate


def fit_denoiser(
    params: Params,
    model_name: str,
    task: str,
    train: Train,
    init: Path | None = None,
    frozen_epochs: int = 0,
) -> None:
    """Train `model_name` on `task` with the `train` settings and save it with its card.

    With `init`, the model starts from that saved model's matching layers; with
    `frozen_epochs`, its encoder stays frozen for that many epochs (then a fresh optimizer
    trains every layer).
    """
    params.task(task)
    make_deterministic(train.seed)
    prepared = load_prepared()
    spec, noisy = load_noisy(task, "train", "val")
    images, split = prepared["images"], prepared["split"]
    batches = NoisyBatches(
        images[split == "train"],
        spec,
        train.batch_size,
        train.seed,
        task,
        noisy=None if train.fresh_noise else noisy["train"],
        flip=train.flip,
        shift=train.shift,
    )
    validation = (
        with_channel_axis(to_float(noisy["val"])),
        with_channel_axis(to_float(images[split == "val"])),
    )

    settings = model_settings(params.models, model_name)
    checkpoint_folder = checkpoint_dir(model_name, task)
    run_fingerprint = fingerprint(
        {
            "model": model_name,
            "task": task,
            "architecture": settings.model_dump(),
            "train": train.model_dump(),
            "init": str(init),
            "frozen_epochs": frozen_epochs,
        },
        [PREPARED, noisy_path(task), *([init] if init else [])],
    )
    with distribution_scope(train.distribute) as replicas:
        model = build_denoiser(
            model_name, with_channel_axis(images).shape[1:], settings, spec, train
        )
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
        weighted = sum(1 for layer in leaf_layers(model) if layer.weights)
        print(f"started from {init}: copied {len(copied)} of {weighted} layers with weights")
    schedule = PlateauSchedule(
        state,
        stop_patience=train.early_stopping_patience,
        lr_patience=train.reduce_lr_patience if train.schedule == "plateau" else None,
        lr_factor=train.reduce_lr_factor,
        best_weights=checkpoint.best_weights if checkpoint else None,
    )
    frozen_epochs = min(frozen_epochs, train.epochs)
    phases = [(0, frozen_epochs, True)] if frozen_epochs else []
    phases.append((frozen_epochs, train.epochs, False))

    # dvclive writes its files in place, so it writes into a temporary folder renamed at the end.
    with (
        atomic_path(live_dir(model_name, task)) as live_tmp,
        Live(dir=str(live_tmp), dvcyaml=None, save_dvc_exp=False) as live,
    ):
        metrics_log = LiveMetrics(live, state.history)
        for start, end, frozen in phases:
            if state.epochs_done >= end or schedule.stopped_early():
                continue
            with distribution_scope(train.distribute):
                freeze_encoder(model, frozen)
                model.compile(
                    optimizer=keras.optimizers.Adam(
                        learning_rate(train, state, (end - start) * len(batches))
                    ),
                    loss=get_loss(train.loss),
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
                    ProgressLog(train.epochs, len(batches), train.batch_size),
                    metrics_log,
                ],
            )
    schedule.restore_best()
    history, best = state.history, state.best_epoch - 1
    card = {
        "model": model_name,
        "task": task,
        "noise": spec,
        "architecture": settings.model_dump(),
        "input_shape": list(model.input_shape[1:]),
        "size_multiple": architecture(model_name).size_multiple(settings),
        "parameters": model.count_params(),
        "train": train.model_dump(),
        "init": str(init) if init else None,
        "frozen_epochs": frozen_epochs,
        "validation": {
            "epochs_run": len(history["val_loss"]),
            "best_epoch": best + 1,
            "val_loss": round(history["val_loss"][best], 7),
            "val_psnr": round(history["val_psnr"][best], 4),
        },
    }
    with atomic_path(params.model_file(model_name, task)) as tmp:
        model.save(tmp)
        write_card(tmp, card)
    shutil.rmtree(checkpoint_folder)
    print(f"saved {params.model_file(model_name, task)}")

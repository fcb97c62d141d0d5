"""Training one denoiser on one noise task: the U-Nets of `train_<model>`, the extra models, the
Attention U-Net curriculum (`fine_tune`) and the blind models all go through `fit_denoiser`.

Fresh noise per batch (train.fresh_noise) uses the noise spec stored in data/noisy/<task>.npz;
PublicTest with its fixed noise drives early stopping and the learning-rate schedule. Every epoch
ends with a checkpoint (checkpoints.TrainingRun), so rerunning a killed stage continues from its
last finished epoch and ends with the same weights as an uninterrupted run.
"""

from pathlib import Path

import keras
import numpy as np

from fer_denoise.checkpoints import TrainingRun, fit_resumable
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.distribute import distribution_scope
from fer_denoise.inference import load_model
from fer_denoise.losses import get_loss, psnr
from fer_denoise.model_archive import save_model
from fer_denoise.models import architecture, model_settings
from fer_denoise.models.impulse import with_impulse_input, with_switching_output
from fer_denoise.noise import is_impulse, to_float
from fer_denoise.params import Params, Train
from fer_denoise.paths import PREPARED, checkpoint_dir, live_dir, noisy_path
from fer_denoise.precision import (
    all_float32,
    cpu_flags,
    describe,
    image_ends_float32,
    on_gpu,
    precision_scope,
)
from fer_denoise.stacks import with_channel_axis
from fer_denoise.training import (
    LiveMetrics,
    NoisyBatches,
    PlateauSchedule,
    TrainingState,
    live_log,
    make_deterministic,
)
from fer_denoise.transfer import freeze_encoder, leaf_layers, seed_from

# A cosine schedule ends at this share of the starting learning rate.
COSINE_FLOOR = 0.02
# cosine_tail: the share of the phase's steps over which the constant rate decays at its end.
TAIL_SHARE = 0.25


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
    """The optimizer's learning rate: a cosine decay over the phase's `steps` (`cosine`), a
    constant rate that decays so over the last TAIL_SHARE of them (`cosine_tail`: a short run
    learns at the full rate and still ends annealed), or a constant that the plateau schedule
    lowers (restored from the checkpoint when resuming)."""
    if train.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(train.learning_rate, steps, COSINE_FLOOR)
    if train.schedule == "cosine_tail":
        constant = steps - max(1, round(TAIL_SHARE * steps))
        return keras.optimizers.schedules.CosineDecay(  # its warm-up from the rate to the rate
            train.learning_rate,  # is the constant part
            steps - constant,
            COSINE_FLOOR,
            warmup_target=train.learning_rate,
            warmup_steps=constant,
        )
    return state.learning_rate or train.learning_rate


def training_data(task: str, train: Train) -> tuple[NoisyBatches, tuple[np.ndarray, np.ndarray]]:
    """The task's training batches (Training faces, fresh or stored noise) and its validation
    pair (PublicTest with the task's fixed noise, clean PublicTest)."""
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
    return batches, validation


def phases(frozen_epochs: int, epochs: int) -> list[tuple[int, int, bool]]:
    """(first epoch, end epoch, encoder frozen) of each phase: a fresh optimizer starts each."""
    frozen_epochs = min(frozen_epochs, epochs)
    return [(0, frozen_epochs, True)] * bool(frozen_epochs) + [(frozen_epochs, epochs, False)]


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
    batches, validation = training_data(task, train)
    spec, settings = batches.spec, model_settings(params.models_for(task), model_name)
    with precision_scope(train.precision), distribution_scope(train.distribute) as replicas:
        model = build_denoiser(model_name, validation[1].shape[1:], settings, spec, train)
        if train.precision != "float32":
            image_ends_float32(model)
    run = TrainingRun(
        checkpoint_dir(model_name, task),
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
    print(
        f"{model_name}@{task}: {model.count_params():,} parameters, noise {spec}, "
        f"{len(batches.clean)} training images, {len(validation[0])} validation images"
        + (f", {replicas} replicas" if replicas > 1 else "")
        + f", {describe(train.precision, cpu_flags(), on_gpu())}"
    )
    if not run.resume([model]) and init:
        copied = seed_from(model, load_model(init), init)
        weighted = sum(1 for layer in leaf_layers(model) if layer.weights)
        print(f"started from {init}: copied {len(copied)} of {weighted} layers with weights")
    state = run.state
    schedule = PlateauSchedule(
        state,
        stop_patience=train.early_stopping_patience,
        lr_patience=train.reduce_lr_patience if train.schedule == "plateau" else None,
        lr_factor=train.reduce_lr_factor,
        best_weights=run.best_weights,
    )
    with live_log(live_dir(model_name, task)) as live:
        metrics_log = LiveMetrics(live, state.history)
        for start, end, frozen in phases(frozen_epochs, train.epochs):
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
                if run.checkpoint and state.epochs_done > start:  # resumed inside this phase
                    run.restore_optimizers([model])
            if frozen:
                print(f"encoder frozen for epochs {start + 1}-{end}")
            fit_resumable(model, batches, validation, run, schedule, metrics_log, end, train.epochs)
    schedule.restore_best(model)
    if train.precision != "float32":
        all_float32(model)  # saved float32: reading it needs no bfloat16
    path = params.model_file(model_name, task)
    frozen = min(frozen_epochs, train.epochs)
    model_card = card(model, model_name, task, spec, settings, train, init, frozen, state)
    save_model(model, path, model_card)
    run.finish()
    print(f"saved {path}")


def card(
    model: keras.Model,
    model_name: str,
    task: str,
    spec: dict,
    settings,
    train: Train,
    init: Path | None,
    frozen_epochs: int,
    state: TrainingState,
) -> dict:
    """The model card: what was trained on what, from what, and its best validation epoch."""
    history, best = state.history, state.best_epoch - 1
    return {
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

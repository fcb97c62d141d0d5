"""Stage `gan@<task>`: adversarial fine-tuning of the task's Attention U-Net with a PatchGAN.

The generator starts from models/attention_unet/<task>.keras; after each epoch (params.yaml
`gan.steps_per_epoch` batches with fresh noise) it is scored on PublicTest, and the epoch with
the best PSNR is saved: models/gan/<task>.keras and models/gan/<task>_discriminator.keras.
Its steps are a loop of two `train_on_batch` calls (fer_denoise.adversarial), around which it
checkpoints, resumes, shows progress and logs to dvclive as the `fit` stages do.
"""

import argparse

from fer_denoise.adversarial import AdversarialPair
from fer_denoise.checkpoints import TrainingRun, assign, network_variables, values_of
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.errors import UserError, run_stage
from fer_denoise.inference import denoise, load_model
from fer_denoise.metrics import summarize
from fer_denoise.model_archive import save_model
from fer_denoise.model_card import read_card
from fer_denoise.models.patchgan import build_patchgan
from fer_denoise.noise import to_float
from fer_denoise.params import load_params
from fer_denoise.paths import (
    PREPARED,
    checkpoint_dir,
    discriminator_path,
    live_dir,
    model_path,
    noisy_path,
)
from fer_denoise.training import (
    LiveMetrics,
    NoisyBatches,
    ProgressLog,
    live_log,
    make_deterministic,
)

MODEL = "gan"
GENERATOR_MODEL = "attention_unet"  # the curriculum's model for the task


def main(task: str) -> None:
    params = load_params()
    if task not in params.curriculum:
        raise UserError(
            f"task {task!r} is not in params.yaml curriculum ({', '.join(params.curriculum)}): "
            "the GAN starts from that task's Attention U-Net"
        )
    gan, seed = params.gan, params.train.seed
    make_deterministic(seed)
    prepared = load_prepared()
    spec, noisy = load_noisy(task, "val")
    images, split = prepared["images"], prepared["split"]
    batches = NoisyBatches(images[split == "train"], spec, gan.batch_size, seed, task)
    val_noisy = to_float(noisy["val"])
    val_clean = to_float(images[split == "val"])
    steps = min(gan.steps_per_epoch or len(batches), len(batches))

    start_from = model_path(GENERATOR_MODEL, task)
    generator = load_model(start_from)
    discriminator = build_patchgan(
        generator.input_shape[1:], gan.discriminator_filters, gan.discriminator_layers
    )
    pair = AdversarialPair(
        generator,
        discriminator,
        gan.generator_learning_rate,
        gan.discriminator_learning_rate,
        gan.content_loss,
        gan.adversarial_weight,
        gan.label_smoothing,
    )

    def validate() -> dict[str, float]:
        scores = summarize(val_clean, denoise(generator, val_noisy))
        return {"val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}

    start_scores = validate()  # the Attention U-Net's, before any checkpoint is loaded
    print(
        f"gan@{task}: generator {start_from} ({start_scores['val_psnr']:.2f} dB on PublicTest), "
        f"discriminator {discriminator.count_params():,} parameters, "
        f"{gan.epochs} epochs of {steps} batches"
    )
    run = TrainingRun(
        checkpoint_dir(MODEL, task),
        {"model": MODEL, "task": task, "gan": gan.model_dump(), "seed": seed},
        [PREPARED, noisy_path(task), start_from],
    )
    # The discriminator and the generator's trainer hold both networks and both optimizers.
    networks = [discriminator, pair.generator_trainer]
    if run.resume(networks):
        run.restore_optimizers(networks)
    state, best_weights = run.state, run.best_weights
    progress = ProgressLog(gan.epochs, steps, gan.batch_size)
    with live_log(live_dir(MODEL, task)) as live:
        metrics_log = LiveMetrics(live, state.history)
        for epoch in range(state.epochs_done, gan.epochs):
            batches.start_at(epoch)
            progress.on_epoch_begin(epoch)
            totals: dict[str, float] = {}
            for step in range(steps):
                losses = pair.step(*batches[step])
                for name, value in losses.items():
                    totals[name] = totals.get(name, 0.0) + value
                progress.on_train_batch_end(step, {"loss": losses["g_loss"]})
            logs = {name: total / steps for name, total in totals.items()} | validate()
            progress.on_epoch_end(epoch, logs)
            metrics_log.on_epoch_end(epoch, logs)
            for name, value in logs.items():
                state.history.setdefault(name, []).append(float(value))
            if state.best_score is None or logs["val_psnr"] > state.best_score:
                state.best_score, state.best_epoch = logs["val_psnr"], epoch + 1
                best_weights = values_of(network_variables(networks))
            state.epochs_done = epoch + 1
            run.save(networks, best_weights)
    assign(network_variables(networks), best_weights, "best weights")
    best = {name: values[state.best_epoch - 1] for name, values in state.history.items()}

    card = {
        **(read_card(start_from) or {}),
        "model": MODEL,
        "init": str(start_from),
        "gan": gan.model_dump(),
        "validation": {"at_start": start_scores, "best_epoch": state.best_epoch, **best},
    }
    critic_card = {"model": "patchgan", "task": task, "generator": str(model_path(MODEL, task))}
    for model, path, model_card in (
        (generator, model_path(MODEL, task), card),
        (discriminator, discriminator_path(task), critic_card | {"gan": gan.model_dump()}),
    ):
        save_model(model, path, model_card)
    run.finish()
    print(
        f"saved {model_path(MODEL, task)} (epoch {state.best_epoch}) and {discriminator_path(task)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a task name from params.yaml curriculum")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.task))

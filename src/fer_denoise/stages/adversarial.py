"""Stage `gan@<task>`: adversarial fine-tuning of the task's Attention U-Net with a PatchGAN.

The generator starts from models/attention_unet/<task>.keras; after each epoch (params.yaml
`gan.steps_per_epoch` batches with fresh noise) it is scored on PublicTest, and the epoch with
the best PSNR is saved: models/gan/<task>.keras and models/gan/<task>_discriminator.keras.
"""

import argparse
import time

import numpy as np
from dvclive import Live

from fer_denoise.adversarial import AdversarialPair
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.errors import UserError, run_stage
from fer_denoise.files import atomic_path
from fer_denoise.inference import denoise, load_model
from fer_denoise.metrics import summarize
from fer_denoise.model_card import read_card, write_card
from fer_denoise.models.patchgan import build_patchgan
from fer_denoise.noise import to_float
from fer_denoise.params import load_params
from fer_denoise.paths import discriminator_path, live_dir, model_path
from fer_denoise.training import NoisyBatches, make_deterministic

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

    start_scores = validate()
    print(
        f"gan@{task}: generator {start_from} ({start_scores['val_psnr']:.2f} dB on PublicTest), "
        f"discriminator {discriminator.count_params():,} parameters, "
        f"{gan.epochs} epochs of {steps} batches"
    )
    best: dict[str, float] = {"val_psnr": -np.inf}
    best_epoch, best_weights = 0, []
    with (
        atomic_path(live_dir(MODEL, task)) as live_tmp,
        Live(dir=str(live_tmp), dvcyaml=None, save_dvc_exp=False) as live,
    ):
        for epoch in range(gan.epochs):
            batches.start_at(epoch)
            began = last_report = time.monotonic()
            totals: dict[str, float] = {}
            for step in range(steps):
                losses = pair.step(*batches[step])
                for name, value in losses.items():
                    totals[name] = totals.get(name, 0.0) + value
                if time.monotonic() - last_report >= 30:
                    last_report = time.monotonic()
                    print(
                        f"  epoch {epoch + 1}/{gan.epochs} step {step + 1}/{steps} "
                        f"d_loss {losses['d_loss']:.4f} content {losses['content']:.5f}",
                        flush=True,
                    )
            logs = {name: total / steps for name, total in totals.items()} | validate()
            for name, value in logs.items():
                live.log_metric(name, value)
            live.next_step()
            values = " ".join(f"{k} {v:.5g}" for k, v in logs.items())
            seconds = time.monotonic() - began
            print(f"epoch {epoch + 1}/{gan.epochs} done in {seconds:.0f}s: {values}")
            if logs["val_psnr"] > best["val_psnr"]:
                best, best_epoch = logs, epoch + 1
                best_weights = [generator.get_weights(), discriminator.get_weights()]
    generator.set_weights(best_weights[0])
    discriminator.set_weights(best_weights[1])

    card = {
        **(read_card(start_from) or {}),
        "model": MODEL,
        "init": str(start_from),
        "gan": gan.model_dump(),
        "validation": {"at_start": start_scores, "best_epoch": best_epoch, **best},
    }
    critic_card = {"model": "patchgan", "task": task, "generator": str(model_path(MODEL, task))}
    for model, path, model_card in (
        (generator, model_path(MODEL, task), card),
        (discriminator, discriminator_path(task), critic_card | {"gan": gan.model_dump()}),
    ):
        with atomic_path(path) as tmp:
            model.save(tmp)
            write_card(tmp, model_card)
    print(f"saved {model_path(MODEL, task)} (epoch {best_epoch}) and {discriminator_path(task)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a task name from params.yaml curriculum")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.task))

"""Probe training levers on one task before they go into the pipeline: each variant trains a
U-Net from the same seed on the same batches and prints its validation PSNR after every epoch.

Runs on any Keras backend (KERAS_BACKEND=jax on a GPU, tensorflow here), on data/prepared or on
an .npz with `train` and `val` uint8 arrays. The validation noise is fixed by the seed.

    python bench/levers.py --task salt_pepper --epochs 4 --train-images 4000 \
        --variants base fill fill_mask
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fer_denoise.losses import psnr, psnr_loss  # noqa: E402
from fer_denoise.metrics import psnr_per_image  # noqa: E402
from fer_denoise.models import build_model  # noqa: E402
from fer_denoise.models.impulse import ImpulseFill, with_switching_output  # noqa: E402
from fer_denoise.noise import add_noise, is_impulse, task_rng, to_float  # noqa: E402
from fer_denoise.training import NoisyBatches  # noqa: E402

TASKS = {
    "salt_pepper": {"type": "salt_pepper", "amount": 0.1},
    "gaussian_low": {"type": "gaussian", "sigma": 0.04},
    "gaussian_high": {"type": "gaussian", "sigma": 0.12},
    "gaussian_006": {"type": "gaussian", "sigma": 0.06},
}

# name: (input, loss, schedule, base_filters[, depth: 3 if not given]); fill_sign: the masks of
# 1s and of 0s (the pipeline's impulse input), fill_mask: one mask of both
VARIANTS = {
    "base": ("noisy", "mse", "constant", 16),
    "fill": ("fill", "mse", "constant", 16),
    "fill_mask": ("fill_mask", "mse", "constant", 16),
    "fill_mask_cos": ("fill_mask", "mse", "cosine", 16),
    "fill_mask_psnr": ("fill_mask", "psnr", "constant", 16),
    "fill_mask_w32": ("fill_mask", "mse", "constant", 32),
    "fill_mask_psnr_cos": ("fill_mask", "psnr", "cosine", 16),
    "fill_psnr_cos": ("fill", "psnr", "cosine", 16),
    "fill_sign_psnr_cos": ("fill_sign", "psnr", "cosine", 16),
    "fill_sign_psnr_cos_d4": ("fill_sign", "psnr", "cosine", 16, 4),
    "fill_sign_psnr_cos_w24": ("fill_sign", "psnr", "cosine", 24),
    "fill_sign_psnr_cos_w32": ("fill_sign", "psnr", "cosine", 32),
    "cos": ("noisy", "mse", "cosine", 16),
    "psnr": ("noisy", "psnr", "constant", 16),
    "psnr_cos": ("noisy", "psnr", "cosine", 16),
    "w32": ("noisy", "mse", "constant", 32),
    "cos_w32": ("noisy", "mse", "cosine", 32),
}


def build(variant: str, shape, spec) -> keras.Model:
    source, _, _, width, *depth = VARIANTS[variant]
    depth = depth[0] if depth else 3
    noisy = keras.Input(shape=shape, name="noisy")
    if source == "noisy":
        body = build_model("unet", shape, base_filters=width, depth=depth)
        model = body
    else:
        filled, mask = ImpulseFill(split_mask=source == "fill_sign", name="fill")(noisy)
        features = filled if source == "fill" else layers.Concatenate()([filled, mask])
        body = build_model(
            "unet", features.shape[1:], base_filters=width, depth=depth, residual=False
        )
        correction = body(features)[..., :1]
        model = keras.Model(noisy, layers.Subtract()([filled, correction]))
    return with_switching_output(model) if is_impulse(spec) else model


def load(path: Path, train_images: int, val_images: int):
    data = np.load(path)
    if "images" in data:
        images, split = data["images"], data["split"]
        train, val = images[split == "train"], images[split == "val"]
    else:
        train, val = data["train"], data["val"]
    return train[:train_images], val[:val_images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared/images.npz"))
    parser.add_argument("--task", choices=TASKS, default="salt_pepper")
    parser.add_argument("--variants", nargs="+", default=["base"], choices=VARIANTS)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="append one JSON line per variant here")
    arguments = parser.parse_args()

    spec = TASKS[arguments.task]
    train, val = load(arguments.data, arguments.train_images, arguments.val_images)
    clean_val = to_float(val)[..., None]
    noisy_val = add_noise(clean_val, spec, task_rng(arguments.seed, arguments.task, "val"))
    print(
        f"{keras.backend.backend()} {arguments.task} {spec}: {len(train)} training, "
        f"{len(val)} validation images, {arguments.epochs} epochs",
        flush=True,
    )
    for variant in arguments.variants:
        keras.utils.set_random_seed(arguments.seed)
        _, loss_name, schedule, *_ = VARIANTS[variant]
        batches = NoisyBatches(train, spec, arguments.batch_size, arguments.seed, arguments.task)
        steps = arguments.epochs * len(batches)
        rate = arguments.learning_rate
        if schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(rate, steps, alpha=0.02)
        model = build(variant, train.shape[1:] + (1,), spec)
        model.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss=psnr_loss if loss_name == "psnr" else "mse",
            metrics=[psnr],
        )
        curve, start = [], time.monotonic()
        for epoch in range(arguments.epochs):
            batches.start_at(epoch)
            model.fit(batches, epochs=1, shuffle=False, verbose=0)
            restored = model.predict(noisy_val, batch_size=256, verbose=0)
            curve.append(round(float(psnr_per_image(clean_val, restored).mean()), 3))
            print(
                f"{variant} epoch {epoch + 1}: val PSNR {curve[-1]:.3f} "
                f"({time.monotonic() - start:.0f}s)",
                flush=True,
            )
        if arguments.json:
            with arguments.json.open("a") as out:
                row = {"task": arguments.task, "variant": variant, "curve": curve}
                row.update(seconds=round(time.monotonic() - start), params=model.count_params())
                out.write(json.dumps(row) + "\n")
        assert not math.isnan(curve[-1]), f"{variant} diverged"


if __name__ == "__main__":
    main()

"""Probe the blind Gaussian model's training recipe before it goes into the pipeline: each variant
starts from the same saved model, trains on the same faces with per-face sigma drawn from its
distribution, and prints its PSNR at several fixed sigmas after every pass.

Runs on any Keras backend (KERAS_BACKEND=jax on a GPU, tensorflow here), on data/prepared or on
an .npz with `train` and `val` uint8 arrays. The evaluation noise is fixed by the seed.

    python bench/blind_levers.py --init models/attention_unet/gaussian_high.keras \
        --reference models/attention_unet/gaussian_low.keras --passes 3 \
        --variants uniform_psnr square_psnr
"""

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from levers import load  # noqa: E402

from fer_denoise.inference import denoise, load_model  # noqa: E402
from fer_denoise.losses import get_loss  # noqa: E402
from fer_denoise.metrics import psnr_per_image  # noqa: E402
from fer_denoise.noise import add_noise, task_rng, to_float  # noqa: E402

HIGHEST = 0.3  # the pipeline's gaussian_blind range is [0, 0.3]
LEVELS = (0.01, 0.02, 0.04, 0.06, 0.12, 0.24)


def draw_sigmas(distribution: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """Each face's sigma: the pipeline draws uniformly; the others put more faces at low sigma."""
    u = rng.random(count)
    if distribution == "uniform":
        return HIGHEST * u
    if distribution == "square":  # P(sigma < 0.04) = 0.37 instead of 0.13
        return HIGHEST * u**2
    if distribution == "mix":  # half uniform on [0, 0.3], half on [0, 0.06]
        return np.where(rng.random(count) < 0.5, HIGHEST * u, 0.06 * u)
    if distribution == "loguniform":  # log-uniform on [0.005, 0.3]
        return np.exp(np.log(0.005) + u * (np.log(HIGHEST) - np.log(0.005)))
    raise ValueError(distribution)


def rmse_loss(y_true, y_pred):
    """Mean per-face RMSE: weighs low-noise faces more than MSE does and less than log-MSE."""
    per_face = ops.mean(ops.square(y_true - y_pred), axis=tuple(range(1, len(y_true.shape))))
    return ops.mean(ops.sqrt(per_face + 1e-10))


# name: (distribution, loss, learning rate, schedule: constant or cosine over the passes)
VARIANTS = {
    "uniform_psnr": ("uniform", "psnr", 5e-4, "constant"),  # the committed recipe
    "uniform_mse": ("uniform", "mse", 5e-4, "constant"),
    "uniform_rmse": ("uniform", "rmse", 5e-4, "constant"),
    "square_psnr": ("square", "psnr", 5e-4, "constant"),
    "square_rmse": ("square", "rmse", 5e-4, "constant"),
    "mix_psnr": ("mix", "psnr", 5e-4, "constant"),
    "mix_rmse": ("mix", "rmse", 5e-4, "constant"),
    "loguniform_psnr": ("loguniform", "psnr", 5e-4, "constant"),
    "loguniform_rmse": ("loguniform", "rmse", 5e-4, "constant"),
    "mix_rmse_lr1e3": ("mix", "rmse", 1e-3, "constant"),
    "mix_rmse_cos": ("mix", "rmse", 5e-4, "cosine"),
    "mix_rmse_cos_lr1e3": ("mix", "rmse", 1e-3, "cosine"),
    "mix_psnr_cos": ("mix", "psnr", 5e-4, "cosine"),
    "loguniform_rmse_cos": ("loguniform", "rmse", 5e-4, "cosine"),
    "uniform_rmse_cos": ("uniform", "rmse", 5e-4, "cosine"),
}


def scores(model, clean: np.ndarray, noisy_by_level: dict[float, np.ndarray]) -> dict:
    return {
        level: float(psnr_per_image(clean, denoise(model, noisy)).mean())
        for level, noisy in noisy_by_level.items()
    }


def line(name: str, by_level: dict) -> str:
    return f"{name:>22} " + " ".join(f"{by_level[level]:6.2f}" for level in LEVELS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/prepared/images.npz"))
    parser.add_argument("--init", type=Path, required=True, help="the saved model to start from")
    parser.add_argument("--reference", type=Path, nargs="*", default=[], help="models to score")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=24000)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="append one line per variant and pass")
    arguments = parser.parse_args()

    train, val = load(arguments.data, arguments.train_images, arguments.val_images)
    clean_train, clean_val = to_float(train)[..., None], to_float(val)[..., None]
    noisy_by_level = {
        level: add_noise(
            clean_val, {"type": "gaussian", "sigma": level}, task_rng(1, "eval", f"{level:g}")
        )
        for level in LEVELS
    }
    print(f"{keras.backend.backend()}, {len(train)} training faces, {len(val)} validation faces")
    print(f"{'PSNR at sigma':>22} " + " ".join(f"{level:6g}" for level in LEVELS))
    print(
        line(
            "noisy",
            {lv: float(psnr_per_image(clean_val, n).mean()) for lv, n in noisy_by_level.items()},
        )
    )
    for path in [arguments.init, *arguments.reference]:
        print(line(path.stem, scores(load_model(path), clean_val, noisy_by_level)), flush=True)

    for variant in arguments.variants:
        distribution, loss, learning_rate, schedule = VARIANTS[variant]
        if schedule == "cosine":
            steps = arguments.passes * -(-len(clean_train) // arguments.batch_size)
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps, 0.02)
        keras.utils.set_random_seed(arguments.seed)
        model = load_model(arguments.init)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=rmse_loss if loss == "rmse" else get_loss(loss),
        )
        for done in range(1, arguments.passes + 1):
            began = time.monotonic()
            rng = task_rng(arguments.seed, "blind-probe", f"pass-{done}")
            order = rng.permutation(len(clean_train))
            sigmas = draw_sigmas(distribution, len(order), rng)
            spec = {"type": "gaussian", "sigma": sigmas.reshape(-1, 1, 1, 1)}
            noisy = add_noise(clean_train[order], spec, rng)
            model.fit(
                noisy,
                clean_train[order],
                batch_size=arguments.batch_size,
                epochs=1,
                shuffle=False,
                verbose=0,
            )
            by_level = scores(model, clean_val, noisy_by_level)
            seconds = time.monotonic() - began
            print(line(f"{variant} {done}", by_level) + f"  ({seconds:.0f} s)", flush=True)
            if arguments.json:
                with arguments.json.open("a") as f:
                    record = {"variant": variant, "pass": done, "seconds": round(seconds, 1)}
                    f.write(json.dumps(record | {f"{k:g}": v for k, v in by_level.items()}) + "\n")


if __name__ == "__main__":
    main()

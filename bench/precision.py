"""float32 against train.precision mixed_bfloat16 on this machine: one task's U-Net trained on
the same batches from the same seed, each variant in its own process, interleaved.

    python bench/precision.py [--task salt_pepper] [--faces 6400] [--epochs 2] [--rounds 2]

Prints, per run, training and inference images/s and the PSNR on the first 1,000 PublicTest
faces (the task's stored noise), then each variant's median. Needs `dvc repro` (or `dvc pull`)
of the task's noisy data first. Compare speeds only within one run: machines differ.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

VARIANTS = ("float32", "mixed_bfloat16")
VALIDATION_FACES = 1000


def one_run(task: str, faces: int, epochs: int, precision: str) -> dict:
    """Train and score one variant in this process (called through `--one`)."""
    import keras
    import numpy as np

    from fer_denoise.denoiser_training import build_denoiser, training_data
    from fer_denoise.losses import get_loss, psnr
    from fer_denoise.metrics import psnr_per_image
    from fer_denoise.models import model_settings
    from fer_denoise.params import load_params
    from fer_denoise.precision import all_float32, image_ends_float32, precision_scope
    from fer_denoise.training import NoisyBatches, make_deterministic

    params = load_params()
    train = params.train_for(task).model_copy(update={"precision": precision})
    make_deterministic(train.seed)
    batches, (noisy, clean) = training_data(task, train)
    batches = NoisyBatches(batches.clean[:faces], batches.spec, train.batch_size, train.seed, task)
    settings = model_settings(params.models, "unet")
    with precision_scope(precision):
        model = build_denoiser("unet", clean.shape[1:], settings, batches.spec, train)
        if precision != "float32":
            image_ends_float32(model)
    model.compile(
        optimizer=keras.optimizers.Adam(train.learning_rate),
        loss=get_loss(train.loss),
        metrics=[psnr],
    )
    began = time.perf_counter()
    model.fit(batches, epochs=epochs, verbose=0)
    train_s = time.perf_counter() - began
    noisy, clean = noisy[:VALIDATION_FACES], clean[:VALIDATION_FACES]
    model.predict(noisy[:256], batch_size=256, verbose=0)  # traced before the clock starts
    began = time.perf_counter()
    restored = np.asarray(model.predict(noisy, batch_size=256, verbose=0), dtype=np.float32)
    predict_s = time.perf_counter() - began
    all_float32(model)
    float32_restored = model.predict(noisy, batch_size=256, verbose=0)
    return {
        "precision": precision,
        "train_images_per_s": round(faces * epochs / train_s, 1),
        "predict_images_per_s": round(len(noisy) / predict_s, 1),
        "psnr": round(float(psnr_per_image(clean, np.clip(restored, 0, 1)).mean()), 3),
        "psnr_saved_float32": round(
            float(psnr_per_image(clean, np.clip(float32_restored, 0, 1)).mean()), 3
        ),
    }


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="salt_pepper")
    parser.add_argument("--faces", type=int, default=6400, help="Training faces per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs per variant")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        result = one_run(arguments.task, arguments.faces, arguments.epochs, arguments.one)
        print("RESULT " + json.dumps(result))
        return
    from fer_denoise.precision import cpu_flags, describe

    print(f"this machine: {describe('mixed_bfloat16', cpu_flags())}")
    results = {variant: [] for variant in VARIANTS}
    for round_number in range(arguments.rounds):
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--one", variant, "--task", arguments.task]
            command += ["--faces", str(arguments.faces), "--epochs", str(arguments.epochs)]
            done = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not lines:
                sys.exit(f"{variant} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            result = json.loads(lines[-1].removeprefix("RESULT "))
            results[variant].append(result)
            print(f"round {round_number + 1}: {json.dumps(result)}", flush=True)
    for variant, runs in results.items():
        medians = {
            key: round(statistics.median(run[key] for run in runs), 3)
            for key in ("train_images_per_s", "predict_images_per_s", "psnr", "psnr_saved_float32")
        }
        print(f"{variant:>15} median of {len(runs)}: {json.dumps(medians)}")


if __name__ == "__main__":
    run()

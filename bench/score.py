"""Score saved denoisers on a task's PrivateTest noisy set without running DVC stages: for
probing a model trained by `dvc repro <stage>` or `dvc exp run` before the whole evaluation.

    python bench/score.py TASK MODEL.keras [MODEL.keras ...]

Run it from a repository whose data/prepared and data/noisy/<task>.npz are in place. Prints
per-image mean PSNR / SSIM over every test face, as metrics/evaluate.json computes them.
"""

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("models", nargs="+", type=Path)
    arguments = parser.parse_args()

    from fer_denoise.datasets import load_noisy, load_prepared
    from fer_denoise.inference import denoise, load_model
    from fer_denoise.metrics import summarize
    from fer_denoise.noise import to_float

    prepared = load_prepared()
    clean = to_float(prepared["images"][prepared["split"] == "test"])
    spec, stored = load_noisy(arguments.task, "test")
    noisy = to_float(stored["test"])
    scores = summarize(clean, noisy)
    print(f"{arguments.task} {spec}: {len(clean)} faces")
    print(f"{'noisy input':>40}: PSNR {scores['psnr']:6.2f} dB  SSIM {scores['ssim']:.4f}")
    for path in arguments.models:
        began = time.monotonic()
        scores = summarize(clean, denoise(load_model(path), noisy))
        seconds = time.monotonic() - began
        print(
            f"{str(path):>40}: PSNR {scores['psnr']:6.2f} dB  SSIM {scores['ssim']:.4f}"
            f"  ({seconds:.0f} s)"
        )


if __name__ == "__main__":
    main()

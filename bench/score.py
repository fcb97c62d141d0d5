"""Score saved denoisers on a task's PrivateTest noisy set without running DVC stages: for
probing a model trained by `dvc repro <stage>` or `dvc exp run` before the whole evaluation.

    python bench/score.py TASK MODEL.keras [MODEL.keras ...] [--flip-ensemble]

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
    parser.add_argument(
        "--flip-ensemble", action="store_true", help="also score with the mirrored-face average"
    )
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
        model = load_model(path)
        for flip in (False, True) if arguments.flip_ensemble else (False,):
            began = time.monotonic()
            scores = summarize(clean, denoise(model, noisy, flip))
            seconds = time.monotonic() - began
            print(
                f"{str(path) + (' (flip ensemble)' if flip else ''):>56}: PSNR "
                f"{scores['psnr']:6.3f} dB  SSIM {scores['ssim']:.5f}  ({seconds:.0f} s)"
            )


if __name__ == "__main__":
    main()

"""Stage `evaluate`: every task's PrivateTest noisy set through the noisy input, the classical
baseline, the U-Net, the Attention U-Net, the GAN and the blind model of the task's noise family
(trained for every level, `blind`); per-image mean PSNR / SSIM / MSE, with the tuned filters of
the `baselines` stage beside them. With `evaluate.flip_ensemble`, each model
restores every face and its mirror image, and the two are averaged.

Writes metrics/evaluate.json (the headline: task -> noisy, best_filter, each denoiser, best ->
psnr, ssim; in git, for `dvc exp show` and `dvc metrics diff`), metrics/details/evaluate.json
(every score with MSE, each filter's setting and faces),
plots/psnr.csv (the bar chart), plots/per_image.csv (each face's PSNR, a scatter against the
noisy input's) and plots/grids/<task>.png (noisy / denoised / clean examples).
"""

import json

import numpy as np

from fer_denoise.baselines import classical_baseline
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.errors import UserError, run_stage
from fer_denoise.files import atomic_path, write_json
from fer_denoise.headlines import headline
from fer_denoise.inference import denoise, load_model
from fer_denoise.metrics import psnr_per_image, summarize
from fer_denoise.noise import describe, to_float
from fer_denoise.params import load_params
from fer_denoise.paths import (
    EVALUATION,
    EVALUATION_DETAILS,
    GRID_DIR,
    PER_IMAGE,
    PSNR_TABLE,
    baselines_path,
)
from fer_denoise.plots import save_grid

PER_IMAGE_COLUMNS = ("noisy", "classical", "unet", "attention_unet", "gan", "blind")


def tuned_baselines(task: str) -> dict[str, dict]:
    """The `baselines` stage's scores of `task`, with each filter's chosen setting and the
    number of faces it was scored on (BM3D runs on a subset); its tuning details stay there."""
    path = baselines_path(task)
    if not path.is_file():
        raise UserError(f"{path} is missing: run `dvc repro baselines@{task}` (or `dvc repro`)")
    stored = json.loads(path.read_text())
    return {
        name: {key: value for key, value in scores.items() if key != "tuning"}
        for name, scores in stored.items()
    }


def per_image_rows(task: str, clean: np.ndarray, outputs: dict[str, np.ndarray]) -> list[str]:
    """Rows of plots/per_image.csv: face index, task, then the PSNR of each of
    PER_IMAGE_COLUMNS ("classical" is the task's classical baseline; empty where a task has no
    such model)."""
    psnr = {name: psnr_per_image(clean, images) for name, images in outputs.items()}
    return [
        ",".join(
            [str(index), task]
            + [f"{psnr[name][index]:.3f}" if name in psnr else "" for name in PER_IMAGE_COLUMNS]
        )
        for index in range(len(clean))
    ]


def main() -> None:
    params = load_params()
    prepared = load_prepared()
    test = prepared["split"] == "test"
    clean = to_float(prepared["images"][test])
    grid_rows = np.linspace(0, len(clean) - 1, min(params.evaluate.grid_images, len(clean)))
    grid_rows = grid_rows.round().astype(int)

    results, headlines, table, per_image = {}, {}, ["label,task,model,psnr,ssim"], []
    for task in params.noise.tasks:
        spec, stored = load_noisy(task, "test")
        noisy = to_float(stored["test"])
        outputs = {"noisy": noisy}
        baseline, restored = classical_baseline(
            spec["type"], noisy, params.evaluate.switching_median_guard
        )
        outputs[baseline] = restored
        denoisers = (
            params.trained_models(task)
            | params.extra_models_of(task)
            | params.blind_model_for(task)
        )
        for model, path in denoisers.items():
            outputs[model] = denoise(load_model(path), noisy, params.evaluate.flip_ensemble)
        results[task] = {name: summarize(clean, images) for name, images in outputs.items()}
        results[task] |= tuned_baselines(task)
        headlines[task] = headline(results[task], list(denoisers), len(clean))
        per_image += per_image_rows(task, clean, outputs | {"classical": restored})
        for name, scores in results[task].items():
            subset = (
                f" ({scores['images']} faces)"
                if scores.get("images", len(clean)) < len(clean)
                else ""
            )
            table.append(f"{task} / {name}{subset},{task},{name},{scores['psnr']},{scores['ssim']}")
            print(
                f"{task:>14} {name:>16}: PSNR {scores['psnr']:6.2f} dB  "
                f"SSIM {scores['ssim']:.4f}  MSE {scores['mse']:.6f}{subset}"
            )
        save_grid(
            GRID_DIR / f"{task}.png",
            clean[grid_rows],
            {name: images[grid_rows] for name, images in outputs.items()},
            f"{task}: {describe(spec)}; PrivateTest, PSNR against the clean image",
        )

    write_json(EVALUATION, headlines)
    write_json(EVALUATION_DETAILS, results)
    with atomic_path(PSNR_TABLE) as tmp:
        tmp.write_text("\n".join(table) + "\n")
    with atomic_path(PER_IMAGE) as tmp:
        tmp.write_text(
            "\n".join([",".join(["image", "task", *PER_IMAGE_COLUMNS]), *per_image]) + "\n"
        )
    print(f"wrote {EVALUATION}, {EVALUATION_DETAILS}, {PSNR_TABLE}, {PER_IMAGE}, {GRID_DIR}/")


if __name__ == "__main__":
    run_stage(main)

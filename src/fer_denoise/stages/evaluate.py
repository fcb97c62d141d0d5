"""Stage `evaluate`: every task's PrivateTest noisy set through the noisy input, the classical
baseline, the U-Net, the Attention U-Net and the GAN; per-image mean PSNR / SSIM / MSE.

Writes metrics/evaluate.json (task -> model -> psnr, ssim, mse; in git, for `dvc metrics diff`),
plots/psnr.csv (the bar chart) and plots/grids/<task>.png (noisy / denoised / clean examples).
"""

import json
from pathlib import Path

import keras
import numpy as np

from fer_denoise.baselines import classical_baseline
from fer_denoise.errors import run_stage
from fer_denoise.files import atomic_path, load_npz, write_json
from fer_denoise.inference import load_model
from fer_denoise.metrics import summarize
from fer_denoise.noise import to_float
from fer_denoise.params import load_params
from fer_denoise.plots import save_grid
from fer_denoise.stages.add_noise import noisy_path
from fer_denoise.stages.prepare import PREPARED
from fer_denoise.stages.train import model_path

METRICS = Path("metrics/evaluate.json")
PSNR_TABLE = Path("plots/psnr.csv")
GRID_DIR = Path("plots/grids")
BATCH = 256


def trained_models(params: dict, task: str) -> dict[str, Path]:
    """The models that dvc.yaml trains for `task`: the U-Net, then the curriculum's two."""
    models = {"unet": model_path("unet", task)}
    if task in params["curriculum"]:
        models |= {name: model_path(name, task) for name in ("attention_unet", "gan")}
    return models


def denoise(model: keras.Model, noisy: np.ndarray) -> np.ndarray:
    """Run a model on float images (N, H, W); outputs clipped to [0, 1]."""
    output = model.predict(noisy[..., None], batch_size=BATCH, verbose=0)
    return np.clip(output[..., 0], 0.0, 1.0)


def describe(spec: dict) -> str:
    """'gaussian, sigma 0.04' or 'salt_pepper, amount 0.1'."""
    return ", ".join([spec["type"]] + [f"{k} {v:g}" for k, v in spec.items() if k != "type"])


def main() -> None:
    params = load_params()
    prepared = load_npz(PREPARED, ("images", "split"), made_by="prepare")
    test = prepared["split"] == "test"
    clean = to_float(prepared["images"][test])
    grid_rows = np.linspace(0, len(clean) - 1, min(params["evaluate"]["grid_images"], len(clean)))
    grid_rows = grid_rows.round().astype(int)

    results, table = {}, ["label,task,model,psnr,ssim"]
    for task in params["noise"]["tasks"]:
        stored = load_npz(noisy_path(task), ("spec", "test"), made_by=f"noise@{task}")
        spec = json.loads(str(stored["spec"]))
        noisy = to_float(stored["test"])
        outputs = {"noisy": noisy}
        baseline, restored = classical_baseline(
            spec["type"], noisy, params["evaluate"]["switching_median_guard"]
        )
        outputs[baseline] = restored
        for model, path in trained_models(params, task).items():
            outputs[model] = denoise(load_model(path), noisy)
        results[task] = {name: summarize(clean, images) for name, images in outputs.items()}
        for name, scores in results[task].items():
            table.append(f"{task} / {name},{task},{name},{scores['psnr']},{scores['ssim']}")
            print(
                f"{task:>14} {name:>16}: PSNR {scores['psnr']:6.2f} dB  "
                f"SSIM {scores['ssim']:.4f}  MSE {scores['mse']:.6f}"
            )
        save_grid(
            GRID_DIR / f"{task}.png",
            clean[grid_rows],
            {name: images[grid_rows] for name, images in outputs.items()},
            f"{task}: {describe(spec)}; PrivateTest, PSNR against the clean image",
        )

    write_json(METRICS, results)
    with atomic_path(PSNR_TABLE) as tmp:
        tmp.write_text("\n".join(table) + "\n")
    print(f"wrote {METRICS}, {PSNR_TABLE}, {GRID_DIR}/")


if __name__ == "__main__":
    run_stage(main)

"""Stage `error_analysis`: where each restoration of the PrivateTest noisy sets fails.

- PSNR / SSIM on edge pixels against flat pixels (ranked by the clean image's Sobel gradient);
- PSNR per emotion (FER2013; an image-folder dataset has no labels);
- the worst faces of each model and task, as grids (plots/worst/<task>_<model>.png);
- robustness: PSNR with the task's noise at other strengths (its level times a range of
  scales), on the first `analysis.robustness_images` faces (plots/robustness.png).

Writes metrics/analysis.json (task -> model -> edge, flat, emotion, robustness). Color images
are scored channel by channel, each channel ranked by its own gradient.
"""

import numpy as np

from fer_denoise.analysis import edge_and_flat_masks, mean_by_label, region_scores
from fer_denoise.baselines import baseline_name, classical_baseline
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.errors import run_stage
from fer_denoise.fer2013 import EMOTIONS
from fer_denoise.files import write_json
from fer_denoise.inference import denoise, load_model
from fer_denoise.metrics import psnr_per_image
from fer_denoise.noise import add_noise, noise_level, scaled_noise, task_rng, to_float
from fer_denoise.params import Params, load_params
from fer_denoise.paths import ANALYSIS, ROBUSTNESS_PLOT, WORST_DIR
from fer_denoise.plots import save_curves, save_grid
from fer_denoise.stacks import to_planes


def restorers(params: Params, task: str, noise_type: str) -> dict:
    """name -> function from noisy images to restored ones: the noisy input itself, the
    classical baseline and every trained model of the task."""
    guard = params.evaluate.switching_median_guard
    functions = {
        "noisy": lambda noisy: noisy,
        baseline_name(noise_type): lambda noisy: classical_baseline(noise_type, noisy, guard)[1],
    }
    for name, path in params.trained_models(task).items():
        model = load_model(path)  # once: the stage runs it at every noise level
        functions[name] = lambda noisy, model=model: denoise(model, noisy)
    return functions


def main() -> None:
    params = load_params()
    settings = params.analysis
    prepared = load_prepared(labels=True)
    test = prepared["split"] == "test"
    clean = to_float(prepared["images"][test])
    labels = prepared["labels"][test] if "labels" in prepared else None
    edge, flat = edge_and_flat_masks(
        to_planes(clean), settings.edge_fraction, settings.flat_fraction
    )
    subset = clean[: settings.robustness_images]
    scales = np.linspace(settings.noise_scale_min, settings.noise_scale_max, settings.noise_levels)

    results, curves, trained_levels = {}, {}, {}
    for task in params.noise.tasks:
        spec, stored = load_noisy(task, "test")
        noisy = to_float(stored["test"])
        trained_levels[task] = noise_level(spec)
        off_level = {
            noise_level(scaled_noise(spec, scale)): add_noise(
                subset,
                scaled_noise(spec, scale),
                task_rng(params.noise.seed, task, f"robustness-{scale:.4f}"),
            )
            for scale in scales
        }
        results[task], curves[task] = {}, {}
        for name, restore in restorers(params, task, spec["type"]).items():
            restored = restore(noisy)
            psnr = psnr_per_image(clean, restored)
            curve = [
                (round(level, 5), round(float(psnr_per_image(subset, restore(images)).mean()), 4))
                for level, images in off_level.items()
            ]
            curves[task][name] = curve
            results[task][name] = {
                **region_scores(
                    to_planes(clean), to_planes(restored), {"edge": edge, "flat": flat}
                ),
                **(
                    {"emotion": mean_by_label(psnr, labels, EMOTIONS)} if labels is not None else {}
                ),
                "robustness": {f"{level:g}": value for level, value in curve},
            }
            if name != "noisy":
                worst = np.argsort(psnr, kind="stable")[: settings.worst_images]
                save_grid(
                    WORST_DIR / f"{task}_{name}.png",
                    clean[worst],
                    {"noisy": noisy[worst], name: restored[worst]},
                    f"{task}: the {len(worst)} PrivateTest faces {name} restores worst",
                )
            scores = results[task][name]
            print(
                f"{task:>14} {name:>16}: edge {scores['edge']['psnr']:6.2f} dB, "
                f"flat {scores['flat']['psnr']:6.2f} dB; by level "
                + ", ".join(f"{level:g}: {value:.2f}" for level, value in curve),
                flush=True,
            )

    write_json(ANALYSIS, results)
    save_curves(
        ROBUSTNESS_PLOT,
        curves,
        trained_levels,
        ("noise level (sigma, or impulse amount); dashed: trained level", "PSNR (dB)"),
    )
    print(f"wrote {ANALYSIS}, {ROBUSTNESS_PLOT}, {WORST_DIR}/")


if __name__ == "__main__":
    run_stage(main)

"""Stage `error_analysis`: where each restoration of the PrivateTest noisy sets fails.

- PSNR / SSIM on edge pixels against flat pixels (ranked by the clean image's Sobel gradient);
- PSNR per emotion (FER2013; an image-folder dataset has no labels);
- the worst faces of each model and task, as grids (plots/worst/<task>_<model>.png);
- robustness: per noise family, the PSNR of every model of the family (each fixed task's and the
  blind one) at each level of the noise type's sweep (`sweep` in its file of
  fer_denoise/noise/), on the first `analysis.robustness_images` faces: metrics/robustness.json
  and plots/robustness.png, one panel per family.

Writes metrics/analysis.json (task -> model -> edge, flat, emotion). Color images are scored
channel by channel, each channel ranked by its own gradient.
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
from fer_denoise.noise import add_noise, noise_level, noise_type, task_rng, to_float
from fer_denoise.params import Params, load_params
from fer_denoise.paths import ANALYSIS, ROBUSTNESS, ROBUSTNESS_PLOT, WORST_DIR
from fer_denoise.plots import save_curves, save_grid
from fer_denoise.stacks import to_planes


def restorers(params: Params, task: str, kind: str, models: dict) -> dict:
    """name -> function from noisy images to restored ones: the noisy input itself, the
    classical baseline, every trained model of the task and the blind model of its family.
    `models` (path -> loaded model) keeps each model loaded once for the whole stage."""
    guard = params.evaluate.switching_median_guard
    functions = {
        "noisy": lambda noisy: noisy,
        baseline_name(kind): lambda noisy: classical_baseline(kind, noisy, guard)[1],
    }
    for name, path in (params.trained_models(task) | params.blind_model_for(task)).items():
        if path not in models:
            models[path] = load_model(path)
        functions[name] = lambda noisy, model=models[path]: denoise(model, noisy)
    return functions


def sweep(
    params: Params, kind: str, subset: np.ndarray, by_task: dict[str, dict]
) -> dict[str, list[tuple[float, float]]]:
    """The robustness curves of one noise type: (level, mean PSNR) per restorer, the noisy
    input, the classical baseline, each fixed task's models (`<task> <model>`) and the blind.
    `by_task` holds each task's restorers."""
    levels = {}
    for spec in noise_type(kind).sweep_specs():
        level = noise_level(spec)
        purpose = f"robustness-{level:.4f}"
        levels[round(level, 5)] = add_noise(
            subset, spec, task_rng(params.noise.seed, kind, purpose)
        )
    tasks = [task for task, noise in params.noise.tasks.items() if noise.type == kind]
    restore = {}
    for task in tasks:
        for name, function in by_task[task].items():
            fixed = name in params.trained_models(task)
            restore.setdefault(f"{task} {name}" if fixed else name, function)
    curves = {}
    for name, function in restore.items():
        curves[name] = [
            (level, round(float(psnr_per_image(subset, function(noisy)).mean()), 4))
            for level, noisy in levels.items()
        ]
        print(
            f"{kind:>14} {name:>26}: by level "
            + ", ".join(f"{level:g}: {value:.2f}" for level, value in curves[name]),
            flush=True,
        )
    return curves


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

    results, models = {}, {}
    by_task = {
        task: restorers(params, task, noise.type, models)
        for task, noise in params.noise.tasks.items()
    }
    for task in params.noise.tasks:
        spec, stored = load_noisy(task, "test")
        noisy = to_float(stored["test"])
        results[task] = {}
        for name, restore in by_task[task].items():
            restored = restore(noisy)
            psnr = psnr_per_image(clean, restored)
            results[task][name] = {
                **region_scores(
                    to_planes(clean), to_planes(restored), {"edge": edge, "flat": flat}
                ),
                **(
                    {"emotion": mean_by_label(psnr, labels, EMOTIONS)} if labels is not None else {}
                ),
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
                f"flat {scores['flat']['psnr']:6.2f} dB",
                flush=True,
            )

    subset = clean[: settings.robustness_images]
    kinds = list(dict.fromkeys(noise.type for noise in params.noise.tasks.values()))
    curves = {kind: sweep(params, kind, subset, by_task) for kind in kinds}
    trained_levels = {
        kind: [noise_level(params.spec(t)) for t, n in params.noise.tasks.items() if n.type == kind]
        for kind in kinds
    }
    write_json(ANALYSIS, results)
    write_json(
        ROBUSTNESS,
        {
            kind: {
                name: {f"{level:g}": psnr for level, psnr in curve} for name, curve in by.items()
            }
            for kind, by in curves.items()
        },
    )
    save_curves(
        ROBUSTNESS_PLOT,
        curves,
        trained_levels,
        (
            "noise level (sigma; impulse amount; Poisson: 1/sqrt(peak)); dashed: the fixed "
            "tasks' levels",
            f"PSNR (dB), first {len(subset)} PrivateTest faces",
        ),
    )
    print(f"wrote {ANALYSIS}, {ROBUSTNESS}, {ROBUSTNESS_PLOT}, {WORST_DIR}/")


if __name__ == "__main__":
    run_stage(main)

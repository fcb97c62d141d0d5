"""Stage `baselines@<task>`: the tuned classical filters on one task, metrics/baselines/<task>.json.

Each filter of `TUNED_FILTERS` that suits the task's noise tries every setting of its
params.yaml grid on the first `baselines.tune_images` PublicTest faces, keeps the best, and is
scored with it on PrivateTest: every face, or the first `baselines.bm3d_images` for BM3D. The
stage depends on the data alone, so retraining a model never reruns it; `evaluate` puts its
scores beside the models'.
"""

import argparse
import time
from collections.abc import Callable

from fer_denoise.baselines import TUNED_FILTERS, apply_filter, tune
from fer_denoise.datasets import load_noisy, load_prepared
from fer_denoise.errors import run_stage
from fer_denoise.files import write_json
from fer_denoise.metrics import psnr_per_image, summarize
from fer_denoise.noise import to_float
from fer_denoise.params import load_params
from fer_denoise.paths import baselines_path

PROGRESS_EVERY = 25  # faces between progress lines of a slow filter


def progress_printer(label: str, total: int) -> Callable[[int], None]:
    """A progress callback for `apply_filter` that prints every PROGRESS_EVERY faces."""

    def progress(done: int) -> None:
        if done % PROGRESS_EVERY == 0 and done < total:
            print(f"{label}: {done}/{total} PrivateTest faces", flush=True)

    return progress


def main(task: str) -> None:
    params = load_params()
    filters = params.task(task).tuned_filters
    settings = params.baselines
    prepared = load_prepared()
    _, stored = load_noisy(task, "val", "test")
    images, split = prepared["images"], prepared["split"]
    tuning = slice(0, settings.tune_images)
    tune_noisy, tune_clean = (
        to_float(stored["val"][tuning]),
        to_float(images[split == "val"][tuning]),
    )
    test_noisy, test_clean = to_float(stored["test"]), to_float(images[split == "test"])

    results = {}
    for name, spec in TUNED_FILTERS.items():
        if name not in filters:
            continue
        began = time.monotonic()
        chosen, scores = tune(name, getattr(settings, name), tune_noisy, tune_clean)
        rows = slice(0, settings.bm3d_images if name == "bm3d" else len(test_noisy))
        noisy, clean = test_noisy[rows], test_clean[rows]
        progress = progress_printer(f"{task} {name}", len(noisy)) if name == "bm3d" else None
        restored = apply_filter(name, noisy, chosen, progress)
        results[name] = {
            **summarize(clean, restored),
            spec.setting: chosen,
            "images": len(noisy),
            "tuning": {
                "images": len(tune_noisy),
                "psnr": {f"{setting:g}": round(psnr, 4) for setting, psnr in scores.items()},
            },
        }
        noisy_psnr = psnr_per_image(clean, noisy).mean()
        print(
            f"{task:>14} {name:>14}: {spec.setting} {chosen:g} (PublicTest PSNR by setting: "
            + ", ".join(f"{s:g}: {p:.2f}" for s, p in scores.items())
            + f"); PrivateTest {results[name]['psnr']:.2f} dB on {len(noisy)} faces "
            f"(noisy {noisy_psnr:.2f}), {time.monotonic() - began:.0f} s",
            flush=True,
        )
    write_json(baselines_path(task), results)
    print(f"wrote {baselines_path(task)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a task name from params.yaml noise.tasks")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.task))

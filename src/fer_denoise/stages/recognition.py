"""Stage `recognition`: does denoising help emotion recognition? The emotion classifier reads
PrivateTest faces clean, with each task's noise, and as each denoiser (and the classical
baseline) restores them; accuracy and macro-F1 for each.

Writes metrics/recognition.json (the headline: clean, and task -> model -> accuracy; in git, for
`dvc exp show` and `dvc metrics diff`), metrics/details/recognition.json (accuracy and
macro-F1 of each), plots/recognition.csv (the accuracy bar chart) and plots/confusion.csv
(true and predicted emotion of each clean face, for DVC's confusion matrix).
"""

import numpy as np

from fer_denoise.baselines import classical_baseline
from fer_denoise.datasets import load_labelled, load_noisy
from fer_denoise.errors import run_stage
from fer_denoise.fer2013 import EMOTIONS
from fer_denoise.files import atomic_path, write_json
from fer_denoise.headlines import accuracy_only
from fer_denoise.inference import BATCH, denoise, load_model
from fer_denoise.noise import to_float
from fer_denoise.params import load_params
from fer_denoise.paths import (
    ACCURACY_TABLE,
    CLASSIFIER,
    CONFUSION_TABLE,
    RECOGNITION,
    RECOGNITION_DETAILS,
)
from fer_denoise.recognition import recognition_scores


def main() -> None:
    params = load_params()
    prepared = load_labelled("recognition")
    test = prepared["split"] == "test"
    labels = prepared["labels"][test]
    classifier = load_model(CLASSIFIER)

    def classify(images: np.ndarray) -> np.ndarray:
        logits = classifier.predict(images[..., None], batch_size=BATCH, verbose=0)
        return np.argmax(logits, axis=-1)

    def scores(images: np.ndarray) -> dict[str, float]:
        return recognition_scores(labels, classify(images))

    predicted = classify(to_float(prepared["images"][test]))
    clean = recognition_scores(labels, predicted)
    results: dict = {"clean": clean}
    table = [
        "label,task,model,accuracy,macro_f1",
        f"clean,,,{clean['accuracy']},{clean['macro_f1']}",
    ]
    print(f"{'clean':>31}: accuracy {clean['accuracy']:.4f}  macro-F1 {clean['macro_f1']:.4f}")
    for task in params.noise.tasks:
        spec, stored = load_noisy(task, "test")
        noisy = to_float(stored["test"])
        baseline, restored = classical_baseline(
            spec["type"], noisy, params.evaluate.switching_median_guard
        )
        results[task] = {"noisy": scores(noisy), baseline: scores(restored)}
        for model, path in params.trained_models(task).items():
            results[task][model] = scores(denoise(load_model(path), noisy))
        for name, score in results[task].items():
            table.append(f"{task} / {name},{task},{name},{score['accuracy']},{score['macro_f1']}")
            print(
                f"{task:>14} {name:>16}: accuracy {score['accuracy']:.4f}  "
                f"macro-F1 {score['macro_f1']:.4f}"
            )

    write_json(RECOGNITION, accuracy_only(results))
    write_json(RECOGNITION_DETAILS, results)
    with atomic_path(ACCURACY_TABLE) as tmp:
        tmp.write_text("\n".join(table) + "\n")
    with atomic_path(CONFUSION_TABLE) as tmp:
        pairs = (f"{EMOTIONS[a]},{EMOTIONS[b]}" for a, b in zip(labels, predicted, strict=True))
        tmp.write_text("\n".join(["actual,predicted", *pairs]) + "\n")
    print(f"wrote {RECOGNITION}, {RECOGNITION_DETAILS}, {ACCURACY_TABLE}, {CONFUSION_TABLE}")


if __name__ == "__main__":
    run_stage(main)

"""Stage `noise@<task>`: the fixed noisy copy of every split, data/noisy/<task>.npz.

The noise is drawn from (noise.seed, task, split): the same params give the same bytes. The
resolved noise spec is stored in the file, so training reads it from there and a change of
`noise.factor` reaches only the tasks whose noisy data it really changes. A task with a level
range also stores each image's level (`<split>_levels`, float32).
"""

import argparse
import json

import numpy as np

from fer_denoise.datasets import load_prepared
from fer_denoise.errors import run_stage
from fer_denoise.fer2013 import SPLITS
from fer_denoise.files import save_npz
from fer_denoise.noise import draw_noise, task_rng, to_float, to_uint8
from fer_denoise.params import load_params
from fer_denoise.paths import noisy_path


def make_noisy(
    images: np.ndarray, split: np.ndarray, spec: dict, seed: int, task: str
) -> dict[str, np.ndarray]:
    """uint8 noisy images per split, each split from its own seeded generator, and each
    image's level (`<split>_levels`) when the task draws levels from a range."""
    stored = {}
    for name in SPLITS:
        rng = task_rng(seed, task, name)
        noisy, levels = draw_noise(to_float(images[split == name]), spec, rng)
        stored[name] = to_uint8(noisy)
        if levels is not None:
            stored[f"{name}_levels"] = levels.astype(np.float32)
    return stored


def main(task: str) -> None:
    params = load_params()
    spec = params.spec(task)
    prepared = load_prepared()
    noisy = make_noisy(prepared["images"], prepared["split"], spec, params.noise.seed, task)
    save_npz(noisy_path(task), spec=np.array(json.dumps(spec)), **noisy)
    print(f"{task}: {spec} -> {noisy_path(task)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a task name from params.yaml noise.tasks")
    run_stage(lambda: main(parser.parse_args().task))

"""Reading the prepared images and the fixed noisy sets that the data stages wrote."""

import json
from typing import Any

import numpy as np

from fer_denoise.errors import UserError
from fer_denoise.files import load_npz
from fer_denoise.paths import PREPARED, noisy_path


def load_prepared(labels: bool = False) -> dict[str, np.ndarray]:
    """images and split (and labels, when the dataset has them) from the `prepare` stage."""
    return load_npz(
        PREPARED, ("images", "split"), made_by="prepare", optional=("labels",) if labels else ()
    )


def load_labelled(stage: str) -> dict[str, np.ndarray]:
    """The prepared images with their emotion labels, or an error saying which stages to run
    when the dataset has no labels."""
    prepared = load_prepared(labels=True)
    if "labels" not in prepared:
        raise UserError(
            f"{stage} needs emotion labels, and {PREPARED} has none (data.dataset is `images`). "
            "Reproduce the denoising stages alone: `dvc repro evaluate error_analysis`."
        )
    return prepared


def load_noisy(task: str, *splits: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A task's noise spec and its noisy `splits` (uint8), from stage `noise@<task>`."""
    # The output path names its stage for `dvc repro`: noise@<task> or noise_blind@<task>.
    stored = load_npz(noisy_path(task), ("spec", *splits), made_by=str(noisy_path(task)))
    return json.loads(str(stored["spec"])), {name: stored[name] for name in splits}

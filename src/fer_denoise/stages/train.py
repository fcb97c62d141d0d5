"""Stage `train_<model>@<task>`: train a denoiser on one noise task, models/<model>/<task>.keras
(`train_unet@<task>`, and `train_extra@<model>-<task>` for params.yaml extra_models).

The training itself, checkpoints and resuming included, is fer_denoise.denoiser_training.
"""

import argparse

from fer_denoise.denoiser_training import fit_denoiser
from fer_denoise.errors import UserError, run_stage
from fer_denoise.params import load_params


def main(model_name: str, task: str) -> None:
    params = load_params()
    if model_name not in params.models:
        raise UserError(
            f"unknown model {model_name!r}: params.yaml models has {', '.join(params.models)}"
        )
    fit_denoiser(params, model_name, task, params.train_for(task))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model name from params.yaml models")
    parser.add_argument("task", help="a task name from params.yaml noise.tasks")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.model, arguments.task))

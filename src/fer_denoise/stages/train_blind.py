"""Stage `train_blind@<task>`: a blind denoiser, one model for every level of a noise family.

A blind task (params.yaml `blind.tasks`) draws each training image's level from a range, so
the model learns to restore the noise without being told its strength. It starts from a
trained fixed-level model (`init`, the transfer of fer_denoise.transfer) with the `train`
settings and the task's own (`blind.tasks.<task>.train`: epochs, learning rate, loss).
Saved as models/blind/<task>.keras; the `ship` stage puts it in the package.
"""

import argparse
from pathlib import Path

from fer_denoise.denoiser_training import fit_denoiser
from fer_denoise.errors import UserError, run_stage
from fer_denoise.params import load_params


def main(task: str) -> None:
    params = load_params()
    blind = params.blind
    if task not in blind.tasks:
        raise UserError(
            f"task {task!r} is not in params.yaml blind.tasks ({', '.join(blind.tasks)}): "
            "add it there with its noise range and the model it starts from"
        )
    init = Path(blind.tasks[task].init)
    fit_denoiser(params, blind.model, task, params.train_for(task), init=init)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a task name from params.yaml blind.tasks")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.task))

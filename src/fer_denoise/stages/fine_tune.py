"""Stage `attention_unet@<task>`: the Attention U-Net transfer curriculum, one task at a time.

params.yaml `curriculum` lists the tasks in order and the model each one starts from: the same
task's U-Net, the previous task's Attention U-Net, or (with the architecture's own source file)
random weights. dvc.yaml declares that model as a dependency, so a change reruns exactly the
rest of the chain. `fine_tune` overrides the `train` settings: epochs, learning rate, and how
many epochs the encoder stays frozen, and a task's `curriculum.<task>.fine_tune` overrides those.
"""

import argparse
from pathlib import Path

from fer_denoise.denoiser_training import fit_denoiser
from fer_denoise.errors import UserError, run_stage
from fer_denoise.params import SCRATCH, load_params

MODEL = "attention_unet"


def main(task: str) -> None:
    params = load_params()
    curriculum = params.curriculum
    if task not in curriculum:
        raise UserError(
            f"task {task!r} is not in params.yaml curriculum ({', '.join(curriculum)}): "
            "add it there with the model it starts from"
        )
    init, fine_tune = curriculum[task].init, curriculum[task].fine_tune
    settings = params.train_for(task).model_copy(
        update={"epochs": fine_tune.epochs, "learning_rate": fine_tune.learning_rate}
    )
    fit_denoiser(
        params,
        MODEL,
        task,
        settings,
        init=None if init == SCRATCH else Path(init),
        frozen_epochs=fine_tune.frozen_epochs,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a task name from params.yaml curriculum")
    arguments = parser.parse_args()
    run_stage(lambda: main(arguments.task))

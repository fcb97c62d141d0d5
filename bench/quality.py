"""Quality benchmark: time one `dvc repro`, then print every model's PrivateTest PSNR / SSIM with
the wall time of the stage that trained it, the distance to the quality targets, and the
pipeline's wall time.

    python bench/quality.py --repro --force   # every stage, none from a cache (80-140 min, 2 cores)
    python bench/quality.py --repro           # only the stages whose inputs changed
    python bench/quality.py                   # the table again, from the last timed run

    # an experiment of the committed params, run in a temporary copy (the workspace is left
    # as it is; stages whose inputs did not change come from DVC's run cache):
    python bench/quality.py --exp factor-0.1 --set noise.factor=0.1 --repro
    python bench/quality.py --exp factor-0.1  # its table again, from the experiment's commit

A forced run stops before it starts while a killed run's training checkpoints remain (the
stages would resume from them). A timed run also reads the CPU's speed before and after
(bench/speed.py: ms per U-Net training step), since the machines lent differ by up to 2x. It
keeps DVC's output in bench/results/repro.log and the table in bench/results/quality.json (an
experiment's in bench/results/<name>/; all ignored by git).
Run it from the repository root, with FER2013_PATH set or the dataset in data/external/.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

# EVALUATION: evaluate's headline metrics; CHECKPOINT_DIR: where a killed training stage leaves
# its last epoch (a folder with a state.json), which the stage resumes from when rerun with the
# same params, data and code (src/fer_denoise/checkpoints.py)
from fer_denoise.paths import CHECKPOINT_DIR, EVALUATION

RESULTS = Path("bench/results")
# Each run's files, in RESULTS (an experiment's in RESULTS/<name>):
LOG, TIMES, TABLE = "repro.log", "stage_times.json", "quality.json"

# Issue 20's targets for the best model of each task (PrivateTest, per-image mean PSNR), by
# params.yaml noise.factor: at 0.2 (the default) salt_pepper 35.0 dB and the Gaussian tasks no
# worse than the run before it; at 0.1 (sigma 0.02 / 0.06) the published 36.2 dB, and 29.5 dB.
TARGETS_DB = {
    0.2: {"gaussian_low": 31.36, "gaussian_high": 24.97, "salt_pepper": 35.0},
    0.1: {"gaussian_low": 36.2, "gaussian_high": 29.5, "salt_pepper": 35.0},
}
# The stage that trains each model of a task; the others (noisy input, filters) are not trained.
TRAINING_STAGE = {"unet": "train_unet@{}", "attention_unet": "attention_unet@{}", "gan": "gan@{}"}
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")
# A stage that does not run (unchanged, or restored from the run cache) ends the one before it.
SKIPPED_LINE = re.compile(r"^Stage '([^']+)' (didn't change|is cached)")


def timed_repro(force: bool, results: Path, command: list[str] | None = None) -> dict:
    """Run `dvc repro` (or `command`) here, echoing and logging its output, and keep its times
    in `results`."""
    results.mkdir(parents=True, exist_ok=True)
    command = command or ["dvc", "repro", *(["--force", "--no-run-cache"] if force else [])]
    commit = git("rev-parse", "HEAD")  # an experiment's base, even if HEAD moves while it runs
    before = cpu_speed()
    times = {**timed(command, results / LOG), "commit": commit}
    times["speed"] = {**before, "ms_per_step_after": cpu_speed()["ms_per_step"]}
    (results / TIMES).write_text(json.dumps(times, indent=2) + "\n")
    return times


def leftover_checkpoints(directory: Path = CHECKPOINT_DIR) -> list[Path]:
    """The checkpoints of killed training stages under `directory`, each a folder."""
    return sorted(state.parent for state in directory.rglob("state.json"))


def refuse_resuming(directory: Path = CHECKPOINT_DIR) -> None:
    """Stop a forced run that would resume killed stages: it would skip the epochs they
    finished, and its wall time would not be a forced run's."""
    leftovers = leftover_checkpoints(directory)
    if leftovers:
        folders = " ".join(path.as_posix() for path in leftovers)
        sys.exit(
            f"a killed run left training checkpoints ({folders}); a forced run would resume "
            f"from them instead of training every epoch. Delete them (`rm -r {folders}`) for a "
            "timed forced run, or run without --force to let the stages resume"
        )


def cpu_speed() -> dict:
    """bench/speed.py's reading of this CPU: ms per training step of the default U-Net."""
    output = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("speed.py")), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def experiment_command(name: str, settings: list[str]) -> list[str]:
    """`dvc exp run` of HEAD with `settings` in a temporary copy, so that the workspace (and
    params.yaml's layout, which -S rewrites) stays as it is."""
    return ["dvc", "exp", "run", "--temp", "--name", name, *(f"-S{s}" for s in settings)]


def experiment_file(name: str, path: Path, base: str) -> str:
    """A file of the experiment `name` run on commit `base`, from the commit DVC keeps for it."""
    ref = f"refs/exps/{base[:2]}/{base[2:]}/{name}"
    if not git("rev-parse", "--verify", "--quiet", ref, check=False):
        sys.exit(
            f"no experiment {name!r} of {base[:7]}: run `python {__file__} --exp {name} "
            "--set KEY=VALUE --repro` first (`dvc exp show` lists the experiments)"
        )
    return git("show", f"{ref}:{path.as_posix()}")


def git(*arguments: str, check: bool = True) -> str:
    done = subprocess.run(["git", *arguments], capture_output=True, text=True, check=check)
    return done.stdout.strip()


def noise_factor(params_text: str) -> float:
    return float(yaml.safe_load(params_text)["noise"]["factor"])


def timed(command: list[str], log_path: Path, cwd: Path | None = None, env=None) -> dict:
    """Run a DVC command, echoing and logging its output; each stage's wall time runs from its
    "Running stage" line to the next one (or to the end), start-up included."""
    began = time.monotonic()
    stages: dict[str, float] = {}
    current, current_began = None, began
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process,
    ):
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
            match = STAGE_LINE.match(line)
            if match or SKIPPED_LINE.match(line):
                now = time.monotonic()
                if current:
                    stages[current] = now - current_began
                current, current_began = match.group(1) if match else None, now
    ended = time.monotonic()
    if current:
        stages[current] = ended - current_began
    if process.returncode:
        sys.exit(
            f"`{' '.join(command)}` failed with exit status {process.returncode}; see {log_path}"
        )
    return {"command": " ".join(command), "wall_s": round(ended - began, 1), "stages": stages}


def rows(evaluation: dict, stages: dict[str, float]) -> list[dict]:
    """One row per (task, model) of the evaluation, with its training stage's time when it ran."""
    table = []
    for task, models in evaluation.items():
        for model, scores in models.items():
            stage = TRAINING_STAGE.get(model, "").format(task)
            table.append(
                {
                    "task": task,
                    "model": model,
                    "psnr": scores["psnr"],
                    "ssim": scores["ssim"],
                    "train_s": round(stages[stage]) if stage in stages else None,
                }
            )
    return table


def print_table(table: list[dict], times: dict, targets: dict[str, float]) -> None:
    print(f"{'task':>14} {'model':>16} {'PSNR dB':>8} {'SSIM':>7} {'train s':>8} {'to target':>9}")
    for row in table:
        target = targets.get(row["task"])
        gap = f"{row['psnr'] - target:+.2f}" if target else "-"
        train = "-" if row["train_s"] is None else str(row["train_s"])
        print(
            f"{row['task']:>14} {row['model']:>16} {row['psnr']:8.2f} {row['ssim']:7.4f} "
            f"{train:>8} {gap:>9}"
        )
    ran = times["stages"]
    for stage, seconds in ran.items():
        print(f"{stage:>40} {seconds:7.0f} s")
    print(
        f"`{times['command']}`: {times['wall_s'] / 60:.1f} min wall time, {len(ran)} stages ran"
        + (f"; slowest {max(ran, key=ran.get)} ({max(ran.values()):.0f} s)" if ran else "")
    )
    if "speed" in times:  # runs timed before bench/speed.py existed have no reading
        speed = times["speed"]
        print(
            f"CPU: {speed['cpu']}, {speed['ms_per_step']} ms per U-Net training step before "
            f"the run, {speed['ms_per_step_after']} after (bench/speed.py)"
        )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repro", action="store_true", help="run and time `dvc repro` first")
    parser.add_argument("--force", action="store_true", help="with --repro: rerun every stage")
    parser.add_argument("--exp", metavar="NAME", help="an experiment, not the workspace")
    parser.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], help="with --exp: a param"
    )
    arguments = parser.parse_args()
    if arguments.set and not arguments.exp:
        parser.error("--set needs --exp NAME (the workspace runs with params.yaml as it is)")
    if arguments.force and arguments.exp:
        parser.error("--force is for the workspace; an experiment reruns what its params change")
    results = RESULTS / arguments.exp if arguments.exp else RESULTS
    if arguments.repro and arguments.force:
        refuse_resuming()
    if arguments.repro:
        command = experiment_command(arguments.exp, arguments.set) if arguments.exp else None
        times = timed_repro(arguments.force, results, command)
    elif (results / TIMES).is_file():
        times = json.loads((results / TIMES).read_text())
    else:
        sys.exit(f"no timed run yet ({results / TIMES} is missing): add --repro")
    if arguments.exp:
        base = times.get("commit") or git("rev-parse", "HEAD")  # older runs did not keep it
        evaluation = json.loads(experiment_file(arguments.exp, EVALUATION, base))
        factor = noise_factor(experiment_file(arguments.exp, Path("params.yaml"), base))
    else:
        if not EVALUATION.is_file():
            sys.exit(f"{EVALUATION} is missing: run `dvc repro` (or `dvc pull`) first")
        evaluation = json.loads(EVALUATION.read_text())
        factor = noise_factor(Path("params.yaml").read_text())
    table = rows(evaluation, times["stages"])
    print(f"noise.factor {factor}" + (f", experiment {arguments.exp}" if arguments.exp else ""))
    print_table(table, times, TARGETS_DB.get(factor, {}))
    (results / TABLE).write_text(json.dumps({"run": times, "models": table}, indent=2) + "\n")


if __name__ == "__main__":
    run()

"""Quality benchmark: time one `dvc repro`, then print every model's PrivateTest PSNR / SSIM with
the wall time of the stage that trained it, the distance to the quality targets, and the
pipeline's wall time.

    python bench/quality.py --repro --force   # every stage, none from a cache (~90 min, 2 cores)
    python bench/quality.py --repro           # only the stages whose inputs changed
    python bench/quality.py                   # the table again, from the last timed run

A timed run keeps DVC's output in bench/results/repro.log and the table in
bench/results/quality.json (both ignored by git). Run it from the repository root, with
FER2013_PATH set or the dataset in data/external/.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path("bench/results")
LOG = RESULTS / "repro.log"
TIMES = RESULTS / "stage_times.json"
TABLE = RESULTS / "quality.json"
EVALUATION = Path("metrics/evaluate.json")

# Issue 20's targets for the best model of each default task (PrivateTest, per-image mean PSNR):
# salt_pepper 35.0 dB; the Gaussian tasks no worse than the run before it (31.36 / 24.97).
TARGETS_DB = {"gaussian_low": 31.36, "gaussian_high": 24.97, "salt_pepper": 35.0}
# The stage that trains each model of a task; the others (noisy input, filters) are not trained.
TRAINING_STAGE = {"unet": "train_unet@{}", "attention_unet": "attention_unet@{}", "gan": "gan@{}"}
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def timed_repro(force: bool) -> dict:
    """Run `dvc repro` here, echoing and logging its output, and keep its times."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = ["dvc", "repro", *(["--force", "--no-run-cache"] if force else [])]
    times = timed(command, LOG)
    TIMES.write_text(json.dumps(times, indent=2) + "\n")
    return times


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
            if match:
                now = time.monotonic()
                if current:
                    stages[current] = now - current_began
                current, current_began = match.group(1), now
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


def print_table(table: list[dict], times: dict) -> None:
    print(f"{'task':>14} {'model':>16} {'PSNR dB':>8} {'SSIM':>7} {'train s':>8} {'to target':>9}")
    for row in table:
        target = TARGETS_DB.get(row["task"])
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


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repro", action="store_true", help="run and time `dvc repro` first")
    parser.add_argument("--force", action="store_true", help="with --repro: rerun every stage")
    arguments = parser.parse_args()
    if arguments.repro:
        times = timed_repro(arguments.force)
    elif TIMES.is_file():
        times = json.loads(TIMES.read_text())
    else:
        sys.exit(f"no timed run yet ({TIMES} is missing): run `python {__file__} --repro`")
    if not EVALUATION.is_file():
        sys.exit(f"{EVALUATION} is missing: run `dvc repro` (or `dvc pull`) first")
    table = rows(json.loads(EVALUATION.read_text()), times["stages"])
    print_table(table, times)
    TABLE.write_text(json.dumps({"run": times, "models": table}, indent=2) + "\n")


if __name__ == "__main__":
    run()

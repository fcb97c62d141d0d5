"""Smoke run: every stage of the pipeline, in a temporary copy of this repository, on 72
synthetic FER2013-format faces with the tests' tiny settings (tests/tiny_repo.py: the same
pipeline the end-to-end tests run). Prints each stage's time and the total.

    python bench/smoke.py              # the copy is deleted afterwards
    python bench/smoke.py --keep DIR   # the copy stays in DIR, to look at its plots and metrics

It checks that the whole chain runs (after a change to a stage, before the hour-long run), not
what the models score: they train for one epoch on 24 faces.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_fer_csv  # noqa: E402
from quality import timed  # noqa: E402
from tiny_repo import TINY_CSV, environment, make_tiny_repository  # noqa: E402

LIMIT_S = 300  # what the README promises on 2 CPU cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="an empty or new folder for the copy")
    arguments = parser.parse_args()
    if arguments.keep and arguments.keep.exists() and any(arguments.keep.iterdir()):
        sys.exit(f"{arguments.keep} is not empty: name a new or empty folder")
    base = Path(tempfile.mkdtemp(prefix="fer-smoke-"))
    try:
        source = write_fer_csv(base / "fer2013.csv", **TINY_CSV)
        repo = base / "repo"
        make_tiny_repository(repo, str(source))
        times = timed(["dvc", "repro"], base / "repro.log", cwd=repo, env=environment(repo))
        for stage, seconds in times["stages"].items():
            print(f"{stage:>40} {seconds:6.0f} s")
        minutes = times["wall_s"] / 60
        verdict = "within" if times["wall_s"] <= LIMIT_S else "OVER"
        print(f"smoke run: {len(times['stages'])} stages in {minutes:.1f} min ({verdict} 5 min)")
        if arguments.keep:
            shutil.copytree(repo, arguments.keep, symlinks=True, dirs_exist_ok=True)
            print(f"the copy is in {arguments.keep}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

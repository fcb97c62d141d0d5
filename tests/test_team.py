"""Working as a team: outputs through a DVC remote (a local folder, an S3 server on 127.0.0.1),
experiments through git and the remote, and a queued parameter sweep."""

import json
import time
from pathlib import Path

import pytest
import yaml
from tiny_repo import ROOT, TASKS, copy_run, run, run_json

# One worker builds the tiny run (a session fixture) for every test that copies it.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_run")]

UP_TO_DATE = "Data and pipelines are up to date"
OUTPUTS = (
    "data/raw/fer2013.csv",
    "data/prepared/images.npz",
    *(f"data/noisy/{task}.npz" for task in TASKS),
    *(f"models/unet/{task}.keras" for task in TASKS),
    *(f"plots/grids/{task}.png" for task in TASKS),
)


def evaluate_metrics(repo: Path) -> dict:
    return json.loads((repo / "metrics/evaluate.json").read_text())


def assert_like_the_original(clone: Path, original: Path) -> None:
    """Every output is there, nothing is stale or left to run, the metrics are the original's."""
    missing = [name for name in OUTPUTS if not (clone / name).is_file()]
    assert not missing, f"not pulled: {missing}"
    assert UP_TO_DATE in run(["dvc", "status"], clone)
    assert "Running stage" not in run(["dvc", "repro"], clone)
    assert evaluate_metrics(clone) == evaluate_metrics(original)


def test_outputs_kept_out_of_the_dvc_cache_are_only_metrics_in_git():
    """So that `dvc pull` gives a teammate every output the pipeline makes."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    uncached = [
        name
        for stage in stages.values()
        for section in ("outs", "metrics", "plots")
        for entry in stage.get("do", stage).get(section, [])
        if isinstance(entry, dict)
        for name, options in entry.items()
        if options.get("cache") is False
    ]
    assert uncached, "the metrics should be in git, not in the cache"
    tables = ("plots/psnr.csv", "plots/recognition.csv")
    tables += ("plots/robustness.png",)  # a curve, no faces: fine in git
    tables += ("src/fer_denoise/weights",)  # the package's models: weights, no faces
    assert all(name.startswith(("metrics/", *tables)) for name in uncached), uncached
    ignored = (ROOT / ".gitignore").read_text().split()
    assert not [line for line in ignored if line.lstrip("/").split("/")[0] in ("metrics", "plots")]


def test_a_teammate_pulls_everything_from_a_folder_remote(tiny_run, tmp_path):
    work = copy_run(tiny_run, tmp_path / "work")
    run(["dvc", "remote", "add", "--force", "--default", "team", str(tmp_path / "storage")], work)
    run(["git", "commit", "-qam", "team remote"], work)
    run(["dvc", "push"], work)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(work), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)

    assert_like_the_original(clone, work)
    unchanged = run_json(["dvc", "metrics", "diff", "HEAD~1", "--json"], clone)
    assert unchanged == {}
    added = run_json(["dvc", "metrics", "diff", "HEAD~2", "--json"], clone)
    assert "gaussian_low.unet.psnr" in added["metrics/evaluate.json"]


@pytest.fixture
def s3_endpoint():
    """moto's S3 server on a free port of 127.0.0.1, with an empty bucket `team`."""
    import boto3  # from requirements-dev.txt; a missing install fails rather than skips
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="team-key",
        aws_secret_access_key="team-secret",  # noqa: S106 (moto accepts any credentials)
    ).create_bucket(Bucket="team")
    yield endpoint
    server.stop()


def use_s3_remote(repo: Path, endpoint: str, *, commit: bool) -> None:
    """The remote's address in .dvc/config (in git); the credentials in .dvc/config.local."""
    if commit:
        run(["dvc", "remote", "add", "--force", "--default", "s3", "s3://team/fer-denoise"], repo)
        run(["dvc", "remote", "modify", "s3", "endpointurl", endpoint], repo)
        run(["git", "commit", "-qam", "S3 remote"], repo)
    run(["dvc", "remote", "modify", "--local", "s3", "access_key_id", "team-key"], repo)
    run(["dvc", "remote", "modify", "--local", "s3", "secret_access_key", "team-secret"], repo)


def test_a_teammate_pulls_everything_from_an_s3_remote(tiny_run, tmp_path, s3_endpoint):
    work = copy_run(tiny_run, tmp_path / "work")
    use_s3_remote(work, s3_endpoint, commit=True)
    assert "team-secret" not in (work / ".dvc/config").read_text()
    run(["dvc", "push"], work)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(work), str(clone)], tmp_path)
    assert not (clone / ".dvc/config.local").exists(), "credentials must not travel with git"
    use_s3_remote(clone, s3_endpoint, commit=False)
    run(["dvc", "pull"], clone)

    assert_like_the_original(clone, work)


def experiments(show: list) -> dict[str, dict]:
    """name -> {'params', 'metrics'} of every experiment in `dvc exp show --json`."""
    found = {}
    for commit in show:
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs", []):
                data = rev.get("data", {})
                found[rev.get("name") or rev["rev"]] = {
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": data.get("metrics", {}).get("metrics/evaluate.json", {}),
                }
    return found


@pytest.fixture(scope="module")
def swept(tiny_run, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """A copy of the tiny run after a queued sweep of two baseline settings (it reruns only
    evaluate and recognition, which keeps it short): the workspace and its experiments."""
    work = copy_run(tiny_run, tmp_path_factory.mktemp("sweep") / "work")
    run(["dvc", "exp", "run", "--queue", "-S", "evaluate.switching_median_guard=0,1"], work)
    run(["dvc", "queue", "start", "--jobs", "1"], work)
    deadline = time.monotonic() + 900
    while any(word in run(["dvc", "queue", "status"], work) for word in ("Queued", "Running")):
        assert time.monotonic() < deadline, run(["dvc", "queue", "status"], work)
        time.sleep(3)
    status = run(["dvc", "queue", "status"], work)
    assert status.count("Success") == 2, status
    return work, experiments(run_json(["dvc", "exp", "show", "--json"], work))


def test_a_queued_sweep_runs_every_value(swept):
    _, found = swept
    guards = sorted(e["params"]["evaluate"]["switching_median_guard"] for e in found.values())
    assert guards == [0, 1], found
    # On impulses the switching median is by far the best filter: the headline's best_filter.
    switching = [e["metrics"]["data"]["salt_pepper"]["best_filter"] for e in found.values()]
    assert switching[0] != switching[1], "each experiment scores its own guard"


def test_an_experiment_travels_through_git_and_the_dvc_remote(swept, tiny_run):
    work, found = swept
    strict = next(
        n for n, e in found.items() if e["params"]["evaluate"]["switching_median_guard"] == 0
    )
    origin = work.parent / "origin.git"
    run(["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)], work.parent)
    run(["git", "remote", "add", "origin", str(origin)], work)
    run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], work)
    run(["dvc", "exp", "push", "origin", strict], work)

    # A sibling of the workspace, so the DVC remote's relative path names the same folder.
    clone = work.parent / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], work.parent)
    run(["dvc", "exp", "pull", "origin", strict], clone)
    run(["dvc", "exp", "apply", strict], clone)

    expected = found[strict]["metrics"]["data"]
    assert evaluate_metrics(clone) == expected != evaluate_metrics(tiny_run)
    assert yaml.safe_load((clone / "params.yaml").read_text())["evaluate"] == {
        "grid_images": 2,
        "switching_median_guard": 0,
        "flip_ensemble": True,
    }
    assert all((clone / name).is_file() for name in OUTPUTS)
    assert UP_TO_DATE in run(["dvc", "status"], clone)

"""Bad input through the stages themselves: exit status 2, a message naming the file, line or
key and the fix, and nothing half-made left behind."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import csv_text, fer_rows, png_bytes, write_fer_csv

from fer_denoise.errors import run_stage
from fer_denoise.models.patchgan import build_patchgan
from fer_denoise.stages import add_noise, adversarial, evaluate, fetch, fine_tune, prepare, train

PREPARED_OUTPUTS = ("data/prepared/images.npz", "data/prepared/summary.json")


def change_params(path: str, value) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    *parents, leaf = path.split(".")
    section = params
    for key in parents:
        section = section[key]
    section[leaf] = value
    Path("params.yaml").write_text(yaml.safe_dump(params))


def fails_cleanly(main, capsys, *fragments: str) -> None:
    """`main` exits 2 with every fragment in its message and leaves no temporary file."""
    with pytest.raises(SystemExit) as stopped:
        run_stage(main)
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not [p for p in Path().rglob(".tmp-*")], "a temporary file was left behind"


def csv_with_row(row: int, emotion: str | None = None, pixels=None, usage=None) -> bytes:
    """The synthetic CSV with one row (0 = first after the header) changed."""
    lines = csv_text(fer_rows(4)).splitlines()
    old_emotion, old_pixels, old_usage = lines[row + 1].split(",")
    lines[row + 1] = ",".join([emotion or old_emotion, pixels or old_pixels, usage or old_usage])
    return ("\n".join(lines) + "\n").encode()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


GOOD_PNG = png_bytes(fer_rows(1)[0][1])
PIXELS = " ".join(["9"] * 2304)

DATA_CASES = {
    "truncated": (
        lambda: csv_text(fer_rows(4)).encode()[:-3000],
        "fer2013.csv",
        ("data/raw/fer2013.csv: line", "ends early", "download FER2013 again"),
    ),
    "wrong header": (
        lambda: b"label,pixels,Usage\n0,1 2,Training\n",
        "fer2013.csv",
        ("data/raw/fer2013.csv: line 1", "emotion,pixels,Usage", "fix the header"),
    ),
    "2303 pixels": (
        lambda: csv_with_row(2, pixels=" ".join(["9"] * 2303)),
        "fer2013.csv",
        ("line 4: 2303 pixel values, expected 2304", "download"),
    ),
    "2305 pixels": (
        lambda: csv_with_row(2, pixels=" ".join(["9"] * 2305)),
        "fer2013.csv",
        ("line 4: 2305 pixel values", "download"),
    ),
    "value 256": (
        lambda: csv_with_row(0, pixels=PIXELS.replace("9", "256", 1)),
        "fer2013.csv",
        ("line 2: pixel value '256' is above 255",),
    ),
    "value -1": (
        lambda: csv_with_row(0, pixels=PIXELS.replace("9", "-1", 1)),
        "fer2013.csv",
        ("line 2: pixel value '-1'",),
    ),
    "value abc": (
        lambda: csv_with_row(5, pixels=PIXELS.replace("9", "abc", 1)),
        "fer2013.csv",
        ("line 7: pixel value 'abc'",),
    ),
    "unknown Usage": (
        lambda: csv_with_row(3, usage="Validation"),
        "fer2013.csv",
        ("line 5: unknown Usage", "Training, PublicTest, PrivateTest"),
    ),
    "emotion 7": (
        lambda: csv_with_row(1, emotion="7"),
        "fer2013.csv",
        ("line 3: unknown emotion", "0..6"),
    ),
    "empty file": (lambda: b"", "fer2013.csv", ("fer2013.csv: the file is empty", "download")),
    "zip with ../ member": (
        lambda: zip_of({"../../outside/fer2013.csv": b"emotion,pixels,Usage\n"}),
        "archive.zip",
        ("archive.zip: unsafe member name '../../outside/fer2013.csv'", "Download it again"),
    ),
    "zip with a non-image": (
        lambda: zip_of({"train/happy/Training_1.png": GOOD_PNG, "train/sad/Training_2.jpg": b"x"}),
        "archive.zip",
        ("archive.zip: train/sad/Training_2.jpg: not a readable image", "remove it"),
    ),
}


def data_stages_fail_cleanly(workspace: Path, capsys, data: bytes, name: str, *fragments):
    """`fetch` then `prepare` of `data` dropped in data/external/ as `name` exit 2 with every
    fragment in the message, and leave no prepared data."""
    (workspace / "data/external").mkdir(parents=True)
    (workspace / "data/external" / name).write_bytes(data)

    def fetch_then_prepare():
        fetch.main()
        prepare.main()

    fails_cleanly(fetch_then_prepare, capsys, *fragments)
    for output in PREPARED_OUTPUTS:
        assert not (workspace / output).exists()


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_dataset_files_stop_the_data_stages(workspace, capsys, case):
    make, name, fragments = DATA_CASES[case]
    data_stages_fail_cleanly(workspace, capsys, make(), name, *fragments)


def test_a_zip_with_an_unsafe_member_is_refused_before_anything_lands(workspace, capsys):
    (workspace / "data/external").mkdir(parents=True)
    (workspace / "data/external/archive.zip").write_bytes(zip_of({"/etc/fer2013.csv": b"x"}))
    fails_cleanly(fetch.main, capsys, "unsafe member name '/etc/fer2013.csv'")
    assert not (workspace / "data/raw").exists()
    assert not Path("/etc/fer2013.csv").exists()


def test_checksum_mismatch_stops_fetch(workspace, capsys):
    write_fer_csv(workspace / "fer2013.csv")
    change_params("data.source", str(workspace / "fer2013.csv"))
    change_params("data.md5", "0" * 32)
    fails_cleanly(fetch.main, capsys, "does not match data.md5", "set data.md5 to null")
    assert not (workspace / "data/raw").exists()


def test_missing_dataset_while_offline_says_how_to_get_it(workspace, capsys):
    change_params("data.source", "http://127.0.0.1:9/fer2013.csv")  # nothing listens on port 9
    fails_cleanly(
        fetch.main, capsys, "could not download http://127.0.0.1:9/fer2013.csv", "data/external/"
    )
    assert not (workspace / "data/raw").exists()


PARAMS_CASES = {
    "unknown key": ("train.epoch", 3, "`train.epoch` is not a known key"),
    "wrong type": ("train.epochs", "ten", "`train.epochs` must be an integer >= 1, got 'ten'"),
    "negative std": ("noise.tasks.gaussian_low.std", -0.1, "`noise.tasks.gaussian_low.std`"),
    "amount above 1": ("noise.tasks.salt_pepper.amount", 1.5, "`noise.tasks.salt_pepper.amount`"),
    "unknown noise type": (
        "noise.tasks.gaussian_low.type",
        "speckle",
        "must be one of gaussian, poisson, salt_pepper; got 'speckle'",
    ),
    "unknown model": ("models.resnet", {"depth": 3}, "`models.resnet` is not a known model"),
}


@pytest.mark.parametrize("case", PARAMS_CASES)
def test_bad_params_stop_a_stage_before_it_writes(workspace, capsys, case):
    key, value, fragment = PARAMS_CASES[case]
    change_params(key, value)
    fails_cleanly(lambda: add_noise.main("gaussian_low"), capsys, "params.yaml", fragment, "Fix it")
    assert not (workspace / "data/noisy").exists()


def test_an_unknown_model_name_on_the_command_line_lists_the_known_ones(workspace, capsys):
    fails_cleanly(lambda: train.main("resnet", "gaussian_low"), capsys, "'resnet'", "unet")
    assert not (workspace / "models").exists()


def test_a_corrupt_model_file_stops_evaluate(workspace, capsys):
    write_fer_csv(workspace / "fer2013.csv")
    change_params("data.source", str(workspace / "fer2013.csv"))
    fetch.main()
    prepare.main()
    for task in ("gaussian_low", "gaussian_high", "salt_pepper"):
        add_noise.main(task)
        (workspace / "models/unet").mkdir(parents=True, exist_ok=True)
        (workspace / f"models/unet/{task}.keras").write_bytes(np.arange(100).tobytes())
    capsys.readouterr()
    fails_cleanly(
        evaluate.main,
        capsys,
        "models/unet/gaussian_",
        ".keras is not a Keras model",
        "dvc repro -f",
    )
    assert not (workspace / "metrics").exists() and not (workspace / "plots").exists()


def test_a_curriculum_init_of_another_family_stops_fine_tuning(workspace, capsys):
    write_fer_csv(workspace / "fer2013.csv")
    change_params("data.source", str(workspace / "fer2013.csv"))
    fetch.main()
    prepare.main()
    add_noise.main("gaussian_low")
    (workspace / "models").mkdir()
    build_patchgan((48, 48, 1), 4, 2).save(workspace / "models/critic.keras")
    change_params("curriculum.gaussian_low.init", "models/critic.keras")
    capsys.readouterr()
    fails_cleanly(
        lambda: fine_tune.main("gaussian_low"),
        capsys,
        "models/critic.keras shares no layer",
        "curriculum",
    )
    assert not (workspace / "models/attention_unet").exists()
    assert not (workspace / "metrics").exists()


@pytest.mark.parametrize("stage", [fine_tune, adversarial], ids=lambda stage: stage.__name__)
def test_a_task_outside_the_curriculum_is_named_with_the_fix(workspace, capsys, stage):
    change_params("curriculum", {"gaussian_low": {"init": "models/unet/gaussian_low.keras"}})
    fails_cleanly(lambda: stage.main("salt_pepper"), capsys, "'salt_pepper'", "curriculum")
    assert not (workspace / "models").exists()

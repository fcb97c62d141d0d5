"""fer-denoise on generated images, with a tiny model trained in the test."""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import png_bytes, synthetic_faces, write_fer_csv
from PIL import Image

from fer_denoise.cli import Denoiser, Item, Progress, main, run_in_batches
from fer_denoise.model_card import write_card
from fer_denoise.models import build_model
from fer_denoise.noise import add_noise, task_rng, to_float, to_uint8

# One worker trains the module's model for all its tests.
pytestmark = pytest.mark.xdist_group("cli_model")

SPEC = {"type": "gaussian", "sigma": 0.1}
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A small U-Net trained for about ten seconds on Gaussian-noisy synthetic faces."""
    keras.utils.set_random_seed(0)
    clean = to_float(synthetic_faces(256, seed=3))[..., None]
    noisy = add_noise(clean, SPEC, task_rng(0, "gaussian", "cli"))
    # No batch norm: its moving statistics need far more steps than a test can afford.
    model = build_model(
        "unet", (48, 48, 1), depth=2, base_filters=8, batch_norm=False, residual=True
    )
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
    model.fit(noisy, clean, batch_size=16, epochs=3, verbose=0)
    path = tmp_path_factory.mktemp("model") / "models" / "unet" / "gaussian.keras"
    path.parent.mkdir(parents=True)
    model.save(path)
    write_card(path, {"model": "unet", "task": "gaussian", "noise": SPEC})
    return path


def noisy_faces(count: int) -> np.ndarray:
    clean = to_float(synthetic_faces(count, seed=9))
    return to_uint8(add_noise(clean, SPEC, task_rng(1, "gaussian", "inputs")))


def test_folder_round_trip_keeps_paths_sizes_and_improves_the_images(tmp_path, model_file, capsys):
    inputs = tmp_path / "faces"
    (inputs / "nested").mkdir(parents=True)
    faces = noisy_faces(4)
    Image.fromarray(faces[0]).save(inputs / "a.png")
    Image.fromarray(faces[1]).save(inputs / "nested" / "b.jpg", quality=95)
    Image.fromarray(np.stack([faces[2]] * 3, axis=-1)).save(inputs / "nested" / "rgb.png")
    Image.fromarray(np.tile(faces[3], (2, 2))[:75, :61]).save(inputs / "odd_size.png")

    assert (
        main(
            [
                "denoise",
                "--model",
                str(model_file),
                str(inputs),
                "--out",
                str(tmp_path / "out"),
                "--batch-size",
                "2",
            ]
        )
        == 0
    )

    err = capsys.readouterr().err
    assert "note: 1 color image(s) converted to grayscale" in err
    assert "denoised 4/4 (" in err and "s left)" in err  # not a terminal: plain lines
    out = tmp_path / "out" / "faces"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a.png", "nested/b.png", "nested/rgb.png", "odd_size.png"]
    for name, size in [
        ("a.png", (48, 48)),
        ("nested/rgb.png", (48, 48)),
        ("odd_size.png", (61, 75)),
    ]:
        with Image.open(out / name) as image:
            assert image.size == size and image.mode == "L"
    clean = synthetic_faces(4, seed=9)[0].astype(float)
    denoised = np.asarray(Image.open(out / "a.png"), float)
    assert np.abs(denoised - clean).mean() < np.abs(faces[0] - clean).mean()


def test_output_equals_the_model_run_in_memory(tmp_path, model_file):
    faces = noisy_faces(3)
    np.savez(tmp_path / "batch.npz", images=faces)
    assert (
        main(
            [
                "denoise",
                "--model",
                str(model_file),
                str(tmp_path / "batch.npz"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    expected = to_uint8(Denoiser(model_file, 8)(to_float(faces)))
    for index in range(3):
        written = np.asarray(Image.open(tmp_path / "out" / "batch" / "images" / f"{index:05d}.png"))
        assert np.array_equal(written, expected[index])


def test_rgb_model_denoises_color_images_in_color(tmp_path, capsys):
    """A model trained on an RGB image-folder dataset: color in, color out, channel order kept;
    grayscale files are converted, a grayscale table is refused with the reason."""
    keras.utils.set_random_seed(0)
    model = build_model("unet", (48, 48, 3), depth=2, base_filters=4, batch_norm=False)
    model_path = tmp_path / "rgb.keras"
    model.save(model_path)
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(color).save(tmp_path / "color.png")
    Image.fromarray(color[:37, :45]).save(tmp_path / "odd.png")
    Image.fromarray(color[..., 0]).save(tmp_path / "gray.png")
    np.savez(tmp_path / "gray.npz", images=color[None, ..., 0])
    inputs = [str(tmp_path / n) for n in ("color.png", "odd.png", "gray.png", "gray.npz")]
    status = main(["denoise", "--model", str(model_path), *inputs, "--out", str(tmp_path / "out")])
    assert status == 2
    assert "gray.npz:images: this model takes RGB images" in capsys.readouterr().err
    expected = to_uint8(model.predict(to_float(color)[None], verbose=0)[0])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "color.png")), expected)
    assert np.asarray(Image.open(tmp_path / "out" / "odd.png")).shape == (37, 45, 3)
    assert Image.open(tmp_path / "out" / "gray.png").mode == "RGB"


def test_fer_csv_input_gives_one_png_per_row(tmp_path, model_file):
    csv = write_fer_csv(tmp_path / "fer2013.csv", per_split=2)
    assert (
        main(["denoise", "--model", str(model_file), str(csv), "--out", str(tmp_path / "out")]) == 0
    )
    assert len(list((tmp_path / "out" / "fer2013" / "images").glob("*.png"))) == 6


def test_bad_inputs_are_reported_and_the_rest_still_processed(tmp_path, model_file, capsys):
    (tmp_path / "good.png").write_bytes(png_bytes(noisy_faces(1)[0]))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("hello")
    np.savez(tmp_path / "colour.npz", images=np.zeros((2, 48, 48, 3), np.uint8))
    status = main(
        [
            "denoise",
            "--model",
            str(model_file),
            *(
                str(tmp_path / n)
                for n in ("broken.png", "good.png", "notes.txt", "colour.npz", "missing.png")
            ),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 2
    assert (tmp_path / "out" / "good.png").is_file()
    err = capsys.readouterr().err
    assert "1 image(s) written, 4 failure(s)" in err
    for expected in (
        "broken.png: not a readable image",
        "notes.txt: unsupported format .txt",
        "colour.npz:images: this model takes grayscale images",
        "missing.png: no such file",
    ):
        assert expected in err


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path, capsys):
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a model")
    (tmp_path / "a.png").write_bytes(png_bytes(noisy_faces(1)[0]))
    assert (
        main(
            [
                "denoise",
                "--model",
                str(fake),
                str(tmp_path / "a.png"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "fake.keras is not a Keras model that can be loaded" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_info_shows_the_card_and_the_repository_metrics(tmp_path, model_file, capsys):
    metrics = model_file.parents[2] / "metrics"
    metrics.mkdir(exist_ok=True)
    (metrics / "evaluate.json").write_text(
        '{"gaussian": {"unet": {"psnr": 31.5, "ssim": 0.97, "mse": 0.001}}}'
    )
    assert main(["info", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert 'task: "gaussian"' in out and '"sigma": 0.1' in out and '"psnr": 31.5' in out
    assert out.count("parameters") == 1
    shutil.rmtree(metrics)


def test_noise_command_is_deterministic_and_keeps_sizes(tmp_path):
    image = synthetic_faces(1)[0]
    Image.fromarray(np.tile(image, (1, 2))).save(tmp_path / "wide.png")
    for out in ("first", "second"):
        assert (
            main(
                [
                    "noise",
                    "--task",
                    "salt_pepper",
                    "--params",
                    str(ROOT / "params.yaml"),
                    str(tmp_path / "wide.png"),
                    "--out",
                    str(tmp_path / out),
                ]
            )
            == 0
        )
    first = np.asarray(Image.open(tmp_path / "first" / "wide.png"))
    assert first.shape == (48, 96)
    assert np.array_equal(first, np.asarray(Image.open(tmp_path / "second" / "wide.png")))
    assert 0.07 < np.mean((first == 0) | (first == 255)) < 0.2


def test_console_script_is_installed():
    assert shutil.which("fer-denoise") is not None


def test_batch_size_below_one_is_a_usage_error(tmp_path, model_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "denoise",
                "--model",
                str(model_file),
                "--batch-size",
                "0",
                str(tmp_path),
                "--out",
                str(tmp_path / "out"),
            ]
        )
    assert exit_info.value.code == 2
    assert "--batch-size: must be at least 1" in capsys.readouterr().err


@pytest.fixture
def classifier_file(tmp_path) -> Path:
    from fer_denoise.recognition import build_emotion_classifier

    model = build_emotion_classifier(
        (48, 48, 1), 7, width=2, blocks=1, batch_norm=False, dropout=0.0, flip=False, shift=0.0
    )
    path = tmp_path / "repo" / "models" / "classifier.keras"
    path.parent.mkdir(parents=True)
    model.save(path)
    write_card(path, {"model": "emotion_classifier", "classes": ["angry"]})
    (tmp_path / "repo" / "metrics").mkdir()
    (tmp_path / "repo" / "metrics" / "recognition.json").write_text(
        '{"clean": {"accuracy": 0.57, "macro_f1": 0.5}}'
    )
    return path


def test_info_describes_the_emotion_classifier_and_denoise_refuses_it(
    tmp_path, classifier_file, capsys
):
    assert main(["info", str(classifier_file)]) == 0
    out = capsys.readouterr().out
    assert '"accuracy": 0.57' in out and "size multiple" not in out

    Image.fromarray(synthetic_faces(1)[0]).save(tmp_path / "face.png")
    arguments = ["denoise", "--model", str(classifier_file), str(tmp_path / "face.png")]
    assert main([*arguments, "--out", str(tmp_path / "out")]) == 2
    assert "is not a denoiser" in capsys.readouterr().err


def test_batches_wait_for_the_writer_so_memory_stays_bounded(tmp_path, monkeypatch):
    """When batch k is transformed, every image of batch k - 2 is already written, even when
    writing is far slower than transforming."""
    import time

    import fer_denoise.cli

    write_png = fer_denoise.cli.write_png
    monkeypatch.setattr(
        fer_denoise.cli, "write_png", lambda *args: (time.sleep(0.01), write_png(*args))
    )
    progress = Progress("written", 40)
    items = (
        Item(
            f"face{index}", Path(f"face{index}.png"), image=np.full((8, 8), index / 40, np.float32)
        )
        for index in range(40)
    )
    written_before = []

    def transform(images, batch):
        written_before.append(progress.done)
        return images

    assert run_in_batches(items, tmp_path, transform, 4, progress) == 40
    assert len(written_before) == 10
    assert all(written_before[k] >= 4 * (k - 1) for k in range(10))
    assert len(list(tmp_path.glob("*.png"))) == 40


def test_large_images_go_through_in_tiles_with_the_whole_image_s_result(model_file, monkeypatch):
    import fer_denoise.cli

    image = to_float(np.tile(noisy_faces(1)[0], (4, 3))[:181, :139])  # 181 x 139, odd sides
    denoiser = Denoiser(model_file, 8)
    whole = denoiser(image[None])[0]
    monkeypatch.setattr(fer_denoise.cli, "TILE", 96)  # tiles of 96, cores of 48: 4 x 3 tiles
    calls = []
    monkeypatch.setattr(
        denoiser.model,
        "predict_on_batch",
        lambda x, f=denoiser.model.predict_on_batch: (calls.append(x.shape), f(x))[1],
    )
    tiled = denoiser(image[None])[0]
    assert len(calls) == 12 and max(h * w for _, h, w, _ in calls) <= 96 * 96
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_progress_in_a_log_is_a_line_at_every_tenth(capsys):
    progress = Progress("denoised", 25)
    for _ in range(25):
        progress.step()
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        f"denoised {done}/25" for done in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25)
    ]


def test_version_and_help_with_examples(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"fer-denoise {version('fer-denoise')}"
    for command in ("denoise", "noise", "info"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert f"fer-denoise {command} " in capsys.readouterr().out.split("example")[1]


def test_the_planned_run_holds_no_float_pixels(tmp_path):
    """Only the copies that `loaded` yields carry float pixels: the plan of a large run stays
    small, and a table's rows are views of its uint8 array."""
    from fer_denoise.cli import Failures, loaded, planned

    for index in range(3):
        Image.fromarray(synthetic_faces(1, seed=index)[0]).save(tmp_path / f"{index}.png")
    np.savez(tmp_path / "t.npz", images=synthetic_faces(4))
    inputs = [tmp_path / f"{index}.png" for index in range(3)] + [tmp_path / "t.npz"]
    items = planned(inputs, tmp_path / "out", 1, Failures())
    images = [item.image for item in loaded(items, 1, Failures())]
    assert len(images) == 7 and all(image.dtype == np.float32 for image in images)
    assert all(item.image is None for item in items)
    assert sum(item.pixels is not None and item.pixels.base is not None for item in items) == 4


def test_info_on_a_pipeline_model_reads_its_card_without_tensorflow(tmp_path):
    import subprocess
    import sys

    model = build_model("unet", (48, 48, 1), depth=2, base_filters=4, batch_norm=False)
    path = tmp_path / "unet.keras"
    model.save(path)
    card = {"model": "unet", "task": "gaussian", "noise": SPEC, "parameters": model.count_params()}
    write_card(path, card)
    script = (
        "import sys; from fer_denoise.cli import main; main(['info', sys.argv[1]]); "
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert f"parameters: {model.count_params():,}" in result.stdout
    assert "size multiple: 4 (images are padded to it)" in result.stdout
    assert "tensorflow loaded: False" in result.stdout


def test_the_size_multiple_comes_from_the_card_for_models_that_downsample_by_striding(tmp_path):
    """NAFNet halves its image with strided convolutions, not pooling layers: its card's size
    multiple (from the model registry) pads an odd-sized image correctly."""
    from fer_denoise.models import architecture

    spec = architecture("nafnet")
    settings = spec.settings(width=4, depth=2, blocks=1, middle_blocks=1)
    path = tmp_path / "nafnet.keras"
    spec.build((48, 48, 1), settings).save(path)
    write_card(
        path,
        {"model": "nafnet", "task": "t", "noise": SPEC, "size_multiple": 4},
    )
    denoiser = Denoiser(path, 8)
    assert denoiser.multiple == spec.size_multiple(settings) == 4
    faces = np.random.default_rng(0).random((2, 50, 46)).astype(np.float32)
    assert denoiser(faces).shape == (2, 50, 46)


def test_an_impulse_model_denoises_any_size_and_keeps_the_pixels_that_are_not_impulses(tmp_path):
    """The salt-and-pepper models nest their body inside the impulse wrapper: the body's own
    input opens to any size too."""
    from fer_denoise.models.impulse import with_impulse_input, with_switching_output

    body = dict(depth=2, base_filters=4, residual=False)
    model = with_switching_output(
        with_impulse_input(lambda shape: build_model("unet", shape, **body), (48, 48, 1))
    )
    path = tmp_path / "salt_pepper.keras"
    model.save(path)
    write_card(path, {"model": "unet", "task": "salt_pepper", "noise": SPEC, "size_multiple": 4})
    faces = np.random.default_rng(0).uniform(0.1, 0.9, (2, 50, 46)).astype(np.float32)
    noisy = add_noise(faces, {"type": "salt_pepper", "amount": 0.1}, task_rng(0, "t", "cli"))
    restored = Denoiser(path, 8)(noisy)
    assert restored.shape == (2, 50, 46)
    kept = (noisy > 0) & (noisy < 1)
    np.testing.assert_array_equal(restored[kept], noisy[kept])


def test_flip_ensemble_averages_the_restorations_of_an_image_and_of_its_mirror(tmp_path):
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(0, 0.1, (3, 3, 1, 1)), np.zeros(1)])  # outputs in [0, 0.9]
    path = tmp_path / "conv.keras"
    model.save(path)
    write_card(path, {"model": "conv", "task": "t", "noise": SPEC, "size_multiple": 1})
    faces = rng.random((2, 30, 20)).astype(np.float32)
    plain = Denoiser(path, 8)
    of_mirror = plain(faces[:, :, ::-1])[:, :, ::-1]
    assert not np.allclose(plain(faces), of_mirror)
    ensemble = Denoiser(path, 8, flip_ensemble=True)(faces)
    np.testing.assert_allclose(ensemble, (plain(faces) + of_mirror) / 2, atol=1e-6)


def test_a_model_whose_card_was_damaged_is_refused_with_the_fix(tmp_path):
    import zipfile

    from fer_denoise.errors import UserError
    from fer_denoise.model_card import CARD_MEMBER

    path = tmp_path / "unet.keras"
    build_model("unet", (16, 16, 1), depth=2, base_filters=4).save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(CARD_MEMBER, "[1, 2]")
    with pytest.raises(UserError, match="unreadable model card .* retrain it"):
        Denoiser(path, 8)

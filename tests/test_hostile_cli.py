"""fer-denoise against hostile and careless input, through the installed console script: user
errors exit 2 with a message that names the input and the fix, nothing is written outside
--out, no input is modified, and the other inputs of the run are still processed."""

import io
import os
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import png_bytes, synthetic_faces
from PIL import Image

from fer_denoise.model_card import write_card
from fer_denoise.models import build_model

pytestmark = pytest.mark.xdist_group("hostile_cli")
SCRIPT = Path(sys.executable).with_name("fer-denoise")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """An untrained U-Net: these tests are about files, not about denoising well."""
    model = build_model("unet", (48, 48, 1), depth=2, base_filters=4, batch_norm=False)
    path = tmp_path_factory.mktemp("model") / "unet.keras"
    model.save(path)
    write_card(path, {"model": "unet", "task": "gaussian", "noise": {"type": "gaussian"}})
    return path


def fer_denoise(*arguments, cwd: Path, limit_file_bytes: int | None = None):
    """Run the console script; `limit_file_bytes` makes larger writes fail as on a full disk."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    return subprocess.run(
        [str(SCRIPT), *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=limit if limit_file_bytes else None,
        check=False,
        timeout=300,
    )


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root: its bytes and modification time."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def face_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(synthetic_faces(1, seed)[0]))
    return path


def npz_with_members(path: Path, members: dict[str, np.ndarray]) -> Path:
    """An .npz written member by member, so that names np.savez would never write get in."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in members.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(name, buffer.getvalue())
    return path


def bilevel_png(path: Path, side: int) -> Path:
    """A valid 1-bit black PNG of side x side pixels: a few kB on disk, side**2 bytes decoded.
    Written chunk by chunk, as PIL would need the whole image in memory to save it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = bytes(1 + (side + 7) // 8)  # filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )
    return path


def test_bad_inputs_fail_alone_and_nothing_escapes_out(tmp_path, model_file):
    """One run over a good image and every per-file hostile case."""
    inputs = tmp_path / "inputs"
    face_png(inputs / "good.png")
    escaped = tmp_path / "escaped"
    npz_with_members(
        inputs / "escape.npz",
        {
            f"{escaped}/abs.npy": synthetic_faces(1),
            "../../climb.npy": synthetic_faces(1),
            "images.npy": synthetic_faces(2),
        },
    )
    np.savez(inputs / "empty.npz", images=np.zeros((2, 0, 0), np.uint8))
    rows = [f"0,{' '.join(['0128'] + ['1'] * 2303)},Training"]
    (inputs / "zeros.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    bilevel_png(inputs / "bomb.png", 20_000)
    bilevel_png(inputs / "huge.png", 5_000)
    wide = (synthetic_faces(1)[0].astype(np.uint32) * 257).astype(np.uint16)
    Image.fromarray(wide).save(inputs / "sixteen.png")
    Image.fromarray(synthetic_faces(1)[0]).save(inputs / "eight.png")
    before = snapshot(tmp_path)

    result = fer_denoise(
        "denoise", "--model", model_file, *sorted(inputs.iterdir()), "--out", "out", cwd=tmp_path
    )

    assert result.returncode == 2, result.stderr
    err = result.stderr
    assert "Traceback" not in err
    assert "5 image(s) written, 6 failure(s)" in err
    for fragment in (
        "escape.npz:'" + str(escaped),  # the array's name, quoted
        "escape.npz:'../../climb'",
        "not a plain name",
        "rename the array",
        "empty.npz:images: this model takes grayscale images",
        "zeros.csv: not a FER-format table",
        "pixel value '0128' is above 255 or longer than 3 digits",
        "bomb.png: too large to decode safely",
        "huge.png: 5000x5000 (25,000,000 pixels), above the limit of 16,777,216 pixels",
    ):
        assert fragment in err, fragment
    out = tmp_path / "out"  # the inputs' common folder is inputs/: outputs go straight in out/
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        "eight.png",
        "escape/images/00000.png",
        "escape/images/00001.png",
        "good.png",
        "sixteen.png",
    ]
    # Nothing outside out/ was added or changed: not the escaping arrays' paths either.
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out/")} == before
    assert not escaped.exists()
    # 16-bit pixels are scaled to 8 bits, not clipped to white: the same face, the same output.
    assert np.array_equal(
        np.asarray(Image.open(out / "sixteen.png")), np.asarray(Image.open(out / "eight.png"))
    )


@pytest.mark.parametrize(
    ("command", "out"),
    [
        (["denoise", "--model", "{model}", "d/a.png"], "d"),  # the output would be d/a.png
        (["denoise", "--model", "{model}", "d"], "d"),  # --out is the input folder
        (["denoise", "--model", "{model}", "d"], "d/denoised"),  # --out inside it
        (["noise", "--task", "salt_pepper", "--params", "{params}", "d/a.png"], "d"),
        (["noise", "--task", "salt_pepper", "--params", "{params}", "d"], "."),
    ],
    ids=["file into its folder", "folder into itself", "into a subfolder", "noise", "noise ."],
)
def test_no_input_is_ever_replaced(tmp_path, model_file, command, out):
    face_png(tmp_path / "d" / "a.png")
    face_png(tmp_path / "d" / "sub" / "b.png", seed=1)
    before = snapshot(tmp_path)
    params = Path(__file__).parents[1] / "params.yaml"
    arguments = [a.format(model=model_file, params=params) for a in command]
    cwd = tmp_path / "d" if out == "." else tmp_path
    if out == ".":
        arguments[-1] = "."

    result = fer_denoise(*arguments, "--out", out, cwd=cwd)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "input" in result.stderr and "--out" in result.stderr
    assert snapshot(tmp_path) == before  # nothing replaced, nothing added
    assert not (tmp_path / "d" / "denoised").exists()


def test_same_names_in_other_folders_are_kept_apart_and_a_clash_writes_nothing(
    tmp_path, model_file
):
    for folder in ("a", "b", "x/faces", "y/faces"):
        face_png(tmp_path / folder / "face.png")
    for version in ("v1", "v2"):
        np.savez(tmp_path / f"faces.{version}.npz", images=synthetic_faces(1))
    inputs = ["a/face.png", "b/face.png", "x/faces", "y/faces", "faces.v1.npz", "faces.v2.npz"]

    result = fer_denoise("denoise", "--model", model_file, *inputs, "--out", "out", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a/face.png",
        "b/face.png",
        "faces.v1/images/00000.png",
        "faces.v2/images/00000.png",
        "x/faces/face.png",
        "y/faces/face.png",
    ]

    face_png(tmp_path / "a" / "face.jpg")
    result = fer_denoise(
        "denoise", "--model", model_file, "a/face.png", "a/face.jpg", "--out", "out2", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "a/face.png and a/face.jpg -> face.png" in result.stderr
    assert "nothing was written" in result.stderr
    assert not (tmp_path / "out2").exists()


def test_output_folder_problems_are_one_clear_error(tmp_path, model_file):
    face_png(tmp_path / "a.png")
    (tmp_path / "taken").write_text("a file")
    for out, message in [
        ("taken", "--out taken is a file; give a folder"),
        ("taken/sub", "cannot create the output folder taken/sub"),
        ("/sys/fer-denoise-out", "cannot create the output folder /sys/fer-denoise-out"),
    ]:
        result = fer_denoise("denoise", "--model", model_file, "a.png", "--out", out, cwd=tmp_path)
        assert result.returncode == 2, (out, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_full_disk_stops_the_run_with_the_reason_and_no_partial_file(tmp_path, model_file):
    rng = np.random.default_rng(0)
    for index in range(3):  # noise: PNGs of about 640 kB, far larger than the model's files
        (tmp_path / "faces").mkdir(exist_ok=True)
        noise = rng.integers(0, 256, (800, 800), dtype=np.uint8)
        Image.fromarray(noise).save(tmp_path / "faces" / f"{index}.png")
    # Writes beyond 300 kB fail with EFBIG, as they would with ENOSPC on a full disk.
    result = fer_denoise(
        "denoise",
        "--model",
        model_file,
        "faces",
        "--out",
        "out",
        cwd=tmp_path,
        limit_file_bytes=300_000,
    )
    assert result.returncode == 2
    assert "cannot write out/faces/0.png (File too large)" in result.stderr
    assert "choose a writable --out" in result.stderr and "Traceback" not in result.stderr
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


@pytest.mark.parametrize("card", ["[]", "{}", '{"model": "unet"}'])
def test_info_on_a_changed_model_card_says_so(tmp_path, model_file, card):
    changed = tmp_path / "changed.keras"
    with zipfile.ZipFile(model_file) as source, zipfile.ZipFile(changed, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, card if name == "fer_denoise.json" else data)
    result = fer_denoise("info", changed, cwd=tmp_path)
    assert result.returncode == 2
    assert "changed.keras: unreadable model card" in result.stderr
    assert "retrain it" in result.stderr and "Traceback" not in result.stderr

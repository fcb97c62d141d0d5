"""`train.precision: mixed_bfloat16`: bfloat16 arithmetic inside the network, float32 at the
image's ends and in the saved model, and a training log that says what this machine runs."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import committed_params, noisy_workspace, write_fer_csv

from fer_denoise.denoiser_training import build_denoiser
from fer_denoise.models.unet import UNetSettings
from fer_denoise.params import Train
from fer_denoise.precision import (
    all_float32,
    cpu_flags,
    describe,
    image_ends_float32,
    precision_scope,
)
from fer_denoise.transfer import leaf_layers

ROOT = Path(__file__).parents[1]
SPECS = {
    "gaussian": {"type": "gaussian", "sigma": 0.1},
    "impulse": {"type": "salt_pepper", "amount": 0.1},
}


def committed_train(**changes) -> Train:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    return Train.parse("train", {**raw, **changes})


def test_the_log_line_says_whether_this_cpu_has_bfloat16():
    assert describe("float32", set()) == "float32"
    native = describe("mixed_bfloat16", {"fpu", "avx512_bf16", "amx_bf16"})
    assert "native" in native and "amx_bf16, avx512_bf16" in native
    assert "emulated" in describe("mixed_bfloat16", {"fpu", "avx2"})
    assert "unknown" in describe("mixed_bfloat16", None)
    assert "GPU" in describe("mixed_bfloat16", set(), on_gpu=True)


def test_cpu_flags_come_from_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512_bf16 sse\nbugs\t: spectre\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx512_bf16", "sse"}
    assert cpu_flags(tmp_path / "missing") is None


def test_the_scope_restores_the_policy_after_an_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError), precision_scope("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("a failed build")
    assert keras.config.dtype_policy().name == before


@pytest.mark.parametrize("noise", ["gaussian", "impulse"])
def test_the_network_runs_bfloat16_between_float32_image_ends(noise, tmp_path):
    settings = UNetSettings(depth=2, base_filters=4)
    train = committed_train(precision="mixed_bfloat16")
    keras.utils.set_random_seed(1)
    with precision_scope("mixed_bfloat16"):
        model = build_denoiser("unet", (16, 16, 1), settings, SPECS[noise], train)
        ends = image_ends_float32(model)
    expected = {"head", "denoised"} if noise == "gaussian" else {"impulse_head", "switch"}
    assert expected <= set(ends)
    named = [layer for layer in leaf_layers(model) if layer.name in expected]
    assert {layer.dtype_policy.name for layer in named} == {"float32"}
    convolutions = [layer for layer in leaf_layers(model) if "_conv" in layer.name]
    assert {layer.dtype_policy.name for layer in convolutions} == {"mixed_bfloat16"}

    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    clean = rng.random((8, 16, 16, 1), dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    model.train_on_batch(noisy, clean)
    mixed = model.predict(noisy, verbose=0)
    assert mixed.dtype == np.float32

    all_float32(model)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert {layer.dtype_policy.name for layer in leaf_layers(loaded)} == {"float32"}
    restored = loaded.predict(noisy, verbose=0)
    # The same weights in float32: bfloat16 rounding (8 bits) is all that separates them.
    assert np.abs(restored - mixed).max() < 0.05
    assert not np.array_equal(restored, mixed)


def test_a_mixed_precision_training_stage_says_so_and_saves_a_float32_model(tmp_path):
    params = committed_params(write_fer_csv(tmp_path / "fer2013.csv", per_split=32, seed=3))
    params["models"]["unet"].update(depth=2, base_filters=4)
    params["train"].update(epochs=1, batch_size=8, precision="mixed_bfloat16")
    noisy_workspace(tmp_path, params, "gaussian_low")
    done = subprocess.run(
        [sys.executable, "-m", "fer_denoise.stages.train", "unet", "gaussian_low"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "mixed_bfloat16 (" in done.stdout  # native, emulated or unknown: it says which
    saved = tmp_path / "models/unet/gaussian_low.keras"
    model = keras.saving.load_model(saved, compile=False)
    assert {layer.dtype_policy.name for layer in leaf_layers(model)} == {"float32"}
    with zipfile.ZipFile(saved) as archive:
        card = json.loads(archive.read("fer_denoise.json"))
    assert card["train"]["precision"] == "mixed_bfloat16"

"""`train.precision`: float32 (the default), or mixed_bfloat16 arithmetic with float32 weights.

On a CPU with bfloat16 instructions (AVX512_BF16, AMX) mixed_bfloat16 trains the U-Net about
1.7 times as fast; elsewhere the CPU emulates them and it runs slower than float32, so a stage
prints which one it got. Its results differ from float32 in the last digits and from CPU to
CPU, which is why float32 stays the default (docs/results.md, Run time).

The layers whose outputs have the image's channels (the impulse fill, the 1x1 head, the
residual subtraction, the switch; for grayscale also the attention gates' 1-channel maps)
compute in float32 whatever the policy: bfloat16 keeps 8 bits of a pixel, and these layers
carry the image itself. Models are saved float32, so reading them needs no bfloat16.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import keras

from fer_denoise.transfer import leaf_layers

PRECISIONS = ("float32", "mixed_bfloat16")
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of native bfloat16 units
CPUINFO = Path("/proc/cpuinfo")


@contextlib.contextmanager
def precision_scope(name: str) -> Iterator[None]:
    """Build and train models inside: Keras' dtype policy is `name` here, as before after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def image_ends_float32(model: keras.Model) -> list[str]:
    """Make the layers whose outputs have the image's channels compute in float32; returns
    their names. Call it after building `model` under a mixed policy, before compiling it."""
    channels = model.input_shape[-1]
    ends = []
    for layer in leaf_layers(model):
        outputs = layer.output if isinstance(layer.output, list | tuple) else [layer.output]
        if all(output.shape[-1] == channels for output in outputs):
            layer.dtype_policy = "float32"
            ends.append(layer.name)
    return ends


def all_float32(model: keras.Model) -> None:
    """Every layer computes in float32 (its weights already are): what gets saved."""
    for layer in leaf_layers(model):
        layer.dtype_policy = "float32"


def describe(name: str, cpu_flags: set[str] | None, on_gpu: bool = False) -> str:
    """What `name` means on this machine, for the training log."""
    if name == "float32":
        return "float32"
    if on_gpu:
        return f"{name} (on a GPU)"
    if cpu_flags is None:
        return f"{name} (this machine's bfloat16 support is unknown)"
    native = sorted(flag for flag in BFLOAT16_FLAGS if flag in cpu_flags)
    if native:
        return f"{name} (native bfloat16 on this CPU: {', '.join(native)})"
    return f"{name} (emulated: this CPU has no bfloat16 instructions, so slower than float32)"


def on_gpu() -> bool:
    return any(device.lower().startswith("gpu") for device in keras.distribution.list_devices())


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo; None where there is no such file."""
    if not cpuinfo.is_file():
        return None
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return None

"""The CPU and GPU installs differ only in the TensorFlow package, at the same version."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def lines(name: str) -> list[str]:
    text = (ROOT / name).read_text()
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_cpu_and_gpu_requirements_share_the_base_and_pin_one_tensorflow_version():
    cpu, gpu = lines("requirements.txt"), lines("requirements-gpu.txt")
    assert cpu[0] == gpu[0] == "-r requirements-base.txt"
    (cpu_tf,), (gpu_tf,) = cpu[1:], gpu[1:]
    assert re.fullmatch(r"tensorflow-cpu==[\d.]+", cpu_tf)
    assert re.fullmatch(r"tensorflow\[and-cuda\]==[\d.]+", gpu_tf)
    assert cpu_tf.split("==")[1] == gpu_tf.split("==")[1]
    assert not any(line.startswith("tensorflow") for line in lines("requirements-base.txt"))

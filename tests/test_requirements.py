"""The CPU and GPU installs differ only in the TensorFlow package, at the same version, and the
package declares ranges that admit every pin."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]


def lines(name: str) -> list[str]:
    text = (ROOT / name).read_text()
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_cpu_and_gpu_requirements_share_the_base_and_pin_one_tensorflow_version():
    cpu, gpu = lines("requirements.txt"), lines("requirements-gpu.txt")
    assert cpu[0] == gpu[0] == "-r requirements-base.txt"
    assert cpu[-1] == "-e ." and "-e ." not in gpu  # GPU: the package with --no-deps
    (cpu_tf,), (gpu_tf,) = cpu[1:-1], gpu[1:]
    assert re.fullmatch(r"tensorflow-cpu==[\d.]+", cpu_tf)
    assert re.fullmatch(r"tensorflow\[and-cuda\]==[\d.]+", gpu_tf)
    assert cpu_tf.split("==")[1] == gpu_tf.split("==")[1]
    assert not any(line.startswith("tensorflow") for line in lines("requirements-base.txt"))


def test_the_package_declares_a_compatible_range_for_every_pinned_runtime_dependency():
    declared = {
        (requirement := Requirement(text)).name.lower(): requirement
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    pins = [line for line in lines("requirements-base.txt") + lines("requirements.txt")]
    for pin in (Requirement(line) for line in pins if "==" in line):
        name, version = pin.name.lower(), next(iter(pin.specifier)).version
        assert name in declared, f"pyproject.toml does not declare {name}"
        assert declared[name].specifier.contains(version), f"{declared[name]} excludes {version}"

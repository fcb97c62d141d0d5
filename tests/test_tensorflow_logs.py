"""TensorFlow stays quiet unless the user asks: the notices its native libraries print while
`import tensorflow` runs are held back (the rest of its C++ logs obey TF_CPP_MIN_LOG_LEVEL)."""

import os
import subprocess
import sys

import pytest

from fer_denoise import IMPORT_NOTICES, stderr_without


def stderr_of_import(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    code = "import fer_denoise, keras; keras.ops.ones(2)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return result.stderr


@pytest.mark.parametrize("asked", [False, True], ids=["default", "TF_CPP_MIN_LOG_LEVEL=0"])
def test_importing_keras_through_the_package_prints_tensorflows_notices_only_when_asked(asked):
    stderr = stderr_of_import(**({"TF_CPP_MIN_LOG_LEVEL": "0"} if asked else {}))
    shown = [notice for notice in IMPORT_NOTICES if notice in stderr]
    assert shown == (list(IMPORT_NOTICES) if asked else []), stderr


def test_held_back_stderr_keeps_every_other_line_in_order(capfd):
    with stderr_without(("notice A",)):
        os.write(2, b"first line\nsome notice A here\nsecond line\n")
        os.write(2, b"third line, no newline")
    assert capfd.readouterr().err == "first line\nsecond line\nthird line, no newline"

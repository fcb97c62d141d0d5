"""Face denoising on FER2013: a DVC pipeline of small, readable stages.

Importing the package is cheap: modules that need Keras import it themselves. What runs here
changes what TensorFlow prints, never what it computes, so no stage lists this file as a dep.
"""

import importlib.abc
import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager

# TensorFlow's C++ logs (CPU feature notices, harmless NodeDef attribute errors) read like
# failures in every stage's output; set TF_CPP_MIN_LOG_LEVEL=0 to see them. This runs before any
# module of the package imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Two notices that TensorFlow's native libraries print, each twice, while `import tensorflow`
# runs, before its C++ logging starts and so before TF_CPP_MIN_LOG_LEVEL applies.
IMPORT_NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "port.cc:153] oneDNN custom operations are on.",
)


@contextmanager
def stderr_without(notices: tuple[str, ...]):
    """Hold back what native code and Python write to the process's stderr meanwhile, then
    write it out less the lines that contain one of `notices`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines(keepends=True):
                if not any(notice in line for notice in notices):
                    sys.stderr.write(line)
            sys.stderr.flush()


class QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs the first `import tensorflow` (which `import keras` makes) without IMPORT_NOTICES."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            with stderr_without(IMPORT_NOTICES):
                run_module(module)

        spec.loader.exec_module = exec_module
        return spec


if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0" and "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, QuietTensorFlowImport())

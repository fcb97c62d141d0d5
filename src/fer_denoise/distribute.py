"""Where training runs: one device (default), or every local GPU through MirroredStrategy.

`train.distribute: mirrored` replicates the model on each GPU that TensorFlow sees and splits
every batch between them (on a machine without GPUs it is a single CPU replica). It needs the
TensorFlow backend; the models themselves stay backend-neutral.
"""

import contextlib
from collections.abc import Iterator

import keras

from fer_denoise.errors import UserError


@contextlib.contextmanager
def distribution_scope(name: str) -> Iterator[int]:
    """Build and compile models inside this scope; yields the number of replicas."""
    if name == "none":
        yield 1
        return
    if keras.backend.backend() != "tensorflow":
        raise UserError(
            f"train.distribute = {name} needs the TensorFlow backend, not "
            f"{keras.backend.backend()}; unset KERAS_BACKEND or set train.distribute: none"
        )
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        yield strategy.num_replicas_in_sync

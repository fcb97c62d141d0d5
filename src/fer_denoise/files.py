"""Atomic file writing and safe loading: an interrupted stage never leaves a half-written file."""

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fer_denoise.errors import UserError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); rename it into place on success.

    The rename is atomic on one file system, so readers see the old file or the whole new one.
    Works for directories too: the temporary directory replaces `path` as a whole. The temporary
    name is fixed (.tmp-<name>, ignored by git and DVC), so the next run removes what a killed
    one left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    _remove(tmp)
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with as few system calls as possible, for the many
    small files of the CLI: atomic_path's checks cost more than writing a 2 kB PNG. The parent
    folder must exist; a stale temporary file from a killed run is simply overwritten."""
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        with open(tmp, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed .npz atomically (noisy images barely compress)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_npz(
    path: str | Path, keys: tuple[str, ...], made_by: str, optional: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Load the named arrays from an .npz without pickle; say which stage makes a missing file.
    The `optional` arrays are loaded when the file has them."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: run `dvc repro {made_by}` first")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise UserError(
                f"{path} lacks arrays {missing}: it was made by another version; "
                f"rerun `dvc repro -f {made_by}`"
            )
        return {k: data[k] for k in (*keys, *optional) if k in data.files}


def write_json(path: str | Path, obj: object) -> None:
    """Write JSON atomically, pretty-printed so git diffs stay readable."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")

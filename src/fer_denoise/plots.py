"""Figures for people: noisy / denoised / clean image grids, and curves."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fer_denoise.files import atomic_path  # noqa: E402
from fer_denoise.metrics import psnr_per_image  # noqa: E402


def save_grid(path: Path, clean: np.ndarray, columns: dict[str, np.ndarray], title: str) -> None:
    """One row per image: each named column (noisy input, baselines, models), then the clean.

    Each denoised tile is labelled with its PSNR against the clean image.
    """
    names = [*columns, "clean"]
    rows = len(clean)
    height = 1.7 * rows + 0.5
    figure, axes = plt.subplots(rows, len(names), figsize=(1.6 * len(names), height), squeeze=False)
    for column, name in enumerate(names):
        images = clean if name == "clean" else columns[name]
        scores = None if name == "clean" else psnr_per_image(clean, images)
        axes[0, column].set_title(name, fontsize=8)
        for row in range(rows):
            axis = axes[row, column]
            axis.imshow(images[row], cmap="gray", vmin=0.0, vmax=1.0)
            axis.set_xticks([])
            axis.set_yticks([])
            if scores is not None:
                axis.set_xlabel(f"{scores[row]:.1f} dB", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))  # the title keeps its own band
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def save_curves(
    path: Path, panels: dict[str, dict[str, list]], marks: dict[str, list[float]], labels
):
    """One panel per key of `panels`, one line per series of (x, y) points; dashed vertical
    lines at `marks[panel]`. `labels` are the x and y axis titles."""
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.4), squeeze=False)
    for axis, (title, series) in zip(axes[0], panels.items(), strict=True):
        colours = plt.cm.tab10.colors + plt.cm.Dark2.colors
        for index, (name, points) in enumerate(series.items()):
            axis.plot(*zip(*points, strict=True), "o-", label=name, color=colours[index])
        for mark in marks[title]:
            axis.axvline(mark, color="gray", linestyle="--", linewidth=1)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel(labels[0], fontsize=8)
        axis.set_ylabel(labels[1], fontsize=8)
        axis.legend(fontsize=7)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)

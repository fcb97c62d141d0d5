"""The emotion classifier and the recognition scores, on their own."""

import numpy as np
import pytest

from fer_denoise.checkpoints import TrainingRun
from fer_denoise.errors import UserError
from fer_denoise.params import Classifier
from fer_denoise.recognition import accuracy, build_emotion_classifier, macro_f1
from fer_denoise.stages.emotion_classifier import fit_classifier

SETTINGS = {
    "seed": 3,
    "epochs": 6,
    "batch_size": 16,
    "learning_rate": 0.01,
    "early_stopping_patience": 4,
    "width": 4,
    "blocks": 2,
    "batch_norm": False,
    "dropout": 0.0,
    "flip": True,
    "shift": 0.05,
}


def test_accuracy_and_macro_f1_by_hand():
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 1])
    assert accuracy(labels, predicted) == pytest.approx(3 / 5)
    # F1 per class: 0 -> 2*1/(2+0+1); 1 -> 2*2/(4+2+0); 2 -> 0 (never predicted).
    assert macro_f1(labels, predicted) == pytest.approx((2 / 3 + 4 / 6 + 0) / 3)
    assert macro_f1(labels, labels) == 1.0 and accuracy(labels, labels) == 1.0


def test_macro_f1_weighs_a_rare_class_like_a_common_one():
    labels = np.array([0] * 9 + [1])
    all_common = np.zeros(10, int)
    assert accuracy(labels, all_common) == 0.9
    assert macro_f1(labels, all_common) == pytest.approx((2 * 9 / (18 + 1) + 0) / 2)


@pytest.mark.parametrize("shape", [(48, 48, 1), (64, 64, 3)])
def test_the_classifier_gives_one_logit_per_class_and_augments_only_in_training(shape):
    model = build_emotion_classifier(
        shape, 7, width=4, blocks=3, batch_norm=True, dropout=0.5, flip=True, shift=0.1
    )
    images = np.random.default_rng(0).random((5, *shape)).astype("float32")
    logits = np.asarray(model(images, training=False))
    assert logits.shape == (5, 7)
    np.testing.assert_array_equal(np.asarray(model(images, training=False)), logits)
    assert not np.allclose(np.asarray(model(images, training=True)), logits)


def striped_faces(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose class (0-2) is the direction of their stripes, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    grid = np.arange(48)
    patterns = [
        np.sin(grid[:, None] / 2) + 0 * grid,
        np.sin(grid[None, :] / 2) + 0 * grid[:, None],
        np.sin((grid[:, None] + grid[None, :]) / 2),
    ]
    images = np.stack([patterns[label] for label in labels]) + rng.normal(0, 0.3, (count, 48, 48))
    images = np.clip((images + 1.5) / 3 * 255, 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def fit_striped(settings, live_log, checkpoints):
    images, labels = striped_faces(240, seed=1)
    split = np.array(["train"] * 160 + ["val"] * 80)
    run = TrainingRun(checkpoints, {}, [])
    return fit_classifier(Classifier(**settings), images, labels, split, live_log, run)


class Recorded:
    """A stand-in for dvclive's Live: keeps what the training logs."""

    def __init__(self):
        self.metrics, self.steps = [], 0

    def log_metric(self, name, value):
        self.metrics.append((self.steps, name, value))

    def next_step(self):
        self.steps += 1


def test_the_classifier_learns_keeps_its_best_epoch_and_repeats_itself(tmp_path):
    first_log, second_log = Recorded(), Recorded()
    model, history = fit_striped(SETTINGS, first_log, tmp_path / "first")
    again, _ = fit_striped(SETTINGS, second_log, tmp_path / "second")

    assert max(history["val_accuracy"]) > 0.8  # chance is 1/3
    assert first_log.steps == len(history["val_accuracy"])
    assert first_log.metrics == second_log.metrics
    for weights, repeated in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(weights, repeated)


def test_the_classifier_needs_training_and_validation_images(tmp_path):
    images, labels = striped_faces(20, seed=2)
    run = TrainingRun(tmp_path / "checkpoint", {}, [])
    with pytest.raises(UserError, match="no PublicTest images"):
        fit_classifier(
            Classifier(**SETTINGS), images, labels, np.array(["train"] * 20), Recorded(), run
        )

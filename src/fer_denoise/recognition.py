"""Emotion recognition as a measure of denoising: a compact CNN classifier and its scores.

The classifier is not a denoiser, so it is not in the `models` registry; it only reads faces
and answers one of the seven FER2013 emotions.
"""

import keras
import numpy as np
from keras import layers


def build_emotion_classifier(
    input_shape: tuple[int, int, int],
    classes: int,
    width: int,
    blocks: int,
    batch_norm: bool,
    dropout: float,
    flip: bool,
    shift: float,
) -> keras.Model:
    """VGG-style blocks (two 3x3 convolutions, then 2x2 max pooling), doubling the width per
    block, then a dense layer; outputs logits. Flip and shift augment only while training."""
    inputs = keras.Input(input_shape)
    x = inputs
    if flip:
        x = layers.RandomFlip("horizontal", name="flip")(x)
    if shift:
        x = layers.RandomTranslation(shift, shift, fill_mode="nearest", name="shift")(x)
    for block in range(blocks):
        filters = width * 2**block
        for conv in range(2):
            x = layers.Conv2D(
                filters, 3, padding="same", use_bias=not batch_norm, name=f"conv{block}_{conv}"
            )(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"norm{block}_{conv}")(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(name=f"pool{block}")(x)
        x = layers.Dropout(dropout / 2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(width * 2**blocks, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="emotion_classifier")


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of labels predicted exactly."""
    return float(np.mean(labels == predicted))


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the per-class F1 over the classes that occur in `labels` or `predicted`
    (scikit-learn's `average="macro"`): each emotion counts alike, however rare."""
    scores = []
    for label in np.union1d(labels, predicted):
        true_positive = np.sum((labels == label) & (predicted == label))
        false_positive = np.sum((labels != label) & (predicted == label))
        false_negative = np.sum((labels == label) & (predicted != label))
        scores.append(2 * true_positive / (2 * true_positive + false_positive + false_negative))
    return float(np.mean(scores))


def recognition_scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": round(accuracy(labels, predicted), 5),
        "macro_f1": round(macro_f1(labels, predicted), 5),
    }

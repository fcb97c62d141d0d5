"""What a trained model is, stored inside its .keras file so that a copied model explains itself.

A .keras file is a zip; Keras reads only its own members, so one more JSON member travels with
the weights: the model name, task, noise, architecture, training params and validation scores.
"""

import json
import zipfile
from pathlib import Path

CARD_MEMBER = "fer_denoise.json"


def write_card(model_file: Path, card: dict) -> None:
    """Add the card to a saved .keras file (before it is renamed into place)."""
    with zipfile.ZipFile(model_file, "a") as archive:
        archive.writestr(CARD_MEMBER, json.dumps(card, indent=2))


def read_card(model_file: Path) -> dict | None:
    """The card of a .keras file, or None for a model saved by other code; a ValueError when
    the card is not what write_card wrote (a JSON object naming the model, and its task)."""
    with zipfile.ZipFile(model_file) as archive:
        if CARD_MEMBER not in archive.namelist():
            return None
        card = json.loads(archive.read(CARD_MEMBER))
    if not isinstance(card, dict) or not isinstance(card.get("model"), str):
        raise ValueError(f"{CARD_MEMBER} is not a JSON object with a `model` name: {card!r:.80}")
    if card["model"] != "emotion_classifier" and not isinstance(card.get("task"), str):
        raise ValueError(f"{CARD_MEMBER} names no `task` for the denoiser {card['model']!r}")
    return card

"""The model bundled in the package: small, documented, and keeping the output contract on real
RAVDESS and EmoDB clips through every way of calling it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emovox.inference import EmotionPredictor
from emovox.inference.predictor import bundled_path

LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgust"]


@pytest.fixture(scope="module")
def default() -> EmotionPredictor:
    return EmotionPredictor.load()


def test_bundled_model_is_small_and_has_a_card() -> None:
    path = bundled_path("default")
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 5 * 1024 * 1024
    card = (path / "MODEL_CARD.md").read_text()
    for needed in ("Training data", "ravdess", "emodb", "speaker-kfold", "Recall per class", "Known limits"):
        assert needed in card
    metadata = json.loads((path / "metadata.json").read_text())
    assert {"ravdess/23", "ravdess/24"}.isdisjoint(metadata["train_speakers"] + metadata["val_speakers"])


def test_default_model_keeps_the_contract_on_both_corpora(default, ravdess, emodb) -> None:
    clips = [u.path for u in ravdess[::480]] + [u.path for u in emodb[::200]]
    assert len(clips) == 6
    for path in clips:
        body = default.predict(path).to_dict()
        assert set(body) == {"class", "label", "confidence", "labels"}
        assert body["labels"] == LABELS
        assert body["label"] == LABELS[body["class"]]
        assert len(body["confidence"]) == 6 and abs(sum(body["confidence"]) - 1) < 1e-5
        assert body["class"] == int(np.argmax(body["confidence"]))
    onnx = EmotionPredictor.load("default", backend="onnx")
    np.testing.assert_allclose(
        onnx.predict(clips[0]).probabilities, default.predict(clips[0]).probabilities, atol=1e-4
    )


def test_default_model_hears_the_held_out_actors() -> None:
    """The examples are actors the model never heard; acted clips of the clearer emotions
    should mostly come out right (a sanity check, not an accuracy figure)."""
    predictor = EmotionPredictor.load()
    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.flac"))
    names = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fearful", "07": "disgust"}
    correct = sum(predictor.predict(p).label == names[p.name.split("-")[2]] for p in examples)
    assert correct >= 3

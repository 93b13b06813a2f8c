"""The model bundled in the package: small, documented, and keeping the output contract on real
RAVDESS and EmoDB clips through every way of calling it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT_EXAMPLES

from emovox.errors import EmovoxWarning
from emovox.inference import EmotionPredictor
from emovox.inference.predictor import bundled_path

LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
CORPORA = ("ravdess", "emodb", "ased", "nemo", "emovo", "kor")


@pytest.fixture(scope="module")
def default() -> EmotionPredictor:
    return EmotionPredictor.load()


def test_bundled_model_is_small_and_has_a_card() -> None:
    path = bundled_path("default")
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 5 * 1024 * 1024
    card = (path / "MODEL_CARD.md").read_text()
    for needed in ("Training data", *CORPORA, "non-commercial", "speaker-kfold", "Recall per class",
                   "never heard", "Confidence", "uncertain", "Known limits"):  # fmt: skip
        assert needed in card
    metadata = json.loads((path / "metadata.json").read_text())
    assert {"ravdess/23", "ravdess/24"}.isdisjoint(metadata["train_speakers"] + metadata["val_speakers"])


def test_default_model_keeps_the_contract_on_both_corpora(default, ravdess, emodb) -> None:
    clips = [u.path for u in ravdess[::480]] + [u.path for u in emodb[::200]]
    assert len(clips) == 6
    for path in clips:
        body = default.predict(path).to_dict()
        assert set(body) == {"class", "label", "confidence", "labels", "uncertain"}
        assert body["labels"] == LABELS
        assert body["label"] == LABELS[body["class"]]
        assert len(body["confidence"]) == len(LABELS) and abs(sum(body["confidence"]) - 1) < 1e-5
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


def test_a_timeline_segment_that_is_one_clip_gets_that_clips_prediction(default) -> None:
    """Clips (cut to their sound: no digital silence at their edges) one second apart in digital
    silence: each segment is exactly one clip, and gets exactly the clip's own prediction."""
    clips = []
    for path in sorted(ROOT_EXAMPLES.glob("*.flac")):
        samples = sf.read(path, dtype="float32")[0]
        sound = np.flatnonzero(samples)
        clips.append(samples[sound[0] : sound[-1] + 1])
    gap = np.zeros(16_000, dtype=np.float32)
    segments = default.timeline(np.concatenate([part for clip in clips for part in (clip, gap)]), 16_000)
    assert len(segments) == len(clips)
    start = 0
    for clip, segment in zip(clips, segments, strict=True):
        assert (round(16_000 * segment.start), round(16_000 * segment.end)) == (start, start + len(clip))
        np.testing.assert_allclose(
            segment.prediction.probabilities, default.predict(clip, 16_000).probabilities, atol=1e-6
        )
        start += len(clip) + len(gap)


def test_the_long_example_recording_agrees_with_its_clips(default) -> None:
    """The six example files as they are (with their own digital silence), joined one second
    apart: the timeline labels each stretch as the file was labelled on its own."""
    files = sorted(ROOT_EXAMPLES.glob("*.flac"))
    segments = default.timeline(ROOT_EXAMPLES / "long" / "six_clips.flac")
    assert [s.prediction.label for s in segments] == [default.predict(f).label for f in files]


def test_the_bundled_model_is_calibrated_and_adapts(default) -> None:
    """Its temperature was fitted leaving training corpora out; its features are utterance-level,
    so adaptation to a speaker's recordings applies (without a warning)."""
    assert default.calibration.temperature != 1.0 and default.calibration.uncertain_below == 0.5
    files = sorted(ROOT_EXAMPLES.glob("*.flac"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmovoxWarning)
        adapted = default.predict_many(files, progress=False, adapt=True)
    plain = default.predict_many(files, progress=False)
    assert default.adaptable and [a.confidence for a in adapted] != [p.confidence for p in plain]

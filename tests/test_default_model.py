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
CORPORA = ("ravdess", "emodb", "ased", "nemo", "emovo", "kor", "turev")


@pytest.fixture(scope="module")
def default() -> EmotionPredictor:
    return EmotionPredictor.load()


def test_bundled_model_is_small_and_has_a_card() -> None:
    path = bundled_path("default")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
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
    silence: each segment is exactly one clip, and gets exactly the clip's own prediction; by
    default adapted to the recording, as the clips predicted together with `adapt=True`."""
    clips = []
    for path in sorted(ROOT_EXAMPLES.glob("*.flac")):
        samples = sf.read(path, dtype="float32")[0]
        sound = np.flatnonzero(samples)
        clips.append(samples[sound[0] : sound[-1] + 1])
    gap = np.zeros(16_000, dtype=np.float32)
    recording = np.concatenate([part for clip in clips for part in (clip, gap)])
    segments = default.timeline(recording, 16_000, adapt=False)
    adapted = default.timeline(recording, 16_000)
    together = default.predict_many(clips, progress=False, adapt=True)  # at the model rate
    assert len(segments) == len(adapted) == len(clips)
    start = 0
    for clip, segment, alike, want in zip(clips, segments, adapted, together, strict=True):
        assert (round(16_000 * segment.start), round(16_000 * segment.end)) == (start, start + len(clip))
        np.testing.assert_allclose(
            segment.prediction.probabilities, default.predict(clip, 16_000).probabilities, atol=1e-6
        )
        np.testing.assert_allclose(alike.prediction.probabilities, want.probabilities, atol=1e-6)
        start += len(clip) + len(gap)


def test_the_long_example_recording_agrees_with_its_clips(default) -> None:
    """The six example files as they are (with their own digital silence), joined one second
    apart: the timeline judges each stretch as the file was judged on its own. Not to the bit:
    a segment is the file less its silent edges, which moves probabilities by about 0.05 (and
    flips the label of a near tie: the sad clip's sad and disgust are 0.22 each)."""
    files = sorted(ROOT_EXAMPLES.glob("*.flac"))
    segments = default.timeline(ROOT_EXAMPLES / "long" / "six_clips.flac", adapt=False)
    adapted = default.timeline(ROOT_EXAMPLES / "long" / "six_clips.flac")  # the recording normalises itself
    together = default.predict_many(files, progress=False, adapt=True)
    assert len(segments) == len(adapted) == len(files)
    for segment, alike, file, want in zip(segments, adapted, files, together, strict=True):
        alone = default.predict(file)
        np.testing.assert_allclose(segment.prediction.probabilities, alone.probabilities, atol=0.06)
        np.testing.assert_allclose(alike.prediction.probabilities, want.probabilities, atol=0.06)
        if alone.probabilities.max() - np.sort(alone.probabilities)[-2] > 0.1:  # no near tie
            assert segment.prediction.label == alone.label


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


def stream_through(predictor: EmotionPredictor, signal: np.ndarray, sizes: np.ndarray, **options):
    session = predictor.stream(**options)
    updates, position = [], 0
    for size in sizes:
        updates += session.push(signal[position : position + size])
        position += size
    updates += session.push(signal[position:])
    return updates, session.finish()


def test_a_live_stream_encodes_each_block_once_whatever_the_chunks(default, monkeypatch) -> None:
    """The bundled model streams with its live twin, on blocks of 500 ms one every 250 ms: every
    sample of speech goes through Whisper twice and through the speaker encoder once (its LSTMs
    carried from block to block), silence through neither; the updates do not
    depend on how the audio was cut into chunks, and each is the twin's answer on the pooled
    moments of the blocks with speech of the last 2 s; the utterance decision is the twin's
    offline answer for the clip."""
    from emovox.backbones.runtime import OnnxSpeakerEncoder, OnnxWhisperEncoder
    from emovox.features.backbone import BlockGrid, BlockPooling

    twin = default.live
    assert twin is not None and twin.block_grid == BlockGrid(0.5, 0.25)
    assert default.describe()["streaming"] == "blocks"
    clip = default.signal(ROOT_EXAMPLES / "03-01-05-02-01-01-24.flac")
    signal = np.concatenate([np.zeros(3 * 16_000, np.float32), clip])  # 3 s of silence first
    encoded = {"whisper": 0, "speaker": 0}
    for cls, method, name in (
        (OnnxWhisperEncoder, "signal_states", "whisper"),
        (OnnxSpeakerEncoder, "signal_states", "speaker"),
        (OnnxSpeakerEncoder, "carried_states", "speaker"),
    ):
        original = getattr(cls, method)

        def counted(self, x, *state, original=original, name=name):
            encoded[name] += len(x)
            return original(self, x, *state)

        monkeypatch.setattr(cls, method, counted)
    rng = np.random.default_rng(3)
    updates, final = stream_through(default, signal, rng.integers(1, 5000, 40))
    assert 0 < encoded["whisper"] <= 2 * len(clip) + 8_000
    assert 0 < encoded["speaker"] <= len(clip) + 8_000 and encoded["speaker"] < encoded["whisper"] / 1.8
    again, final_again = stream_through(default, signal, rng.integers(1, 700, 300))
    assert [u.to_dict() for u in updates] == [u.to_dict() for u in again]
    assert final == final_again
    assert len(updates) >= 4 * (len(signal) / 16_000 - 3) - 8  # four a second once speech starts
    assert min(u.t for u in updates) > 3.0  # the silence gave none

    block, hop = 8_000, 4_000
    pooling = BlockPooling(twin.members[0].extractor)
    starts = range(0, len(signal) - block + 1, hop)
    blocks = [signal[s : s + block] for s in starts]
    readers = pooling.readers()
    speech = [default.has_speech(b) for b in blocks]
    read = [tuple(r.read(b, sp) for r in readers) for b, sp in zip(blocks, speech, strict=True)]
    moments = [m if sp else None for m, sp in zip(read, speech, strict=True)]
    by_time = {round(u.t, 3): u for u in updates}
    for k, start in enumerate(starts):
        kept = [m for m in moments[max(0, k - 6) : k + 1] if m is not None]  # 7 blocks: 2 s
        if kept:
            expected = twin.classify({pooling.name: pooling.features(kept)})
            update = by_time[round((start + block) / 16_000, 3)]
            np.testing.assert_allclose(update.current.probabilities, expected, atol=1e-6)
    _, clip_final = stream_through(default, clip, np.full(30, 3_000))
    np.testing.assert_allclose(clip_final.probabilities, twin.predict(clip).probabilities, atol=1e-5)
    _, itself = stream_through(default, clip, np.full(30, 3_000), twin=False)  # windows, re-encoded
    np.testing.assert_allclose(itself.probabilities, default.predict(clip).probabilities, atol=1e-5)


def test_an_adapted_live_stream_learns_its_voice_across_utterances(default) -> None:
    """A block stream's adaptation takes a row per 2 s of new speech (a block adds a hop of it),
    and the voice's statistics carry from one utterance to the next of the same speaker."""
    session = default.stream(adapt=True)
    clips = [default.signal(c) for c in sorted(ROOT_EXAMPLES.glob("*-23.flac"))]  # one actor's
    stats, seconds = None, 0.0
    for clip in clips:
        session.push(clip)
        assert session.finish() is not None
        seconds += len(clip) / 16_000
        stats = next(iter(session._adaptation.stats.values()))
        assert 1 <= stats.count <= seconds / 2  # overlapping updates are not rows of their own
        session.reset()
    assert stats.count >= len(clips)
    session.reset(new_speaker=True)
    assert not session._adaptation.stats


def test_the_live_twin_hears_most_of_the_held_out_examples(default) -> None:
    """The twin judges blocks that hear nothing across their edges, the offline model whole
    clips: on the held-out actors' example clips (their emotion is in the file name) the offline
    model is right on at least five of the six, the twin on at least four
    (benchmarks/live_parity.py measures the gap on corpora neither heard)."""
    emotions = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fearful", "07": "disgust"}
    clips = sorted(ROOT_EXAMPLES.glob("*.flac"))
    truth = [emotions[c.name.split("-")[2]] for c in clips]
    assert sum(default.predict(c).label == t for c, t in zip(clips, truth, strict=True)) >= 5
    assert sum(default.live.predict(c).label == t for c, t in zip(clips, truth, strict=True)) >= 4

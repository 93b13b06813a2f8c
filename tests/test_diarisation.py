"""Speaker turns (`emovox.inference.diarisation`), the conversations they are measured on
(`emovox.corpora.conversations`) and timelines with speakers, on the examples' real voices: the
long example is six RAVDESS clips of actors 23 and 24 in turns."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import emovox.inference.diarisation as diarisation
from emovox.audio import AudioConfig, load_audio
from emovox.backbones.vad import RegionRule
from emovox.cli import main
from emovox.corpora.conversations import Clip, ConversationConfig, make_conversation, speech_extent
from emovox.errors import ConfigError
from emovox.inference import EmotionPredictor
from emovox.inference.diarisation import (
    DiarisationConfig,
    diarise,
    parse_speakers,
    turns_of,
    voices,
    windows_in,
)
from emovox.inference.result import speaker_summary
from emovox.inference.segments import SegmentConfig, speech_segments
from tests.conftest import ROOT_EXAMPLES, voiced_signal

LONG = ROOT_EXAMPLES / "long" / "six_clips.flac"
ACTORS = ["S1", "S2"] * 3  # 23, 24, 23, 24, 23, 24


def long_signal() -> np.ndarray:
    return load_audio(LONG, AudioConfig(peak_normalise=False))


def speaker_of(turns, start: float, end: float) -> str:
    """The speaker holding most of [start, end]."""
    held: dict[str, float] = {}
    for turn in turns:
        held[turn.speaker] = held.get(turn.speaker, 0.0) + max(
            0.0, min(end, turn.end) - max(start, turn.start)
        )
    return max(held, key=held.get)


def test_speakers_are_auto_or_a_sane_number() -> None:
    assert (
        parse_speakers(None) is None and parse_speakers("auto") is None and parse_speakers(" Auto ") is None
    )
    assert parse_speakers("3") == 3 and parse_speakers(2) == 2
    for bad in ("0", 0, "1000", 21, "two", 2.5, True, ""):
        with pytest.raises(ConfigError, match='"auto" or a number from 1 to 20'):
            parse_speakers(bad)
    with pytest.raises(ConfigError, match="window"):
        DiarisationConfig(window=0.05)
    with pytest.raises(ConfigError, match="threshold"):
        DiarisationConfig(threshold=0)


def test_windows_cover_each_region_to_its_end() -> None:
    assert windows_in([(0.0, 1.0)], 1.5, 0.5) == [(0.0, 1.0)]
    spans = windows_in([(2.0, 5.2)], 1.5, 0.5)
    assert (
        spans[0] == (2.0, 3.5)
        and spans[-1] == (3.7, 5.2)
        and all(b - a == pytest.approx(1.5) for a, b in spans)
    )


def test_speech_regions_hold_through_dips_and_drop_blips() -> None:
    """Hysteresis: a dip to between offset and onset does not end a region; a short blip is
    dropped; near regions are joined."""
    rule = RegionRule(onset=0.5, offset=0.3, min_silence=0.1, min_speech=0.2, pad=0.0)
    frame = 0.032
    p = np.zeros(100)
    p[10:30] = 0.9
    p[18:22] = 0.4  # a dip: still speech
    p[50:53] = 0.9  # 96 ms: too short
    p[70:80], p[82:90] = 0.9, 0.9  # 64 ms apart: one region
    regions = rule.regions(p, 100 * frame)
    assert regions == [(pytest.approx(10 * frame), pytest.approx(30 * frame)),
                       (pytest.approx(70 * frame), pytest.approx(90 * frame))]  # fmt: skip


def test_the_re_reading_posteriors_are_the_hidden_markov_models_exact_ones() -> None:
    """Forward-backward against summing every path of a small chain by hand."""
    rng = np.random.default_rng(3)
    scores, stay = rng.normal(size=(6, 3)) * 3, np.array([0.0, 0.7, 0.3, 0.7, 0.7, 0.3])
    exact = np.zeros_like(scores)
    for path in itertools.product(range(3), repeat=len(scores)):
        weight = np.exp(sum(scores[t, k] for t, k in enumerate(path))) / 3
        for t in range(1, len(path)):
            weight *= stay[t] if path[t] == path[t - 1] else (1 - stay[t]) / 2
        exact[np.arange(len(path)), path] += weight
    exact /= exact.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(diarisation.posteriors(scores, stay), exact, rtol=1e-9)


def test_re_reading_gives_a_stray_window_back_to_its_speaker() -> None:
    """Two voices; a window of no voice of its own (the recording's mean, which centring takes
    to zero), misgrouped inside a stretch of the second: only time order can return it (a tie
    would give the first). A one-group reading is left as it is."""
    rng = np.random.default_rng(4)
    voices = rng.normal(size=(2, 32))
    truth = np.repeat([0, 1, 0], 10)
    vectors = voices[truth] + 0.8 * rng.normal(size=(len(truth), 32))
    vectors[14] = np.delete(vectors, 14, axis=0).mean(axis=0)
    stretch = np.repeat([0, 1, 2], 10)
    misread = truth.copy()
    misread[14] = 0
    config = DiarisationConfig(2)
    assert (diarisation.reread(vectors, misread, stretch, config) == truth).all()
    assert (diarisation.reread(vectors, np.zeros_like(truth), stretch, config) == 0).all()


def test_two_actors_in_turns_are_told_apart() -> None:
    signal = long_signal()
    clips = speech_segments(signal, 16_000, SegmentConfig())
    assert len(clips) == 6
    turns = diarise(signal, 16_000, DiarisationConfig(2))
    assert {t.speaker for t in turns} == {"S1", "S2"} and turns[0].speaker == "S1"
    assert [speaker_of(turns, a, b) for a, b in clips] == ACTORS
    assert all(a.end <= b.start for a, b in itertools.pairwise(turns))  # in order, no overlap


def test_voices_read_once_give_the_turns_of_any_grouping_that_keeps_their_windows() -> None:
    signal = long_signal()
    heard = voices(signal, 16_000)
    assert heard.vectors.shape == (len(heard.spans), 192)
    assert turns_of(heard, DiarisationConfig(2)) == diarise(signal, 16_000, DiarisationConfig(2))
    with pytest.raises(ConfigError, match=r"read in 1\.25 s windows every 0\.5 s"):
        turns_of(heard, DiarisationConfig(2, hop=0.4))


def test_hours_of_windows_are_grouped_from_a_sample(monkeypatch) -> None:
    """Past MAX_CLUSTERED windows, an even sample is grouped and the rest join its centroids:
    the same answer on the example, with a cap that forces it."""
    signal = long_signal()
    clips = speech_segments(signal, 16_000, SegmentConfig())
    monkeypatch.setattr(diarisation, "MAX_CLUSTERED", 12)
    turns = diarise(signal, 16_000, DiarisationConfig(2))
    assert [speaker_of(turns, a, b) for a, b in clips] == ACTORS


def test_one_voice_is_one_speaker_and_no_voice_no_turns() -> None:
    names = ("03-01-01-01-01-01-23.flac", "03-01-04-02-01-01-23.flac", "03-01-06-02-01-01-23.flac")
    one = np.concatenate([load_audio(ROOT_EXAMPLES / name) for name in names])
    assert {t.speaker for t in diarise(one, 16_000)} == {"S1"}
    assert diarise(np.zeros(16_000 * 5, np.float32), 16_000) == []
    t = np.arange(16_000 * 5) / 16_000
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)).astype(np.float32) / 3
    assert diarise(chord, 16_000) == []  # music is not speech
    with pytest.raises(ConfigError, match="16 kHz"):
        diarise(one, 8_000)


def test_a_conversation_knows_who_spoke_when() -> None:
    rng = np.random.default_rng(0)
    clips = {
        name: [Clip(np.r_[np.zeros(1600), voiced_signal(1.0, f0, seed=k), np.zeros(1600)].astype(np.float32),
                    label, f"{name}-{k}") for k, label in enumerate(["happy", "sad", "angry"])]
        for name, f0 in (("a", 120.0), ("b", 220.0), ("c", 300.0))
    }  # fmt: skip
    config = ConversationConfig(speakers=2, turns=6, overlap_share=0.5, max_overlap=0.3)
    conversation = make_conversation(clips, config, rng)
    turns = conversation.turns
    assert len(turns) == 6 and len({t.speaker for t in turns}) == 2
    assert all(a.speaker != b.speaker for a, b in itertools.pairwise(turns))
    assert all(t.end - t.start == pytest.approx(1.0, abs=0.011) for t in turns)  # cut to the speech
    assert all(b.start - a.end >= -0.3 - 1e-9 for a, b in itertools.pairwise(turns))
    assert len({t.source for t in turns}) == 6  # no clip twice
    assert np.abs(conversation.signal).max() == pytest.approx(0.9)
    assert speech_extent(clips["a"][0].signal) == (1600, 1600 + 16_000)
    with pytest.raises(ConfigError, match="3 speakers asked, 2 with clips"):
        make_conversation({"a": clips["a"], "b": clips["b"]}, ConversationConfig(speakers=3), rng)
    with pytest.raises(ConfigError, match="overlap_share"):
        ConversationConfig(overlap_share=2)


def test_a_timeline_with_speakers_labels_and_adapts_each_one() -> None:
    predictor = EmotionPredictor.load()
    signal = predictor.signal(LONG, config=predictor.timeline_audio())
    pieces = predictor.timeline_pieces(signal, speakers=2)
    segments = predictor.judge_pieces(pieces)  # by default: each speaker with their own statistics
    assert [s.speaker for s in segments] == [p.speaker for p in pieces] and {p.speaker for p in pieces} == {
        "S1",
        "S2",
    }
    per_speaker = predictor.judge_pieces(pieces, adapt=True)
    assert [s.prediction for s in segments] == [s.prediction for s in per_speaker]
    unadapted = predictor.judge_pieces(pieces, adapt=False)
    assert [s.prediction for s in segments] != [s.prediction for s in unadapted]
    assert segments[0].to_dict()["speaker"] == "S1" and "speaker" not in predictor.timeline(LONG)[0].to_dict()
    summary = speaker_summary(segments)
    assert list(summary) == ["S1", "S2"]
    for entry in summary.values():
        assert sum(entry["emotions"].values()) == pytest.approx(1.0, abs=0.01) and entry["seconds"] > 5
    with pytest.raises(ConfigError, match="silence segmentation"):
        predictor.timeline_pieces(signal, SegmentConfig(mode="windows"), speakers=2)


def test_the_command_line_gives_turns_and_refuses_bad_counts(capsys) -> None:
    assert main(["predict", str(LONG), "--timeline", "--speakers", "2", "--json", "--quiet"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [s["speaker"] for s in body["segments"]][:2] == ["S1", "S2"] and list(body["speakers"]) == [
        "S1",
        "S2",
    ]
    assert main(["predict", str(LONG), "--timeline", "--speakers", "2", "--quiet"]) == 0
    assert "S2: " in capsys.readouterr().out
    for bad in (["--timeline", "--speakers", "0"], ["--timeline", "--speakers", "1000"], ["--speakers", "2"]):
        assert main(["predict", str(LONG), *bad]) == 1
        error = capsys.readouterr().err
        assert error.startswith("emovox: error: ") and "Traceback" not in error


def test_batch_rows_name_their_speaker(tmp_path) -> None:
    from tests.conftest import read_rows

    out = tmp_path / "turns.csv"
    assert main(["batch", str(LONG), "--out", str(out), "--timeline", "--speakers", "2", "--quiet"]) == 0
    rows = read_rows(out)
    assert list(rows[0])[:4] == ["path", "start", "end", "speaker"] and {r["speaker"] for r in rows} == {
        "S1",
        "S2",
    }
    assert main(["batch", str(LONG), "--out", str(tmp_path / "x.csv"), "--speakers", "2", "--quiet"]) == 1

"""The predictor, long-recording timelines, streaming sessions and exported graphs, on small
models trained on real RAVDESS clips (see conftest.trained_models)."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from test_artifact import make_artifact

from emovox.artifact.export import export_model, onnx_bytes
from emovox.audio import load_audio
from emovox.cli import main
from emovox.errors import AudioError, AudioTooLongError, ConfigError, EmovoxWarning
from emovox.inference import EmotionPredictor, SegmentConfig, StreamConfig
from emovox.inference.backends import OnnxBackend, TorchBackend
from emovox.inference.segments import speech_segments, windows

MODELS = ["lstm_stream", "mlp", "ensemble"]


@pytest.fixture(scope="module")
def predictors(trained_models) -> dict[str, EmotionPredictor]:
    return {name: EmotionPredictor.load(trained_models[name]) for name in MODELS}


def test_predict_returns_the_json_contract(predictors, ravdess_clip) -> None:
    for predictor in predictors.values():
        result = predictor.predict(ravdess_clip)
        body = result.to_dict()
        assert set(body) == {"class", "label", "confidence", "labels", "uncertain"}
        assert body["labels"] == list(predictor.labels) and len(body["labels"]) == 8
        assert body["label"] == body["labels"][body["class"]] == result.label == result["label"]
        assert abs(sum(body["confidence"]) - 1) < 1e-5
        assert body["class"] == int(np.argmax(body["confidence"]))
        json.dumps(body)  # plain JSON types only


def test_arrays_bytes_and_paths_agree(predictors, ravdess_clip) -> None:
    predictor = predictors["mlp"]
    expected = predictor.predict(ravdess_clip).probabilities
    samples, rate = sf.read(ravdess_clip, dtype="float32")
    np.testing.assert_allclose(predictor.predict(samples, rate).probabilities, expected, atol=1e-6)
    with open(ravdess_clip, "rb") as f:
        np.testing.assert_allclose(predictor.predict(f.read()).probabilities, expected, atol=1e-6)
    upsampled = soxr.resample(samples, 16_000, 48_000)  # another dtype at another rate: close, not equal
    resampled = predictor.predict((upsampled * 32767).astype(np.int16), 48_000).probabilities
    assert np.abs(resampled - expected).max() < 0.15  # the 7.5-8 kHz band is lost on the way


def test_bad_input_is_a_typed_error(predictors, tmp_path) -> None:
    predictor = predictors["mlp"]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio")
    for path in ("empty.wav", "text.wav", "missing.wav"):
        with pytest.raises(AudioError):
            predictor.predict(tmp_path / path)
    with pytest.raises(AudioError, match="silence"):
        predictor.predict(np.zeros(16_000, dtype=np.float32))
    with pytest.raises(AudioTooLongError):
        predictor.predict(np.ones(16_000 * 601, dtype=np.float32) * 0.1)
    results = predictor.predict_many([tmp_path / "text.wav"], errors="return", progress=False)
    assert isinstance(results[0], AudioError)


def test_predict_many_matches_predict(predictors, ravdess) -> None:
    paths = [u.path for u in ravdess[:6]]
    predictor = predictors["ensemble"]
    many = predictor.predict_many(paths, jobs=2, progress=False)
    for path, result in zip(paths, many, strict=True):
        np.testing.assert_allclose(result.probabilities, predictor.predict(path).probabilities, atol=1e-6)


def test_timeline_finds_the_clips_of_a_long_recording(predictors, ravdess) -> None:
    clips = [load_audio(u.path) for u in ravdess[:3]]
    pause = np.zeros(16_000, dtype=np.float32)  # one second of silence between clips
    recording = np.concatenate([clips[0], pause, clips[1], pause, clips[2]])
    segments = predictors["mlp"].timeline(recording, 16_000)
    assert len(segments) >= 3
    for a, b in itertools.pairwise(segments):
        assert a.start < a.end <= b.start
    boundary = (len(clips[0]) + len(pause)) / 16_000
    assert not any(s.start < boundary - 0.9 < s.end - 0.01 and s.end > boundary for s in segments)
    keys = {"start", "end", "class", "label", "confidence", "labels", "uncertain"}
    assert set(segments[0].to_dict()) == keys
    fixed = predictors["mlp"].timeline(recording, 16_000, SegmentConfig(mode="windows", window=2, hop=2))
    assert fixed[0].start == 0 and abs(fixed[-1].end - len(recording) / 16_000) < 1e-6


def test_windows_and_speech_segments_edge_cases() -> None:
    assert windows(0, 1, 3, 3) == [(0, 1)]
    assert windows(0, 7, 3, 3) == [(0, 3), (3, 6), (4, 7)]
    assert speech_segments(np.zeros(100, dtype=np.float32), 16_000, SegmentConfig()) == [(0.0, 100 / 16_000)]
    with pytest.raises(ConfigError):
        SegmentConfig(mode="random")


def updates_expected(predictor: EmotionPredictor, session, signal: np.ndarray) -> int:
    """One update per 100 ms: for a frame model each, for a window model those whose window holds
    speech (the stream's start, before the actor speaks, gives none)."""
    from emovox.audio import prepare_signal
    from emovox.backbones.vad import speech_detector

    ends = range(1600, len(signal) + 1, 1600)
    if predictor.streams_frames:
        return len(ends)
    window = int(session.config.window_seconds * 16_000)
    pieces = [prepare_signal(signal[max(0, end - window) : end], 16_000) for end in ends]
    return sum(speech_detector().has_speech(p, predictor.speech) for p in pieces)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_streaming_in_random_chunks_equals_offline(trained_models, ravdess_clip, name, backend) -> None:
    predictor = EmotionPredictor.load(trained_models[name], backend=backend)
    signal = load_audio(ravdess_clip)  # already at its peak level, so the stream sees the same samples
    offline = predictor.predict(signal).probabilities
    rng = np.random.default_rng(7)
    session = predictor.stream(emit_every_ms=100)
    updates, position = [], 0
    while position < len(signal):
        size = int(rng.integers(1, 3000))
        updates += session.push(signal[position : position + size])
        position += size
    np.testing.assert_allclose(session.finish().probabilities, offline, atol=1e-5)
    assert len(updates) == pytest.approx(updates_expected(predictor, session, signal), abs=3)
    times = [u.t for u in updates]
    assert times == sorted(times) and times[-1] <= len(signal) / 16_000 + 1e-9
    session.reset()
    assert session.result() is None


def test_lstm_stream_updates_are_the_frame_by_frame_outputs(predictors, ravdess_clip) -> None:
    from emovox.audio.framing import frame_signal, nonsilent_mask

    predictor = predictors["lstm_stream"]
    signal = load_audio(ravdess_clip)
    signal[:4000] = 0  # digital silence first: no state yet, so no updates for it
    session = predictor.stream(emit_every_ms=10, decision="mean")
    updates = session.push(signal)
    member = predictor.members[0]
    kept = np.flatnonzero(nonsilent_mask(frame_signal(signal, 400, 160)))
    one_by_one, state = [], member.backend.initial_state()
    for frame in member.extractor(signal):  # the seed's loop: one frame, one step, state carried
        probabilities, state = member.backend.frames(frame[None], state)
        one_by_one.append(probabilities[0])
    total = len(frame_signal(signal, 400, 160))
    assert len(updates) == total - kept[0]  # one update per 10 ms frame once there is sound
    assert updates[0].t == pytest.approx((kept[0] * 160 + 400) / 16_000)
    for update, index in zip(updates, range(kept[0], total), strict=True):
        latest = int(np.searchsorted(kept, index, side="right")) - 1  # silent frames repeat the last
        np.testing.assert_allclose(update.current.probabilities, one_by_one[latest], atol=1e-5)
    np.testing.assert_allclose(updates[-1].utterance.probabilities, np.mean(one_by_one, axis=0), atol=1e-5)


def test_stream_accepts_int16_and_other_rates(predictors, ravdess_clip) -> None:
    predictor = predictors["lstm_stream"]
    signal = load_audio(ravdess_clip)
    offline = predictor.predict(signal).probabilities
    int16 = (signal * 32767).astype(np.int16)
    session = predictor.stream()
    for chunk in np.array_split(int16, 37):
        session.push(chunk)
    assert np.abs(session.finish().probabilities - offline).max() < 0.02
    samples, rate = sf.read(ravdess_clip, dtype="float32")
    upsampled = soxr.resample(samples, rate, 48_000)
    session = predictor.stream(sample_rate=48_000, level="running_peak")
    updates = []
    for chunk in np.array_split(upsampled, 50):
        updates += session.push(chunk)
    assert session.finish() is not None and len(updates) > 20
    with pytest.raises(AudioError):
        session.push(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(AudioError):
        session.push(np.zeros(10, dtype=np.int32))
    with pytest.raises(ConfigError):
        StreamConfig(decision="median")
    with pytest.raises(ConfigError):
        StreamConfig(emit_every_ms=1)


@pytest.mark.parametrize(
    ("name", "features", "params"),
    [
        ("lstm_stream", "mfcc", {"hidden_size": 16}),
        ("lstm_feat", "utterance110", {"hidden_sizes": [8, 8], "dense": 8}),
        ("cnn_lstm", "utterance110", {"channels": 8, "hidden_size": 8, "dense": 8}),
        ("cnn", "enhanced392", {"channels": [8, 8, 8, 8], "dense": [16, 16, 16]}),
        ("msse_bilstm", "enhanced392", {"channels": 4, "lstm_sizes": [8, 8], "dense": [8, 8]}),
        ("mlp", "enhanced392", {"hidden": [32]}),
        ("crnn", "logmel", {"channels": [4, 8, 8], "rnn_size": 8}),
    ],
)
def test_onnx_export_matches_pytorch(name, features, params) -> None:
    artifact = make_artifact(name, features, params)
    torch_backend = TorchBackend(artifact)
    onnx_backend = OnnxBackend(artifact)
    rng = np.random.default_rng(3)
    for frames in (120, 357):
        dim = artifact.extractor.dim
        shape = (frames, dim) if artifact.extractor.level.value == "frame" else (dim,)
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(onnx_backend.clip(x), torch_backend.clip(x), atol=1e-4)


def test_onnx_step_graph_carries_state(trained_models) -> None:
    import onnx

    predictor = EmotionPredictor.load(trained_models["lstm_stream"])
    artifact = predictor.members[0].artifact
    graph = onnx.load_from_string(onnx_bytes(artifact))
    assert [i.name for i in graph.graph.input] == ["frames", "h0", "c0"]
    assert [o.name for o in graph.graph.output] == ["probabilities", "hn", "cn"]
    frames = np.random.default_rng(0).standard_normal((30, 13)).astype(np.float32)
    torch_backend, onnx_backend = TorchBackend(artifact), OnnxBackend(artifact)
    state_t, state_o = torch_backend.initial_state(), onnx_backend.initial_state()
    for frame in frames:  # one 10 ms step at a time, state in and out
        p_t, state_t = torch_backend.frames(frame[None], state_t)
        p_o, state_o = onnx_backend.frames(frame[None], state_o)
        np.testing.assert_allclose(p_o, p_t, atol=1e-4)
    np.testing.assert_allclose(state_o[0], state_t[0], atol=1e-4)


def test_export_command_writes_loadable_graphs(trained_models, tmp_path, ravdess_clip, capsys) -> None:
    import onnxruntime

    model = trained_models["mlp"]
    assert main(["export", str(model), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert main(["export", str(model), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]) == 0
    predictor = EmotionPredictor.load(model)
    features = predictor.members[0].extractor(load_audio(ravdess_clip))[None]
    expected = predictor.predict(ravdess_clip).probabilities
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"features": features})[0][0], expected, atol=1e-4)
    scripted = torch.jit.load(str(tmp_path / "m.pt"))  # deprecated upstream, still what many users load
    with torch.no_grad():
        np.testing.assert_allclose(scripted(torch.from_numpy(features))[0].numpy(), expected, atol=1e-4)
    assert main(["export", str(trained_models["ensemble"])]) == 0  # members in place
    assert "model.onnx" in capsys.readouterr().out


def test_a_model_onnx_is_used_only_when_bound_to_its_directory(tmp_path) -> None:
    """Another model's graph, a graph exported before re-training, garbage, or a graph of the
    wrong shape with a forged binding: each refused with the file named, never run."""
    import shutil

    from emovox.artifact import ArtifactError
    from emovox.artifact.graphs import BINDING, bind_onnx

    mine, other = tmp_path / "mine", tmp_path / "other"
    make_artifact("cnn_lstm").save(mine)
    make_artifact("cnn_lstm", labels=("n", "h", "s", "a", "f", "d")).save(other)
    for directory in (mine, other):
        assert main(["export", str(directory)]) == 0 and (directory / BINDING).is_file()
    x = np.random.default_rng(0).standard_normal(110).astype(np.float32)
    onnx, torch_ = EmotionPredictor.load(mine, backend="onnx"), EmotionPredictor.load(mine)
    np.testing.assert_allclose(
        onnx.classify({"utterance110": x}), torch_.classify({"utterance110": x}), atol=1e-4
    )
    graph = mine / "model.onnx"

    def refused(match: str) -> None:
        with pytest.raises(ArtifactError, match=match) as caught:
            EmotionPredictor.load(mine, backend="onnx")
        assert str(graph) in str(caught.value)

    shutil.copy(other / "model.onnx", graph)
    refused("sha256 is not the one recorded")
    shutil.copy(other / BINDING, mine / BINDING)
    refused("exported from other weights")
    bind_onnx(mine, graph)  # a forged binding: the graph's shape still gives it away
    refused("gives 6 classes; the model takes features of width 110 and has 3 labels")
    graph.write_bytes(b"not a graph at all")
    bind_onnx(mine, graph)
    refused("not a loadable ONNX graph")
    (mine / BINDING).unlink()
    refused(f"no valid {BINDING}")


def test_export_model_refuses_classical_models(tmp_path) -> None:
    from emovox.artifact import ArtifactError
    from emovox.models.classical import LogisticModel

    artifact = make_artifact()
    artifact.model = LogisticModel(np.zeros((3, 110)), np.zeros(3))
    with pytest.raises(ArtifactError, match="classical"):
        export_model(artifact, "onnx", tmp_path / "x.onnx")


def test_predict_command_table_and_json(trained_models, ravdess, tmp_path, capsys) -> None:
    paths = [u.path for u in ravdess[:3]]
    model = str(trained_models["mlp"])
    assert main(["predict", "--model", model, "--json", *paths]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["path"] for line in lines] == paths
    assert all({"path", "class", "label", "confidence", "labels", "uncertain"} == set(line) for line in lines)
    assert main(["predict", "--model", model, "--quiet", "--backend", "onnx", *paths]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 3 and all("%" in row for row in table)
    bad = tmp_path / "bad.wav"
    bad.write_text("no")
    assert main(["predict", "--model", model, "--json", str(bad), paths[0]]) == 1  # one failed
    captured = capsys.readouterr()
    assert [json.loads(line)["path"] for line in captured.out.splitlines()] == [paths[0]]
    assert captured.err == f"emovox: error: {bad}: not readable as audio (format not recognised)\n"
    assert main(["predict", "--model", model, "--timeline", "--json", paths[0]]) == 0
    assert json.loads(capsys.readouterr().out)["segments"]
    assert main(["predict", "--model", model, "--json", "--labels", "sad,angry", paths[0]]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == ["sad", "angry"]
    assert main(["predict", "--model", model, "--labels", "sad,cross", paths[0]]) == 1
    assert "labels must be two or more of this model's" in capsys.readouterr().err


def test_adaptation_normalises_with_the_batch_statistics(predictors, ravdess) -> None:
    from emovox.inference.adaptation import Adaptation, RunningStats
    from emovox.training.scaler import Standardizer

    rng = np.random.default_rng(0)
    rows = rng.normal(3.0, 2.0, (4000, 4))
    stats = RunningStats(4)
    for part in np.array_split(rows, 7):  # running sums: any split gives the same statistics
        stats.add(part)
    training = Standardizer(np.zeros(4, np.float32), np.ones(4, np.float32))
    np.testing.assert_allclose(stats.blended(training, prior=0).mean, rows.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(stats.blended(training, prior=0).std, rows.std(axis=0), atol=1e-4)
    halfway = stats.blended(training, prior=4000)  # a prior as heavy as the data: halfway there
    np.testing.assert_allclose(halfway.mean, rows.mean(axis=0) / 2, atol=1e-4)

    predictor = predictors["mlp"]
    paths = [u.path for u in ravdess if u.speaker_id == ravdess[0].speaker_id][:12]
    plain = predictor.predict_many(paths, progress=False)
    adapted = predictor.predict_many(paths, progress=False, adapt=True)
    adaptation = predictor.adapt(paths)
    assert isinstance(adaptation, Adaptation)
    for path, result in zip(paths, adapted, strict=True):
        np.testing.assert_allclose(
            result.probabilities, predictor.predict(path, adaptation=adaptation).probabilities, atol=1e-6
        )
    assert any(
        np.abs(a.probabilities - p.probabilities).max() > 1e-3 for a, p in zip(adapted, plain, strict=True)
    )


def test_adapted_stream_and_timeline(predictors, ravdess_clip) -> None:
    signal = load_audio(ravdess_clip)
    for name in ("lstm_stream", "mlp"):
        predictor = predictors[name]
        with warnings.catch_warnings():  # the LSTM reads frames only: adaptation warns, tested elsewhere
            warnings.simplefilter("ignore", EmovoxWarning)
            plain, adapted = predictor.stream(), predictor.stream(adapt=True)
        for chunk in np.array_split(signal, 20):
            plain.push(chunk)
            adapted.push(chunk)
        change = np.abs(adapted.finish().probabilities - plain.finish().probabilities).max()
        if predictor.adaptable:  # utterance features: normalised by the stream's own statistics
            assert change > 1e-4
        else:  # frame features are left as they are
            assert change == 0
    assert predictors["mlp"].adaptable and not predictors["lstm_stream"].adaptable
    segments = predictors["mlp"].timeline(signal, 16_000, adapt=True)
    assert segments and all(abs(sum(s.prediction.confidence) - 1) < 1e-5 for s in segments)


def test_an_adapted_stream_learns_a_row_per_window_of_new_audio_and_keeps_it_across_utterances(
    predictors, ravdess_clip
) -> None:
    """Window updates overlap (one every 100 ms over the last 2 s): the statistics take one row per
    2 s of new audio, so the training prior (5 clips) is not outweighed within a second. They hold
    for the next utterance of the same voice and go with `new_speaker`."""
    signal = load_audio(ravdess_clip)
    session = predictors["mlp"].stream(adapt=True, emit_every_ms=100)
    updates = session.push(signal)
    rows = session._adaptation.stats[predictors["mlp"].members[0].extractor.name].count
    assert len(updates) >= 30 and rows == len(updates) // 20  # a row per 20 updates of 100 ms
    first = session.finish().probabilities
    session.reset()
    assert session.result() is None and session._adaptation.stats  # the voice's statistics stay
    session.push(signal)
    again = session.finish().probabilities
    assert np.abs(again - first).max() > 1e-4  # judged with twice the statistics
    session.reset(new_speaker=True)
    assert not session._adaptation.stats
    session.push(signal)
    np.testing.assert_allclose(session.finish().probabilities, first, atol=1e-6)


def test_stream_updates_carry_a_moving_average_and_how_long_it_held(predictors, ravdess_clip) -> None:
    signal = load_audio(ravdess_clip)
    tau = 0.5
    updates = predictors["mlp"].stream(emit_every_ms=100, smoothing_seconds=tau).push(signal)
    assert len(updates) > 20
    smoothed, since = updates[0].current.probabilities, updates[0].t
    for previous, update in itertools.pairwise(updates):
        keep = np.exp(-(update.t - previous.t) / tau)
        expected = keep * smoothed + (1 - keep) * update.current.probabilities
        if expected.argmax() != smoothed.argmax():
            since = update.t
        smoothed = expected
        np.testing.assert_allclose(update.smoothed.probabilities, smoothed, atol=1e-9)
        assert update.held == pytest.approx(update.t - since)
    assert set(updates[-1].to_dict()) == {
        "t",
        "class",
        "label",
        "confidence",
        "uncertain",
        "utterance",
        "smoothed",
        "held",
    }
    raw = predictors["mlp"].stream(emit_every_ms=100, smoothing_seconds=0).push(signal)
    assert all(u.smoothed.confidence == u.current.confidence for u in raw)
    for bad in ({"smoothing_seconds": -1}, {"smoothing_seconds": 61}, {"emit_every_ms": "abc"}):
        with pytest.raises(ConfigError):
            StreamConfig(**bad)


def test_a_restricted_label_set_renormalises_every_answer(predictors, ravdess_clip) -> None:
    """`restricted` answers among the chosen labels (in the model's order): each probability
    divided by their sum, `uncertain` judged on those, for clips, timelines and streams alike; the
    predictor itself is unchanged, and a bad choice is a clear error."""
    predictor = predictors["mlp"]
    four = predictor.restricted(["angry", "sad", "happy", "neutral"])
    assert four.labels == ("neutral", "happy", "sad", "angry") and len(predictor.labels) == 8
    full, kept = predictor.predict(ravdess_clip), four.predict(ravdess_clip)
    subset = np.array([full.confidence[predictor.labels.index(x)] for x in four.labels])
    np.testing.assert_allclose(kept.confidence, subset / subset.sum(), rtol=1e-6)
    assert kept.labels == four.labels and kept.label == four.labels[int(np.argmax(subset))]
    assert kept.uncertain == (max(kept.confidence) < predictor.calibration.uncertain_below)
    assert predictor.predict(ravdess_clip).to_dict() == full.to_dict()
    assert four.restricted("neutral,happy,sad,angry") is four
    assert four.restricted(list(predictor.labels)).predict(ravdess_clip).to_dict() == full.to_dict()
    assert all(s.prediction.labels == four.labels for s in four.timeline(ravdess_clip))
    session = four.stream(level="as_is")
    session.push(four.signal(ravdess_clip))
    np.testing.assert_allclose(session.finish().confidence, kept.confidence, atol=1e-5)
    assert (
        predictor.restricted(None) is predictor and predictor.restricted(list(predictor.labels)) is predictor
    )
    with pytest.raises(ConfigError, match='labels must be a list of label names or "a,b,c"'):
        predictor.restricted(["angry", 3])
    for bad, why in ((["angry", "bored"], "unknown: 'bored'"), ("angry,angry", "each once"), ("angry", "")):
        with pytest.raises(ConfigError, match="labels must be two or more of this model's neutral, calm"):
            predictor.restricted(bad)
        if why:
            with pytest.raises(ConfigError, match=why):
                predictor.restricted(bad)

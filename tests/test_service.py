"""The HTTP/WebSocket service: contracts, limits and bad input, with real RAVDESS clips."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import click_in_zeros
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from emovox.audio import load_audio
from emovox.errors import ConfigError
from emovox.inference import EmotionPredictor
from emovox.service import ServiceLimits, create_app


@pytest.fixture(scope="module")
def predictor(trained_models) -> EmotionPredictor:
    return EmotionPredictor.load(trained_models["lstm_stream"])


@pytest.fixture()
def client(predictor) -> TestClient:
    limits = ServiceLimits(
        max_upload_bytes=2_000_000, max_audio_seconds=30, max_streams=2, idle_timeout_seconds=5
    )
    return TestClient(create_app(predictor, limits))


def test_predict_by_upload_and_raw_body(client, predictor, ravdess_clip) -> None:
    data = Path(ravdess_clip).read_bytes()
    expected = predictor.predict(ravdess_clip).to_dict()
    for response in (
        client.post("/v1/predict", files={"file": ("clip.flac", data, "audio/flac")}),
        client.post("/v1/predict", content=data, headers={"content-type": "audio/flac"}),
    ):
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"class", "label", "confidence", "labels", "uncertain"}
        assert body["label"] == expected["label"]
        np.testing.assert_allclose(body["confidence"], expected["confidence"], atol=1e-6)


def test_timeline_models_health_and_page(client, ravdess) -> None:
    clips = [load_audio(u.path) for u in ravdess[:2]]
    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate([clips[0], np.zeros(16_000, np.float32), clips[1]]), 16_000, format="WAV")
    response = client.post("/v1/timeline", content=buffer.getvalue())
    assert response.status_code == 200
    segments = response.json()["segments"]
    assert response.json()["duration"] == round((len(clips[0]) + 16_000 + len(clips[1])) / 16_000, 3)
    assert len(segments) >= 2 and all({"start", "end", "label", "confidence"} <= set(s) for s in segments)
    models = client.get("/v1/models").json()
    assert models["labels"] == response.json()["labels"] and models["streaming"] == "frames"
    assert models["limits"]["max_streams"] == 2
    assert client.get("/health").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "Record" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    card = client.get("/v1/models/card")
    assert card.status_code == 200 and card.text.startswith("# emovox model") and "Known limits" in card.text
    assert "/v1/stream" in json.dumps(client.get("/openapi.json").json())  # the WS protocol is documented


def test_bad_uploads_get_clear_4xx(client, ravdess_clip) -> None:
    def post(**kwargs) -> tuple[int, dict]:
        response = client.post("/v1/predict", **kwargs)
        return response.status_code, response.json()

    status, body = post(content=b"x" * 2_000_001)
    assert status == 413 and "limit" in body["error"] and body["status"] == 413
    status, body = post(content=b"this is not audio at all")
    assert (
        status == 415
        and body["error"] == "the audio data (24 bytes): not readable as audio (format not recognised)"
    )
    status, body = post(content=b"")
    assert status == 422
    status, body = post(files={"other": ("a.wav", b"123", "audio/wav")})
    assert status == 422 and "file" in body["error"]
    status, body = post(content=b"--x\r\nnot a part", headers={"content-type": "multipart/form-data"})
    assert status == 422 and "multipart" in body["error"]
    long = io.BytesIO()
    sf.write(long, np.full(16_000 * 31, 0.1, np.float32), 16_000, format="FLAC")
    status, body = post(content=long.getvalue())
    assert status == 413 and "cap" in body["error"]
    silent = io.BytesIO()
    sf.write(silent, np.zeros(16_000, np.float32), 16_000, format="WAV")
    status, body = post(content=silent.getvalue())
    assert status == 422 and "silence" in body["error"]
    ok = client.post("/v1/predict", content=Path(ravdess_clip).read_bytes())  # still serving
    assert ok.status_code == 200


def stream_clip(client: TestClient, signal: np.ndarray, rate: int, fmt: str, chunk: int) -> list[dict]:
    dtype = "<i2" if fmt == "pcm_s16le" else "<f4"
    samples = (signal * 32767).astype(dtype) if fmt == "pcm_s16le" else signal.astype(dtype)
    payload = samples.tobytes()
    messages = []
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": rate, "format": fmt, "level": "as_is"}))
        for start in range(0, len(payload), chunk):  # odd byte counts split samples across messages
            ws.send_bytes(payload[start : start + chunk])
        ws.send_text(json.dumps({"event": "end"}))
        while True:
            message = ws.receive_json()
            messages.append(message)
            if message.get("final"):
                break
    return messages


def test_websocket_stream_gives_updates_and_the_offline_result(client, predictor, ravdess_clip) -> None:
    signal = load_audio(ravdess_clip)
    offline = predictor.predict(signal)
    messages = stream_clip(client, signal, 16_000, "pcm_f32le", 3201)
    *updates, final = messages
    assert len(updates) >= 30 and all({"t", "label", "confidence"} <= set(m) for m in updates)
    assert [m["t"] for m in updates] == sorted(m["t"] for m in updates)
    assert final["final"] is True and final["label"] == offline.label
    np.testing.assert_allclose(final["confidence"], offline.confidence, atol=1e-5)
    int16 = stream_clip(client, signal, 16_000, "pcm_s16le", 1001)
    assert int16[-1]["final"] and len(int16) > 30


def test_labels_can_be_restricted_per_request_and_per_stream(client, predictor, ravdess_clip) -> None:
    """`?labels=` on uploads and `"labels"` in a stream's start message: the answer among those
    labels only (as `EmotionPredictor.restricted`); a bad choice is refused before any work."""
    four = predictor.restricted("neutral,happy,sad,angry")
    data = Path(ravdess_clip).read_bytes()
    body = client.post("/v1/predict?labels=neutral,happy,sad,angry", content=data).json()
    assert body == four.predict(ravdess_clip).to_dict()
    timeline = client.post("/v1/timeline?labels=sad,angry", content=data).json()
    assert timeline["labels"] == ["sad", "angry"] and all(
        s["labels"] == ["sad", "angry"] for s in timeline["segments"]
    )
    refused = client.post("/v1/predict?labels=angry,furious", content=data)
    assert refused.status_code == 422 and "labels must be two or more" in refused.json()["error"]
    signal = load_audio(ravdess_clip)
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 16_000, "format": "pcm_f32le", "level": "as_is",
                                 "labels": ["neutral", "happy", "sad", "angry"]}))  # fmt: skip
        ws.send_bytes(signal.astype("<f4").tobytes())
        ws.send_text(json.dumps({"event": "end"}))
        while not (message := ws.receive_json()).get("final"):
            assert len(message["confidence"]) == 4 and message["label"] in four.labels
    np.testing.assert_allclose(message["confidence"], four.predict(signal).confidence, atol=1e-5)


def test_websocket_refuses_bad_starts_and_excess_streams(client) -> None:
    for start in (
        "not json",
        json.dumps({"sample_rate": 16_000, "format": "mp3"}),
        json.dumps({"format": "pcm_s16le"}),
        json.dumps({"sample_rate": 16_000, "labels": ["angry", "furious"]}),
        json.dumps({"sample_rate": 16_000, "labels": 7}),
    ):
        with client.websocket_connect("/v1/stream") as ws:
            ws.send_text(start)
            assert "error" in ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1003
    with client.websocket_connect("/v1/stream") as first, client.websocket_connect("/v1/stream") as second:
        for ws in (first, second):
            ws.send_text(json.dumps({"sample_rate": 16_000, "format": "pcm_s16le"}))
        with client.websocket_connect("/v1/stream") as third:
            with pytest.raises(WebSocketDisconnect) as closed:
                third.receive_json()
            assert closed.value.code == 1013
        first.send_bytes(np.zeros(800, "<i2").tobytes())  # the others keep working
        first.send_text(json.dumps({"event": "end"}))
        assert first.receive_json()["final"] is True


def test_the_stream_capacity_is_measured_on_judged_windows(monkeypatch) -> None:
    """The estimate's synthetic voice is no speech to the detector: were the rule on, the windows
    would be refused for almost nothing and the bundled model's capacity overestimated (12
    streams on 2 cores where one fits). Every measured update is judged, the rule's own cost is
    counted apart, and the rule is back."""
    from emovox.service.streams import speech_check_cost, stream_capacity

    bundled = EmotionPredictor.load()
    judged = []
    classify = bundled.live.classify  # its streams run its live twin
    monkeypatch.setattr(bundled.live, "classify", lambda *args: judged.append(1) or classify(*args))
    rule = bundled.speech
    assert stream_capacity(bundled, workers=2) >= 1
    assert len(judged) >= 12 and bundled.speech is rule  # 3 measured seconds, 4 updates each (blocks)
    voice = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    assert speech_check_cost(bundled, bundled.stream(), voice) > 0


def test_limits_are_checked() -> None:
    for bad in (
        {"max_streams": -1},
        {"idle_timeout_seconds": 0},
        {"workers": "2"},
        {"max_realtime_factor": 0.5},
    ):
        with pytest.raises(ConfigError):
            ServiceLimits(**bad)


def test_over_capacity_gets_429_and_others_keep_being_served(predictor, ravdess_clip) -> None:
    import threading

    release = threading.Event()
    entered = threading.Event()

    class Slow:  # the real predictor, held inside its first prediction until released
        def __getattr__(self, name):
            return getattr(predictor, name)

        def restricted(self, labels):  # asked of every request: without labels, still this one
            return self if labels is None else predictor.restricted(labels)

        def predict(self, *args, **kwargs):
            entered.set()
            release.wait(10)
            return predictor.predict(*args, **kwargs)

    client = TestClient(create_app(Slow(), ServiceLimits(max_concurrent_requests=1)))
    data = Path(ravdess_clip).read_bytes()
    first: list = []
    worker = threading.Thread(target=lambda: first.append(client.post("/v1/predict", content=data)))
    worker.start()
    assert entered.wait(10)
    busy = client.post("/v1/predict", content=data)
    assert busy.status_code == 429 and busy.json()["status"] == 429
    assert client.get("/health").status_code == 200  # the service still answers
    release.set()
    worker.join(10)
    assert first[0].status_code == 200
    assert client.post("/v1/predict", content=data).status_code == 200


def click_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, click_in_zeros(), 16_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_audio_without_a_frame_of_sound_is_a_422_for_every_kind_of_model(trained_models, backend) -> None:
    """Frame models (the bundled CRNN, the LSTM) and utterance models alike: a 422 naming what
    was wrong, over HTTP, and a normal close with an empty final decision on the WebSocket."""
    for model in ("default", trained_models["lstm_stream"], trained_models["mlp"]):
        with TestClient(create_app(EmotionPredictor.load(model, backend=backend))) as client:
            for path in ("/v1/predict", "/v1/timeline"):
                response = client.post(path, content=click_wav())
                if path == "/v1/timeline":  # nothing to judge: an empty timeline
                    assert response.status_code == 200 and response.json()["segments"] == []
                    continue
                assert response.status_code == 422, (model, response.text)
                assert response.json()["error"].endswith(
                    "no sound to judge: every 25 ms frame is digital silence"
                )
            with client.websocket_connect("/v1/stream") as ws:
                ws.send_text(json.dumps({"sample_rate": 16_000, "format": "pcm_s16le"}))
                ws.send_bytes(click_wav()[44:])
                ws.send_text(json.dumps({"event": "end"}))
                messages = []
                while not messages or not messages[-1].get("final"):
                    messages.append(ws.receive_json())
                assert messages[-1]["label"] is None and all("error" not in m for m in messages)
            assert client.get("/health").status_code == 200


def test_uploads_are_capped_by_decoded_samples_from_the_header(predictor) -> None:
    """A short file at a huge rate and many channels is refused before it is decoded."""
    limits = ServiceLimits(max_audio_seconds=30, max_timeline_seconds=30, max_input_rate_channels=100_000)
    client = TestClient(create_app(predictor, limits))
    wide = io.BytesIO()
    sf.write(wide, np.zeros((655_350, 8), dtype=np.int16), 655_350, format="FLAC", subtype="PCM_16")
    for path in ("/v1/predict", "/v1/timeline"):
        response = client.post(path, content=wide.getvalue())
        assert response.status_code == 413, response.text
        assert "655350 Hz x 8 channel(s) is 5242800 samples to decode" in response.json()["error"]


def test_a_fresh_service_answers_its_first_requests_at_once_and_alike(tmp_path) -> None:
    """`emovox serve` as a fresh machine starts it (an empty home and cache, no PyTorch), then
    twelve requests at once, the encoders not yet loaded: each answers 200 with what
    `emovox predict` prints for its clip (results/examples/demo.txt)."""
    import socket
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from conftest import ROOT_EXAMPLES, WITHOUT_TORCH, cold_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", WITHOUT_TORCH, "serve", "--port", str(port)],
                              env=cold_env(tmp_path / "home"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        clips = sorted(ROOT_EXAMPLES.glob("*.flac")) * 2
        with ThreadPoolExecutor(len(clips)) as pool:
            answers = list(pool.map(lambda c: httpx.post(f"{url}/v1/predict", content=c.read_bytes(),
                                                         timeout=120), clips))  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    expected = {}
    for line in (
        (Path(__file__).resolve().parents[1] / "results" / "examples" / "demo.txt").read_text().splitlines()
    ):
        path, label, percent, *_ = line.split()
        expected[Path(path).name] = (label, float(percent))
    for clip, answer in zip(clips, answers, strict=True):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["label"], round(100 * max(body["confidence"]), 1)) == expected[clip.name]
    assert "Traceback" not in server.stderr.read()

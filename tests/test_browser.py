"""The web page in a real browser: Debian's headless Chromium driven by Playwright, against the
service on a loopback port. Screenshots go to build/screenshots/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT_EXAMPLES, running_server
from PIL import Image

from emovox.audio import load_audio
from emovox.inference import EmotionPredictor
from emovox.service import create_app

SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists():
        message = "Debian chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def server():
    with running_server(create_app(EmotionPredictor.load())) as url:  # the bundled model: what users see
        yield url


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory, ravdess_clip) -> Path:
    """The RAVDESS clip as 16-bit WAV: what Chromium's fake capture device plays in a loop."""
    path = tmp_path_factory.mktemp("mic") / "clip.wav"
    sf.write(path, load_audio(ravdess_clip), 16_000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(fake_microphone):
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        yield instance
        instance.close()


def open_page(browser, server: str):
    """A page of the service, with every failed request and console error collected."""
    page = browser.new_page(viewport={"width": 1000, "height": 1100})
    problems: list[str] = []
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(server)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('emotions')")
    return page, problems


def colourful_share(png: bytes) -> float:
    """The share of an image's pixels that are clearly coloured (not white, grey or black)."""
    from io import BytesIO

    rgb = np.asarray(Image.open(BytesIO(png)).convert("RGB"), dtype=np.int16)
    return float(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).mean())


def test_upload_shows_the_emotion_and_a_bar_per_class(server, browser, ravdess_clip, tmp_path) -> None:
    page, problems = open_page(browser, server)
    page.check("#timeline-toggle")
    page.set_input_files("#file-input", ravdess_clip)
    page.wait_for_selector("#file-result:not([hidden])")
    page.wait_for_selector("#timeline:not([hidden])")
    labels = page.evaluate("fetch('/v1/models').then(r => r.json()).then(m => m.labels)")
    label = page.text_content("#file-label")
    assert label in labels
    assert page.locator("#file-bars .bar").count() == len(labels) == 7
    assert Path(ravdess_clip).name in page.text_content("#file-name")  # says which file it is for
    # "uncertain" shows exactly when the model says so
    assert page.is_hidden("#file-uncertain") != EmotionPredictor.load().predict(ravdess_clip).uncertain
    # the emoji is drawn in colour (a black-outline font would leave only grey pixels)
    assert colourful_share(page.locator("#file-emoji").screenshot()) > 0.2
    assert page.locator("#timeline-bar .segment").count() >= 1
    ticks = page.locator("#timeline-axis .tick").all_text_contents()
    assert len(ticks) >= 3 and ticks[0] == "0 s" and all(t.endswith(" s") for t in ticks)
    card = page.get_attribute("footer a", "href")
    assert page.evaluate(f"fetch('{card}').then(r => r.text())").startswith("# emovox model")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "upload.png"), full_page=True)
    # a long recording: one segment per clip on a time axis (the README's screenshot)
    page.set_input_files("#file-input", str(ROOT_EXAMPLES / "long" / "six_clips.flac"))
    page.wait_for_function("document.querySelectorAll('#timeline-bar .segment').length === 6")
    assert page.locator("#timeline-axis .tick").last.text_content() == "30 s"
    assert "six_clips.flac" in page.text_content("#file-name")
    page.screenshot(path=str(SCREENSHOTS / "timeline.png"), full_page=True)
    # by speaker (chosen after the upload: the same file again): two actors taking turns, one lane
    # each with their three clips and emotion shares
    page.select_option("#speakers-choice", "2")
    page.wait_for_function("document.querySelectorAll('#timeline-lanes .lane').length === 2")
    assert page.is_hidden("#timeline-bar")
    counts = [lane.locator(".segment").count() for lane in page.locator("#timeline-lanes .lane").all()]
    assert min(counts) >= 3  # a clip may be judged in two pieces
    names = page.locator("#timeline-lanes .lane-name").all_text_contents()
    assert names[0].startswith("S1 · ") and names[1].startswith("S2 · ") and all(" %" in n for n in names)
    page.screenshot(path=str(SCREENSHOTS / "speakers.png"), full_page=True)
    # a failed upload leaves nothing of the previous file on screen and says plainly what failed
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n" * 10)
    page.set_input_files("#file-input", str(bad))
    page.wait_for_selector("#file-error:not([hidden])")
    error = page.text_content("#file-error")
    assert "notes.wav" in error and "format not recognised" in error and "0x" not in error
    assert page.is_hidden("#file-result") and page.is_hidden("#timeline")
    assert problems == [
        "415 " + server + "/v1/predict",
        "Failed to load resource: the server responded with a status of 415 (Unsupported Media Type)",
    ]
    page.close()


def test_live_microphone_streams_smoothed_results(server, browser) -> None:
    page, problems = open_page(browser, server)
    page.click("#record-button")
    period = EmotionPredictor.load().stream().emit_every_ms / 1000  # 0.25 s: the live twin's blocks
    page.wait_for_function(f"Number(document.body.dataset.liveUpdates || 0) >= {round(20 / period)}",
                           timeout=60_000)  # fmt: skip
    assert page.text_content("#live-label").strip() != ""
    assert page.locator("#live-bars .bar").count() == 7
    assert page.text_content("#live-error").strip() == ""
    held = page.text_content("#live-held")
    assert held.startswith("for ") and held.endswith(" s")
    assert int(page.get_attribute("#live-chart", "data-time-ticks")) >= 4  # the chart has a time axis
    # a real clip on a loop (speech, pauses): the shown emotion (smoothed, and a new one shown once
    # it has led for 0.75 s) changes at most about every 2 s of audio, and less often than the raw one
    data = {k: int(v) for k, v in page.evaluate("({...document.body.dataset})").items()}
    seconds = data["liveUpdates"] * period
    assert data["liveChanges"] <= seconds / 2 and data["liveChanges"] < data["liveRawChanges"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "live.png"), full_page=True)
    page.click("#record-button")  # stop: the server sends its final decision
    page.wait_for_function("document.getElementById('live-status').textContent.startsWith('finished')")
    assert problems == []
    page.close()

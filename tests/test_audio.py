from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import voiced_signal, write_clip

from emovox.audio import (
    AudioConfig,
    frame_count,
    frame_signal,
    load_audio,
    nonsilent_mask,
    prepare_signal,
    trim_silence,
)
from emovox.errors import AudioError, ConfigError


def test_real_clip_is_mono_16k_peak_normalised(ravdess_clip: str) -> None:
    x = load_audio(ravdess_clip)
    assert x.dtype == np.float32 and x.ndim == 1
    assert np.max(np.abs(x)) == pytest.approx(1.0)
    assert 3.5 < len(x) / 16_000 < 4.5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("this is not audio\n" * 20), "not readable"),
        (lambda p: p.write_bytes(write_clip(p).read_bytes()[:30]), "not readable"),
    ],
    ids=["zero-bytes", "text-named-wav", "truncated-header"],
)
def test_unreadable_files_raise_audio_error(tmp_path, make, message) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=message):
        load_audio(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_paths_that_are_not_files_say_what_they_are(tmp_path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    for path, what in (
        (tmp_path, "is a directory"),
        (tmp_path / "pipe", "is a FIFO"),
        ("/dev/null", "is a device"),
    ):
        with pytest.raises(AudioError, match=what):
            load_audio(path)


def test_decoder_messages_carry_no_internals(tmp_path) -> None:
    import io

    for source, name in (
        (b"not audio" * 10, "the audio data (90 bytes)"),
        (io.BytesIO(b"x" * 50), "the audio stream"),
    ):
        with pytest.raises(AudioError) as caught:
            load_audio(source)
        assert str(caught.value) == f"{name}: not readable as audio (format not recognised)"


def test_nan_samples_raise(tmp_path) -> None:
    x = voiced_signal(0.5)
    x[100] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(tmp_path / "nan.wav")


def test_ten_ms_clip_is_too_short(tmp_path) -> None:
    write_clip(tmp_path / "short.wav", seconds=0.01)
    with pytest.raises(AudioError, match="shorter than one 25 ms frame"):
        load_audio(tmp_path / "short.wav")


def test_too_long_is_rejected_from_the_header(tmp_path) -> None:
    write_clip(tmp_path / "long.wav", seconds=2.0)
    with pytest.raises(AudioError, match="longer than the 1 s cap"):
        load_audio(tmp_path / "long.wav", AudioConfig(max_seconds=1.0))


def test_digital_silence_raises(tmp_path) -> None:
    sf.write(tmp_path / "zeros.wav", np.zeros(8000, dtype=np.float32), 16_000)
    with pytest.raises(AudioError, match="silence"):
        load_audio(tmp_path / "zeros.wav")


def test_eight_bit_wav_matches_sixteen_bit(tmp_path) -> None:
    a = load_audio(write_clip(tmp_path / "u8.wav", subtype="PCM_U8"))
    b = load_audio(write_clip(tmp_path / "s16.wav", subtype="PCM_16"))
    assert len(a) == len(b)
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_stereo_is_averaged(tmp_path) -> None:
    x = voiced_signal(0.5)
    sf.write(tmp_path / "stereo.wav", np.stack([x, 0.5 * x], axis=1), 16_000)
    y = load_audio(tmp_path / "stereo.wav")
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-3)  # (x + x/2)/2, then peak-normalised back to x


@pytest.mark.parametrize("rate", [8_000, 22_050, 48_000])
def test_other_rates_are_resampled(tmp_path, rate: int) -> None:
    path = write_clip(tmp_path / f"r{rate}.wav", seconds=0.5, sr=rate)
    y = load_audio(path)
    assert abs(len(y) - 8_000) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16_000 / len(y) - 150) < 5  # the 150 Hz fundamental survives


def test_flac_ogg_and_bytes(tmp_path) -> None:
    wav = load_audio(write_clip(tmp_path / "a.wav", subtype="PCM_16"))
    flac = load_audio(write_clip(tmp_path / "a.flac"))
    np.testing.assert_allclose(wav, flac, atol=1e-4)
    ogg = load_audio(write_clip(tmp_path / "a.ogg"))
    assert abs(len(ogg) - len(wav)) < 200
    from_bytes = load_audio((tmp_path / "a.flac").read_bytes())
    np.testing.assert_array_equal(from_bytes, flac)


def test_prepare_signal_shapes_and_dtypes() -> None:
    x = voiced_signal(0.2)
    pcm = (x * 32767).astype(np.int16)
    np.testing.assert_allclose(prepare_signal(pcm, 16_000), x, atol=1e-3)
    with pytest.raises(AudioError, match="shape"):
        prepare_signal(np.zeros((2, 3, 4)), 16_000)
    with pytest.raises(AudioError, match="empty"):
        prepare_signal(np.zeros(0), 16_000)
    with pytest.raises(AudioError, match="numbers"):
        prepare_signal(np.array(["a"] * 500), 16_000)
    with pytest.raises(AudioError, match="infinite"):
        prepare_signal(np.full(800, np.inf), 16_000)


def test_framing_follows_the_seed_grid() -> None:
    assert frame_count(399, 400, 160) == 0
    assert frame_count(400, 400, 160) == 1
    assert frame_count(16_000, 400, 160) == 98
    x = np.arange(1000, dtype=np.float32)
    frames = frame_signal(x, 400, 160)
    assert frames.shape == (4, 400)
    assert frames[1, 0] == 160 and frames[3, -1] == 879


def test_only_all_zero_frames_are_silent() -> None:
    frames = np.zeros((3, 400), dtype=np.float32)
    frames[1, 200] = 1e-9
    assert nonsilent_mask(frames).tolist() == [False, True, False]


def test_trim_cuts_quiet_edges_only() -> None:
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    x = np.concatenate([quiet, voiced_signal(0.5), quiet])
    trimmed = trim_silence(x, AudioConfig(trim_silence=True))
    assert 8000 <= len(trimmed) <= 8000 + 2 * 400
    assert len(prepare_signal(x, 16_000, AudioConfig(trim_silence=True))) == len(trimmed)
    assert len(prepare_signal(x, 16_000)) == len(x)  # trimming is off by default (seed)


@pytest.mark.parametrize(
    "kwargs",
    [{"sample_rate": 100}, {"hop_length": 0}, {"hop_length": 500}, {"trim_top_db": 0}, {"max_seconds": -1}],
)
def test_bad_config_values(kwargs) -> None:
    with pytest.raises(ConfigError):
        AudioConfig(**kwargs)


def test_has_sound_frame_agrees_with_framing_and_the_silent_frame_rule() -> None:
    from emovox.audio.framing import has_sound_frame

    rng = np.random.default_rng(0)
    for _ in range(300):
        x = np.zeros(int(rng.integers(0, 3000)), dtype=np.float32)
        if len(x):
            x[rng.integers(0, len(x), int(rng.integers(0, 4)))] = 0.5
        assert has_sound_frame(x, 400, 160) == bool(nonsilent_mask(frame_signal(x, 400, 160)).any())


def test_decoding_streams_in_bounded_memory_whatever_the_rate_and_channels(tmp_path) -> None:
    """60 s of 192 kHz stereo (23 M samples, 92 MB as float32) becomes 16 kHz mono with a peak
    of Python-side memory near the output's own 3.8 MB, and equal to a one-shot decode."""
    import tracemalloc

    import soxr

    from emovox.audio.io import decode_mono

    rate, seconds = 192_000, 60
    t = np.arange(rate * seconds) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1)
    sf.write(tmp_path / "hi.flac", stereo.astype(np.float32), rate, subtype="PCM_16")
    del t, stereo
    tracemalloc.start()
    mono = decode_mono(tmp_path / "hi.flac", 16_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(mono) == 16_000 * seconds and peak < 3 * mono.nbytes  # the output, its concatenation, a block
    whole, _ = sf.read(tmp_path / "hi.flac", dtype="float32", always_2d=True)
    reference = soxr.resample(whole.mean(axis=1), rate, 16_000, quality="HQ")
    assert np.max(np.abs(mono[1000:-1000] - reference[1000:-1000])) < 1e-3


def test_caps_on_length_and_decoded_samples_are_checked_from_the_header(tmp_path) -> None:
    from emovox.audio.io import decode_mono
    from emovox.errors import AudioTooLongError

    sf.write(tmp_path / "wide.flac", np.zeros((65_535, 8), dtype=np.int16), 65_535, subtype="PCM_16")
    with pytest.raises(AudioTooLongError, match=r"65535 Hz x 8 channel.* over the 100000-sample cap"):
        decode_mono(tmp_path / "wide.flac", 16_000, max_samples=100_000)
    with pytest.raises(AudioTooLongError, match=r"longer than the 0\.5 s cap"):
        decode_mono(tmp_path / "wide.flac", 16_000, max_seconds=0.5)
    assert len(decode_mono(tmp_path / "wide.flac", 16_000, max_samples=8 * 65_535)) == 16_000

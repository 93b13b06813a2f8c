from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import voiced_signal, write_clip

from emovox.augment import (
    AddNoise,
    AugmentedCopy,
    ChannelFilter,
    Compose,
    Gain,
    PitchShift,
    RandomCrop,
    Reverb,
    TimeStretch,
    WaveformAugment,
)
from emovox.cli import main
from emovox.corpora import read_corpus
from emovox.errors import ConfigError
from emovox.features import extract


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_noise_hits_the_requested_snr() -> None:
    x = voiced_signal(1.0)
    y = AddNoise(min_snr_db=20, max_snr_db=20)(x, rng())
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y - x).astype(np.float64) ** 2))
    assert snr == pytest.approx(20, abs=0.5)


def test_gain_pitch_and_stretch() -> None:
    x = voiced_signal(1.0, f0=200.0)
    np.testing.assert_allclose(Gain(min_db=6, max_db=6)(x, rng()), x * 10 ** (6 / 20), rtol=1e-6)
    shifted = PitchShift(min_semitones=12, max_semitones=12)(x, rng())
    assert len(shifted) == len(x)
    spectrum = np.abs(np.fft.rfft(shifted))
    assert abs(np.argmax(spectrum) * 16_000 / len(x) - 400) < 10  # an octave up
    assert len(TimeStretch(min_rate=2.0, max_rate=2.0)(x, rng())) == pytest.approx(len(x) / 2, rel=0.02)


def test_random_crop_cuts_a_short_stretch_of_the_clip() -> None:
    x = np.arange(64_000, dtype=np.float32)  # 4 s whose samples say where they came from
    crops = [RandomCrop(min_seconds=0.5, max_seconds=1.0)(x, rng(seed)) for seed in range(20)]
    assert all(8_000 <= len(c) <= 16_000 and np.all(np.diff(c) == 1) for c in crops)  # one stretch
    assert len({c[0] for c in crops}) == 20 and max(c[-1] for c in crops) > 48_000  # from anywhere
    paused = np.concatenate([voiced_signal(1.0), np.zeros(48_000, np.float32), voiced_signal(1.0)])
    for seed in range(20):  # a 3 s pause inside the clip: no window falls on it
        assert np.abs(RandomCrop(min_seconds=1.0, max_seconds=1.0)(paused, rng(seed))).max() > 0.1
    short = voiced_signal(0.3)
    np.testing.assert_array_equal(RandomCrop(min_seconds=0.5, max_seconds=1.0)(short, rng()), short)
    two = WaveformAugment(copies=2, crop_copies=1, noise_p=0.5)
    assert [type(t).__name__ for t in two.chain(0).transforms] == ["AddNoise"]  # the first copy: whole
    assert two.chain(1).transforms[0] == RandomCrop(1.0)  # the last: cut short, then noise


def band_energy(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 16_000)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_channel_filter_band_limits_and_reverb_adds_a_decaying_tail() -> None:
    x = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    y = ChannelFilter(min_highpass_hz=300, max_highpass_hz=300, min_lowpass_hz=3400, max_lowpass_hz=3400)(
        x, rng()
    )
    assert len(y) == len(x) and y.dtype == np.float32
    assert band_energy(y, 5000, 8000) < 0.01 * band_energy(x, 5000, 8000)  # telephone-like band
    assert band_energy(y, 50, 100) < 0.1 * band_energy(x, 50, 100)
    assert band_energy(y, 1000, 2000) > 0.3 * band_energy(x, 1000, 2000)
    click = np.zeros(16_000, np.float32)
    click[100] = 1.0
    wet = Reverb(min_rt60=0.5, max_rt60=0.5, min_drr_db=0, max_drr_db=0)(click, rng())
    early, late = np.abs(wet[200:2200]).mean(), np.abs(wet[6000:8000]).mean()
    assert wet[100] == pytest.approx(1.0) and early > 0 and late < early / 5  # decays over time
    np.testing.assert_array_equal(Reverb()(x, rng(1)), Reverb()(x, rng(1)))


def test_transforms_are_seeded_and_optional() -> None:
    x = voiced_signal(0.5)
    chain = Compose((AddNoise(), Gain(p=0.5)))
    np.testing.assert_array_equal(chain(x, rng(3)), chain(x, rng(3)))
    assert not np.array_equal(chain(x, rng(3)), chain(x, rng(4)))
    np.testing.assert_array_equal(AddNoise(p=0.0)(x, rng()), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AddNoise(min_snr_db=30, max_snr_db=10),
        lambda: Gain(p=1.5),
        lambda: PitchShift(max_semitones=20),
        lambda: TimeStretch(min_rate=0.1),
        lambda: ChannelFilter(min_lowpass_hz=9000, max_lowpass_hz=9000),
        lambda: Reverb(max_rt60=5.0),
        lambda: RandomCrop(min_seconds=2.0, max_seconds=1.0),
        lambda: WaveformAugment(copies=1, crop_copies=1, min_crop_seconds=0.0),
        lambda: WaveformAugment(copies=1, crop_copies=2),
        lambda: WaveformAugment(copies=1),
        lambda: WaveformAugment(copies=-1),
    ],
)
def test_bad_arguments(make) -> None:
    with pytest.raises(ConfigError):
        make()


def test_augmented_copies_are_reproducible_anywhere() -> None:
    x = voiced_signal(0.5)
    chain = Compose((AddNoise(),))
    first = AugmentedCopy(chain, copy=0)
    assert np.array_equal(first(x, "/a/clip.wav", 16_000), first(x, "/elsewhere/clip.wav", 16_000))
    assert not np.array_equal(
        first(x, "/a/clip.wav", 16_000), AugmentedCopy(chain, 1)(x, "/a/clip.wav", 16_000)
    )


def test_extract_caches_copies_apart_from_clean(tmp_path) -> None:
    for i in range(2):
        write_clip(tmp_path / "c" / "happy" / f"{i}.wav", seconds=0.5)
    manifest = read_corpus("folder", tmp_path / "c")
    cache = tmp_path / "cache"
    clean = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False)["utterance110"]
    variant = AugmentedCopy(Compose((AddNoise(min_snr_db=5, max_snr_db=5),)), 0)
    noisy = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False, variant=variant)
    assert not np.allclose(clean.values, noisy["utterance110"].values)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2
    again = extract(manifest, ["utterance110"], cache_dir=cache, jobs=2, progress=False, variant=variant)
    np.testing.assert_array_equal(again["utterance110"].values, noisy["utterance110"].values)


def test_cv_with_augmented_copies(tmp_path, monkeypatch) -> None:
    from test_evaluation import write_config

    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path / "cache"))
    config = write_config(tmp_path, "svm")
    out = tmp_path / "run"
    overrides = ["--set", "waveform.copies=1", "--set", "waveform.noise_p=1.0"]
    assert main(["cv", config, "--out", str(out), "--quiet", *overrides]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["waveform"]["copies"] == 1 and len(report["folds"]) == 10

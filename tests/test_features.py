from __future__ import annotations

import os
import sys
import time

import librosa
import numpy as np
import pytest
from conftest import voiced_signal, write_clip

from emovox.audio import load_audio
from emovox.corpora import Manifest, read_corpus
from emovox.errors import ConfigError, FeatureError
from emovox.features import (
    ComParE,
    EGeMAPS,
    Enhanced392,
    FeatureSet,
    FeatureTable,
    FrameMfcc,
    MfccConfig,
    Utterance110,
    UtteranceConfig,
    extract,
    get_extractor,
)

BUILT_IN = ["mfcc", "utterance110", "enhanced392", "egemaps"]


@pytest.fixture(scope="module")
def clip(ravdess_clip: str) -> np.ndarray:
    return load_audio(ravdess_clip)


@pytest.mark.parametrize(
    ("name", "dim"), [("mfcc", 13), ("utterance110", 110), ("enhanced392", 392), ("egemaps", 88)]
)
def test_dimensions_and_names(clip: np.ndarray, name: str, dim: int) -> None:
    extractor = get_extractor(name)
    values = extractor(clip)
    assert extractor.dim == dim == values.shape[-1]
    assert len(set(extractor.feature_names)) == dim
    assert values.dtype == np.float32 and np.all(np.isfinite(values))


def test_compare_2016_dimension(clip: np.ndarray) -> None:
    values = ComParE()(clip[:16_000])
    assert values.shape == (6373,) and np.all(np.isfinite(values))


def test_enhanced_is_a_superset_of_the_110(clip: np.ndarray) -> None:
    small, large = Utterance110(), Enhanced392()
    assert large.feature_names[:110] == small.feature_names
    np.testing.assert_allclose(large(clip)[:110], small(clip), rtol=1e-6)


def test_mfcc_matches_librosa_on_the_same_frames(clip: np.ndarray) -> None:
    config = MfccConfig(skip_silent=False)
    ours = FrameMfcc(config)(clip)
    # librosa centres a 400-sample window in each 512-sample frame: shift by 56 to align the grids
    shifted = np.concatenate([np.zeros(56, dtype=np.float32), clip])
    mel = librosa.feature.melspectrogram(
        y=shifted, sr=16_000, n_fft=512, win_length=400, hop_length=160, center=False, n_mels=40
    )
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    reference = librosa.feature.mfcc(S=db, n_mfcc=13, norm="ortho").T
    n = min(len(reference), len(ours))
    assert n > 0.95 * len(ours)
    np.testing.assert_allclose(ours[:n], reference[:n], rtol=1e-3, atol=2e-2)


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmin", "fmax"),
    [(16_000, 512, 40, 0.0, 8000.0), (22_050, 2048, 128, 20.0, 11_025.0)],
)
def test_filterbanks_equal_librosa(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> None:
    from emovox.features.dsp import chroma_filterbank, mel_filterbank

    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    reference = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T
    np.testing.assert_allclose(ours, reference, atol=1e-7)
    np.testing.assert_allclose(
        chroma_filterbank(sr, n_fft), librosa.filters.chroma(sr=sr, n_fft=n_fft).T, atol=1e-6
    )


def test_silent_frames_are_skipped() -> None:
    x = voiced_signal(0.5)
    gap = np.concatenate([x, np.zeros(1600, dtype=np.float32), x])
    extractor = FrameMfcc()
    with_gap = extractor(gap)
    no_skip = FrameMfcc(MfccConfig(skip_silent=False))(gap)
    assert len(no_skip) - len(with_gap) == 1600 // 160 - 2  # frames wholly inside the gap


def test_streaming_equals_offline_for_random_chunks(clip: np.ndarray) -> None:
    extractor = FrameMfcc()
    offline = extractor(clip)
    rng = np.random.default_rng(1)
    for high in (2, 50, 4000):  # chunk sizes down to one sample
        stream = extractor.stream()
        signal = clip if high > 2 else clip[:8000]
        parts, i = [], 0
        while i < len(signal):
            n = int(rng.integers(1, high + 1))
            parts.append(stream.push(signal[i : i + n]))
            i += n
        online = np.concatenate(parts)
        expected = offline if high > 2 else extractor(signal)
        assert online.shape == expected.shape
        # same frames; values equal to float32 rounding (BLAS may pick another kernel per batch size)
        assert np.max(np.abs(online - expected)) <= 1e-6 * np.max(np.abs(expected))
    stream.reset()
    assert stream.push(clip[:399]).shape == (0, 13)


def test_pitch_of_a_synthetic_vowel() -> None:
    extractor = Enhanced392()
    values = dict(zip(extractor.feature_names, extractor(voiced_signal(1.0, f0=150.0)), strict=True))
    assert values["f0_semitone_mean"] == pytest.approx(12 * np.log2(150 / 27.5), abs=0.3)
    assert values["voiced_fraction"] > 0.9
    noise = np.random.default_rng(0).uniform(-1, 1, 16_000).astype(np.float32)
    noisy = dict(zip(extractor.feature_names, extractor(noise), strict=True))
    assert noisy["voiced_fraction"] < 0.1


def test_opensmile_full_scale_sample_does_not_wrap() -> None:
    x = voiced_signal(1.0)
    x[x.argmax()] = 1.0
    np.testing.assert_allclose(EGeMAPS()(x), EGeMAPS()(x * np.float32(0.999)), rtol=0.02, atol=0.05)


def test_opensmile_too_short_is_a_feature_error() -> None:
    with pytest.raises(FeatureError, match="too short"):
        EGeMAPS()(voiced_signal(0.03))


def test_bad_names_configs_and_shapes() -> None:
    with pytest.raises(FeatureError, match="unknown feature set"):
        get_extractor("mfcc40")
    with pytest.raises(ConfigError):
        MfccConfig(n_mfcc=0)
    with pytest.raises(ConfigError):
        MfccConfig(n_fft=256)
    with pytest.raises(ConfigError):
        UtteranceConfig(pitch_fmin=600.0)
    with pytest.raises(FeatureError, match="expected"):
        Utterance110().check(np.zeros((3, 110)))
    assert get_extractor(FeatureSet.EGEMAPS).name == "egemaps"


@pytest.fixture(scope="module")
def small_manifest(ravdess: Manifest, emodb: Manifest) -> Manifest:
    return ravdess[::144] + emodb[::107]


def test_extract_parallel_equals_serial_and_is_finite(small_manifest: Manifest, tmp_path) -> None:
    parallel = extract(small_manifest, BUILT_IN, jobs=2, cache_dir=None, progress=False)
    serial = extract(small_manifest, BUILT_IN, jobs=1, cache_dir=None, progress=False)
    for name in BUILT_IN:
        np.testing.assert_array_equal(parallel[name].values, serial[name].values)
        assert np.all(np.isfinite(parallel[name].values))
    frames = parallel["mfcc"]
    assert frames.offsets is not None and len(frames.offsets) == len(small_manifest) + 1
    assert parallel["utterance110"].values.shape == (len(small_manifest), 110)


def test_extract_on_ray_gives_the_local_tables_and_cache(small_manifest: Manifest, tmp_path) -> None:
    """Ray Data on a local Ray with 2 CPUs: the same arrays, and cache entries the local engine
    then reads instead of extracting again."""
    sets = ["mfcc", "utterance110"]
    local = extract(small_manifest, sets, jobs=2, cache_dir=None, progress=False)
    on_ray = extract(small_manifest, sets, jobs=2, cache_dir=tmp_path, progress=False, engine="ray")
    for name in sets:
        np.testing.assert_array_equal(on_ray[name].values, local[name].values)
        assert len(list(tmp_path.glob(f"{name}*/*/*.npy"))) == len(small_manifest)
    with pytest.MonkeyPatch.context() as patch:  # warm: nothing left to extract
        extraction = sys.modules["emovox.features.extract"]  # the module, not the function
        patch.setattr(extraction, "_outcomes", lambda *a: pytest.fail("extracted again"))
        warm = extract(small_manifest, sets, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(warm["mfcc"].values, local["mfcc"].values)
    with pytest.raises(ConfigError, match="ray engine"):
        extract(small_manifest, sets, ray_address="auto", progress=False)


def test_cache_is_reused_and_invalidated(tmp_path) -> None:
    clips = tmp_path / "clips" / "happy"
    paths = [write_clip(clips / f"s{i}.wav", seconds=0.5) for i in range(3)]
    manifest = read_corpus("folder", tmp_path / "clips")
    cache = tmp_path / "cache"
    cold = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False)
    entries = sorted(cache.rglob("*.npy"))
    assert len(entries) == 3
    warm = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False)
    np.testing.assert_array_equal(cold["utterance110"].values, warm["utterance110"].values)
    write_clip(paths[0], seconds=0.8)  # the clip changes: its entry must not be reused
    os.utime(paths[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    entries[0].write_bytes(b"torn")  # a corrupt entry is recomputed, not trusted
    changed = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False)
    assert len(list(cache.rglob("*.npy"))) == 4
    assert not np.array_equal(changed["utterance110"].values[0], cold["utterance110"].values[0])


def test_failures_name_the_files(tmp_path) -> None:
    write_clip(tmp_path / "c" / "happy" / "good.wav")
    (tmp_path / "c" / "happy" / "broken.wav").write_bytes(b"RIFF....junk")
    manifest = read_corpus("folder", tmp_path / "c")
    with pytest.raises(FeatureError, match=r"1 clip\(s\) failed:\n.*broken.wav"):
        extract(manifest, ["mfcc"], cache_dir=None, jobs=2, progress=False)
    with pytest.raises(FeatureError, match="twice"):
        extract(manifest, ["mfcc", "mfcc"], cache_dir=None, progress=False)


@pytest.mark.parametrize("name", ["mfcc", "utterance110"])
def test_feature_table_round_trip(small_manifest: Manifest, tmp_path, name: str) -> None:
    table = extract(small_manifest, [name], cache_dir=None, progress=False)[name]
    table.save(tmp_path / "t.npz")
    again = FeatureTable.load(tmp_path / "t.npz")
    assert again.name == name and again.feature_names == table.feature_names
    np.testing.assert_array_equal(again.values, table.values)
    assert again.manifest.utterances == table.manifest.utterances
    np.testing.assert_array_equal(again[3], table[3])
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        assert data["labels"].tolist() == small_manifest.label_indices()


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.uniform(-1, 1, 400),  # exactly one frame
        lambda rng: np.concatenate([np.zeros(16_000), rng.uniform(-1, 1, 500), np.zeros(16_000)]),
        lambda rng: np.full(8000, 0.5) + 1e-3 * rng.standard_normal(8000),  # DC offset
        lambda rng: np.concatenate([np.zeros(8000), [1.0], np.zeros(8000)]),  # a lone click
    ],
    ids=["one-frame", "mostly-digital-silence", "dc-offset", "lone-click"],
)
def test_own_sets_stay_finite_on_odd_signals(make) -> None:
    from emovox.audio import prepare_signal

    signal = prepare_signal(make(np.random.default_rng(0)).astype(np.float32), 16_000)
    for name in ("mfcc", "utterance110", "enhanced392"):
        values = get_extractor(name)(signal)
        assert values.shape[-1] == get_extractor(name).dim and len(values) > 0
        assert np.all(np.isfinite(values)), name


def test_combined_sets(clip: np.ndarray) -> None:
    combined = get_extractor("egemaps+utterance110")
    values = combined(clip)
    assert combined.dim == 88 + 110 == len(values) == len(set(combined.feature_names))
    np.testing.assert_allclose(values[88:], Utterance110()(clip), rtol=1e-6)
    with pytest.raises(FeatureError, match="utterance-level"):
        get_extractor("mfcc+utterance110")
    with pytest.raises(FeatureError, match="twice"):
        get_extractor("egemaps+egemaps")


def test_cache_entries_that_cannot_be_trusted_are_recomputed(tmp_path) -> None:
    """An empty file, a directory, or an array of the wrong shape in an entry's place."""
    clips = tmp_path / "clips" / "happy"
    for i in range(3):
        write_clip(clips / f"s{i}.wav", seconds=0.5)
    manifest = read_corpus("folder", tmp_path / "clips")
    cache = tmp_path / "cache"
    cold = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False)["utterance110"].values
    entries = sorted(cache.rglob("*.npy"))
    entries[0].write_bytes(b"")
    entries[1].unlink()
    entries[1].mkdir()
    np.save(entries[2], np.zeros((3, 7), dtype=np.float32))
    again = extract(manifest, ["utterance110"], cache_dir=cache, jobs=1, progress=False)[
        "utterance110"
    ].values
    np.testing.assert_array_equal(again, cold)
    assert all(e.is_file() and np.load(e).shape == (110,) for e in entries)


def test_a_combination_is_its_cached_parts_side_by_side(ravdess, tmp_path) -> None:
    clips = ravdess[:3]
    both = extract(clips, ["egemaps+utterance110"], cache_dir=tmp_path, jobs=1, progress=False)
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["egemaps", "utterance110"]
    parts = extract(clips, ["utterance110", "egemaps"], cache_dir=tmp_path, jobs=1, progress=False)
    table = both["egemaps+utterance110"]
    side_by_side = np.hstack([parts["egemaps"].values, parts["utterance110"].values])
    np.testing.assert_array_equal(table.values, side_by_side)
    assert table.feature_names == get_extractor("egemaps+utterance110").feature_names

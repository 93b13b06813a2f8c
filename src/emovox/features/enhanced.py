"""The enhanced 392-dim utterance set: the 110 plus prosody, voice quality and richer spectra.

Groups (dims): the 110 | delta-delta MFCC mean/std (26) | MFCC skewness/kurtosis (26) |
MFCC p10/p90 (26) | log-mel mean/std (80) | log-mel delta std (40) | f0 (10) | voicing (6) |
HNR (4) | frame-level jitter/shimmer (2) | flatness, bandwidth, flux, slope, entropy x
(mean, std, p10, p50, p90) (25) | RMS dB contour (6) | ZCR, centroid, roll-off percentiles (9) |
alpha ratio, Hammarberg index (4) | band energy ratios (12) | contour dynamics (6).
"""

from __future__ import annotations

import numpy as np

from emovox.features.dsp import (
    LOG_FLOOR,
    deltas,
    mean_std,
    percentiles,
    skew_kurtosis,
    slope_per_second,
)
from emovox.features.utterance import (
    AnalysisExtractor,
    SignalAnalysis,
    UtteranceConfig,
    _names,
    _numbered,
    base110_names,
    base110_values,
)

ENHANCED_DIM = 392
SPECTRAL = ("flatness", "bandwidth", "flux", "slope", "entropy")
FIVE_STATS = ("mean", "std", "p10", "p50", "p90")
ENERGY_BANDS = ((0, 250), (250, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 8000))
F0_STATS = ("mean", "std", "min", "max", "p10", "p50", "p90", "range", "slope", "mean_abs_delta")
VOICING = ("voiced_fraction", "voiced_segments_per_s", "voiced_segment_mean_s",
           "unvoiced_segment_mean_s", "voicing_strength_mean", "voicing_strength_std")  # fmt: skip
RMS_STATS = ("p10", "p50", "p90", "range", "slope", "skew")
DYNAMICS = ("rms_rising_slope", "rms_falling_slope", "f0_rising_slope", "f0_falling_slope",
            "rms_peaks_per_s", "f0_skew")  # fmt: skip


def enhanced_names(config: UtteranceConfig) -> tuple[str, ...]:
    mfcc = _numbered(config.mfcc.n_mfcc)
    mels = _numbered(config.mfcc.n_mels)
    names = list(base110_names(config))
    names += _names("mfcc_delta2", ("mean", "std"), mfcc)
    names += _names("mfcc", ("skew", "kurtosis", "p10", "p90"), mfcc)
    names += _names("logmel", ("mean", "std"), mels) + _names("logmel_delta", ("std",), mels)
    names += [f"f0_semitone_{s}" for s in F0_STATS] + list(VOICING)
    names += [f"hnr_db_{s}" for s in ("mean", "std", "p10", "p90")]
    names += ["jitter_frame", "shimmer_frame_db"]
    names += [f"{d}_{s}" for d in SPECTRAL for s in FIVE_STATS]
    names += [f"rms_db_{s}" for s in RMS_STATS]
    names += [f"{d}_{p}" for d in ("zcr", "centroid", "rolloff") for p in ("p10", "p50", "p90")]
    names += ["alpha_ratio_mean", "alpha_ratio_std", "hammarberg_mean", "hammarberg_std"]
    bands = tuple(f"{lo}_{hi}hz" for lo, hi in ENERGY_BANDS)
    names += _names("band_energy_db", ("mean", "std"), bands)
    names += list(DYNAMICS)
    return tuple(names)


def _segments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths (in frames) of True runs and of False runs in a boolean contour."""
    if len(mask) == 0:
        return np.zeros(0), np.zeros(0)
    change = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [len(mask)]])
    lengths = np.diff(bounds)
    values = mask[bounds[:-1]]
    return lengths[values], lengths[~values]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0


def _rising_falling(contour: np.ndarray, step_s: float) -> tuple[float, float]:
    """Mean positive and mean negative slope (units per second) of consecutive values."""
    d = np.diff(contour) / step_s
    return _mean(d[d > 0]), _mean(d[d < 0])


def _spectral(a: SignalAnalysis) -> list[np.ndarray]:
    power, mag, freqs = a.power, a.magnitude, a.freqs
    log_power = np.log(np.maximum(power, np.float32(LOG_FLOOR)))
    flatness = np.exp(log_power.mean(axis=1)) / np.maximum(power.mean(axis=1), LOG_FLOOR)
    # spread around the centroid from raw moments: no (frames, bins) temporary
    second_moment = (mag @ (freqs * freqs)) / a.magnitude_sum
    bandwidth = np.sqrt(np.maximum(second_moment - a.centroid**2, 0.0))
    unit = mag / a.magnitude_sum[:, None]
    flux = np.concatenate([[0.0], np.sqrt((np.diff(unit, axis=0) ** 2).sum(axis=1))])
    khz = freqs / 1000.0 - (freqs / 1000.0).mean()
    slope = log_power @ (khz * (10.0 / np.log(10.0)) / (khz @ khz))  # dB per kHz
    total = np.maximum(power.sum(axis=1), LOG_FLOOR)
    entropy = (np.log(total) - (power * log_power).sum(axis=1) / total) / np.log(power.shape[1])
    contours = np.stack([flatness, bandwidth, flux, slope, entropy], axis=1).astype(np.float64)
    mean, std = mean_std(contours)
    pct = percentiles(contours, (10, 50, 90))
    return [np.stack([mean, std, *pct], axis=1).reshape(-1)]


def _band_energy(a: SignalAnalysis) -> list[np.ndarray]:
    power = a.power.astype(np.float64)
    freqs = a.freqs
    total = np.maximum(power.sum(axis=1), LOG_FLOOR)

    def band(lo: float, hi: float) -> np.ndarray:
        return power[:, (freqs >= lo) & (freqs < hi)]

    ratios = np.stack(
        [10 * np.log10(np.maximum(band(lo, hi).sum(axis=1), LOG_FLOOR) / total)
         for lo, hi in ENERGY_BANDS], axis=1)  # fmt: skip
    alpha = 10 * np.log10(
        np.maximum(band(50, 1000).sum(axis=1), LOG_FLOOR)
        / np.maximum(band(1000, 5000).sum(axis=1), LOG_FLOOR)
    )
    hammarberg = 10 * np.log10(
        np.maximum(band(0, 2000).max(axis=1), LOG_FLOOR) / np.maximum(band(2000, 5000).max(axis=1), LOG_FLOOR)
    )
    ah = np.stack([alpha, hammarberg], axis=1)
    return [np.stack(mean_std(ah), axis=1).reshape(-1), *mean_std(ratios)]


def enhanced_values(a: SignalAnalysis) -> np.ndarray:
    step = a.config.mfcc.hop_length / a.sr
    parts: list[np.ndarray] = [base110_values(a)]
    parts.extend(mean_std(deltas(a.mfcc_delta)))
    parts.extend(skew_kurtosis(a.mfcc))
    parts.extend(percentiles(a.mfcc, (10, 90)))
    mel, _ = a.config.mfcc.filters()
    log_mel = 10.0 * np.log10(np.maximum(a.power @ mel, LOG_FLOOR))
    parts.extend(mean_std(log_mel))
    parts.append(mean_std(deltas(log_mel))[1])

    f0, strength, voiced, pitch_rms = a.pitch
    semitones = 12.0 * np.log2(f0[voiced] / 27.5)
    times = np.flatnonzero(voiced) * step
    p10, p50, p90 = percentiles(semitones[:, None], (10, 50, 90))[:, 0]
    lo, hi = (semitones.min(), semitones.max()) if len(semitones) else (0.0, 0.0)
    f0_mean, f0_std = (float(v[0]) for v in mean_std(semitones[:, None]))
    parts.append(np.array([f0_mean, f0_std, lo, hi, p10, p50, p90, hi - lo,
                           slope_per_second(semitones, times),
                           _mean(np.abs(np.diff(semitones)))]))  # fmt: skip
    voiced_runs, unvoiced_runs = _segments(voiced)
    duration = max(len(voiced) * step, step)
    strength_mean, strength_std = (float(v[0]) for v in mean_std(strength[:, None]))
    parts.append(np.array([_mean(voiced.astype(float)), len(voiced_runs) / duration,
                           _mean(voiced_runs) * step, _mean(unvoiced_runs) * step,
                           strength_mean, strength_std]))  # fmt: skip
    r = np.clip(strength[voiced], 1e-4, 1 - 1e-4)
    hnr = 10.0 * np.log10(r / (1.0 - r))[:, None]
    parts.append(np.concatenate([*mean_std(hnr), *percentiles(hnr, (10, 90))]))

    # frame-level proxies of jitter and shimmer over consecutive voiced frames
    both = voiced[1:] & voiced[:-1]
    periods = 1.0 / np.maximum(f0, 1.0)
    jitter = _mean(np.abs(np.diff(periods))[both]) / max(_mean(periods[voiced]), 1e-9)
    shimmer = _mean(np.abs(20 * np.diff(np.log10(np.maximum(pitch_rms, LOG_FLOOR))))[both])
    parts.append(np.array([jitter, shimmer]))

    parts.extend(_spectral(a))
    rms_db = 20.0 * np.log10(np.maximum(a.rms.astype(np.float64), LOG_FLOOR))
    q10, q50, q90 = percentiles(rms_db[:, None], (10, 50, 90))[:, 0]
    parts.append(np.array([q10, q50, q90, q90 - q10, slope_per_second(rms_db, a.frame_times),
                           skew_kurtosis(rms_db[:, None])[0][0]]))  # fmt: skip
    contours = np.stack([a.zcr, a.centroid, a.rolloff], axis=1).astype(np.float64)
    parts.append(percentiles(contours, (10, 50, 90)).T.reshape(-1))
    parts.extend(_band_energy(a))

    smooth = np.convolve(rms_db, np.ones(5) / 5, mode="same") if len(rms_db) >= 5 else rms_db
    inner = smooth[1:-1]
    peaks = np.sum((inner > smooth[:-2]) & (inner >= smooth[2:]) & (inner > np.median(smooth)))
    rms_up, rms_down = _rising_falling(rms_db, step)
    f0_up, f0_down = _rising_falling(semitones, step)
    parts.append(np.array([rms_up, rms_down, f0_up, f0_down, peaks / duration,
                           skew_kurtosis(semitones[:, None])[0][0]]))  # fmt: skip
    values = np.concatenate([np.atleast_1d(np.asarray(p, dtype=np.float64)) for p in parts])
    return values.astype(np.float32)


class Enhanced392(AnalysisExtractor):
    """392 named dims for the CNN models; a superset of `Utterance110` (its first 110 dims)."""

    name = "enhanced392"
    names_for = staticmethod(enhanced_names)

    def from_analysis(self, analysis: SignalAnalysis) -> np.ndarray:
        return enhanced_values(analysis)


if len(enhanced_names(UtteranceConfig())) != ENHANCED_DIM:  # pragma: no cover - a design check
    raise AssertionError(f"enhanced set has {len(enhanced_names(UtteranceConfig()))} names")

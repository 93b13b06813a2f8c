"""Cutting a long recording into the stretches a clip-level model can judge: speech found by
frame energy (pauses end a segment) or a speaker's turns (`emovox.inference.diarisation`), long
speech cut into pieces, or fixed windows only."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from emovox.audio.framing import frame_signal
from emovox.errors import ConfigError, choice


class Segmentation(StrEnum):
    SILENCE = "silence"  # speech between pauses, long stretches cut into windows
    WINDOWS = "windows"  # fixed windows over everything


@dataclass(frozen=True)
class SegmentConfig:
    """Energy-based speech detection on 25 ms / 10 ms frames.

    A frame is speech when its energy is within `top_db` of the recording's loudest frames (the
    95th percentile, so a click does not set the scale); pauses shorter than `min_pause` do not
    split, speech shorter than `min_speech` is dropped, and speech longer than `max_segment` is
    cut into equal windows of at most that length.

    Each segment keeps up to `context` seconds of the pauses around it (at most half of each
    pause, so segments never overlap): the models learnt from clips with lead-in and lead-out
    silence, and judge bare speech differently. Digital silence (exact zeros) at a segment's
    edges is cut off, so a clip set into a recording between gaps of zeros comes back as exactly
    that clip, and gets the clip's own prediction.
    """

    mode: Segmentation = Segmentation.SILENCE
    top_db: float = 35.0
    min_pause: float = 0.3
    min_speech: float = 0.3
    max_segment: float = 4.0
    context: float = 1.5
    window: float = 3.0  # windows mode
    hop: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", choice(Segmentation, self.mode, "segmentation mode"))
        if self.top_db <= 0 or self.min_pause < 0 or self.min_speech < 0 or self.context < 0:
            raise ConfigError("top_db must be > 0 and min_pause, min_speech, context >= 0")
        if self.max_segment <= 0.1 or self.window <= 0.1 or self.hop <= 0:
            raise ConfigError("max_segment and window must be > 0.1 s and hop > 0")


def windows(start: float, end: float, length: float, hop: float) -> list[tuple[float, float]]:
    """Windows of `length` every `hop` over [start, end); the last one ends at `end`."""
    if end - start <= length:
        return [(start, end)]
    out = [(float(t), float(t) + length) for t in np.arange(start, end - length + 1e-9, hop)]
    if out[-1][1] < end - 1e-9:  # cover the tail with one more full-length window
        out.append((end - length, end))
    return out


def speech_spans(signal: np.ndarray, sample_rate: int, config: SegmentConfig) -> list[tuple[float, float]]:
    """(start, end) seconds of speech by the energy rule, before long ones are cut."""
    frame, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
    frames = frame_signal(signal, frame, hop)
    if len(frames) == 0:
        return [(0.0, len(signal) / sample_rate)]
    energy = 10 * np.log10(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frame + 1e-12)
    speech = energy >= np.percentile(energy, 95) - config.top_db
    spans: list[list[float]] = []
    for index in np.flatnonzero(speech):
        start, end = index * hop / sample_rate, (index * hop + frame) / sample_rate
        if spans and start - spans[-1][1] < config.min_pause:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(a, b) for a, b in spans if b - a >= config.min_speech]


def pieces(
    signal: np.ndarray, sample_rate: int, spans: list[tuple[float, float]], config: SegmentConfig
) -> list[tuple[float, float, int]]:
    """(start, end, span index): each span of speech cut into equal pieces of at most
    `max_segment`, its first and last piece widened by up to `context` seconds into the pauses
    around it (half of each pause at most, none where the next span starts at once: another
    speaker's turn is not context), digital silence trimmed from the edges."""
    duration = len(signal) / sample_rate
    out: list[tuple[float, float, int]] = []
    for i, (start, end) in enumerate(spans):
        count = int(np.ceil((end - start) / config.max_segment))
        edges = np.linspace(start, end, count + 1)
        before = spans[i - 1][1] if i else 0.0  # pauses are shared with the neighbours
        after = spans[i + 1][0] if i + 1 < len(spans) else duration
        edges[0] = max(start - config.context, (before + start) / 2 if i else 0.0)
        edges[-1] = min(end + config.context, (end + after) / 2 if i + 1 < len(spans) else duration)
        out += [
            (*trim_zeros(signal, sample_rate, float(a), float(b)), i) for a, b in itertools.pairwise(edges)
        ]
    return out


def speech_segments(signal: np.ndarray, sample_rate: int, config: SegmentConfig) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches to classify, in order."""
    if config.mode is Segmentation.WINDOWS:
        return windows(0.0, len(signal) / sample_rate, config.window, config.hop)
    return [
        (a, b) for a, b, _ in pieces(signal, sample_rate, speech_spans(signal, sample_rate, config), config)
    ]


def trim_zeros(signal: np.ndarray, sample_rate: int, start: float, end: float) -> tuple[float, float]:
    """(start, end) narrowed to exclude digital silence at both edges (kept whole if all zero)."""
    first, last = round(start * sample_rate), round(end * sample_rate)
    nonzero = np.flatnonzero(signal[first:last])
    if len(nonzero) == 0:
        return start, end
    return (first + int(nonzero[0])) / sample_rate, (first + int(nonzero[-1]) + 1) / sample_rate

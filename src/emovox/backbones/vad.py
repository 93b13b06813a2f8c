"""Is there speech at all? Silero's voice-activity detector (v6, MIT), its whole-sequence ONNX
graph as the silero-vad package ships it (scripts/convert_backbones.py copies and hash-checks
it): a speech probability for every 32 ms of a 16 kHz signal, in one onnxruntime call per 16 s (or
stopping at the first speech found, when that is all that is asked).

Emotions are only given for audio with speech in it: noise, hum, tones, music and clicks get
`NoSpeechError` (a file), are skipped (a timeline's stretch) or give no update (a stream). The
rule, `SpeechRule`, and its figures on generated non-speech and on the corpora's speech are
in benchmarks/non_speech.py."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emovox.backbones.runtime import checked_session, per_process
from emovox.backbones.weights import shipped

FRAME = 512  # samples per probability (32 ms at 16 kHz)
CONTEXT = 64  # samples of the previous frame each frame is given before its own
BLOCK = 512  # frames per call (16.4 s): memory stays small for an hour-long recording
FIRST_BLOCK = 16  # frames (0.5 s) of the first call when only "is there speech?" is asked
STATE = (1, 1, 128)


@dataclass(frozen=True)
class SpeechRule:
    """A signal has speech when at least `min_seconds` of its 32 ms frames have a speech
    probability of at least `threshold` (chosen on validation data: benchmarks/non_speech.py)."""

    threshold: float = 0.3
    min_seconds: float = 0.032

    @property
    def frames_needed(self) -> int:
        return max(1, math.ceil((self.min_seconds - 1e-9) * 16_000 / FRAME))

    def has_speech(self, probabilities: np.ndarray) -> bool:
        return int(np.count_nonzero(probabilities >= self.threshold)) >= self.frames_needed


@dataclass(frozen=True)
class RegionRule:
    """Where speech is, from the probabilities (for speaker turns): a region opens at a frame of at
    least `onset` and closes after frames below `offset` (hysteresis, so a dip inside a word does
    not split it); regions closer than `min_silence` are joined, regions shorter than `min_speech`
    dropped, and each is widened by `pad` seconds on both sides. On the development conversations
    (`benchmarks/conversations.py --development`: 3-4 speakers in a noisy room, speakers given, 1.25
    s windows every 0.5 s) closing at 0.35 with 0.05 s of padding gave a DER of 22.0 % where 0.25
    and 0.1 s gave 24.5; 2 speakers: 6.7 % either way."""

    onset: float = 0.4
    offset: float = 0.35
    min_silence: float = 0.3
    min_speech: float = 0.25
    pad: float = 0.05

    def regions(self, probabilities: np.ndarray, duration: float) -> list[tuple[float, float]]:
        """(start, end) seconds of speech, in order."""
        step = FRAME / 16_000
        found: list[list[float]] = []
        inside = False
        for index, probability in enumerate(probabilities):
            if not inside and probability >= self.onset:
                inside = True
                if found and index * step - found[-1][1] < self.min_silence:
                    found[-1][1] = (index + 1) * step  # joined to the last region
                else:
                    found.append([index * step, (index + 1) * step])
            elif inside and probability >= self.offset:
                found[-1][1] = (index + 1) * step
            else:
                inside = False
        return [
            (max(0.0, start - self.pad), min(duration, end + self.pad))
            for start, end in found
            if end - start >= self.min_speech
        ]


class SpeechDetector:
    """Silero VAD over whole signals; one per process (`speech_detector`), usable from threads."""

    def __init__(self, folder: Path) -> None:
        self.session = checked_session(folder)

    def probabilities(self, signal: np.ndarray) -> np.ndarray:
        """(ceil(len / 512),) speech probabilities, one per 32 ms frame of a 16 kHz signal (the
        last frame padded with zeros), each frame seen with the 64 samples before it."""
        out = list(self._blocks(signal, BLOCK))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def has_speech(self, signal: np.ndarray, rule: SpeechRule) -> bool:
        """`rule.has_speech(self.probabilities(signal))`, reading the signal in growing blocks
        (from 0.5 s) and stopping as soon as it has found enough speech: a clip of speech costs
        its first half second or so, not its whole length."""
        found = 0
        for probabilities in self._blocks(signal, FIRST_BLOCK):
            found += int(np.count_nonzero(probabilities >= rule.threshold))
            if found >= rule.frames_needed:
                return True
        return False

    def _blocks(self, signal: np.ndarray, first: int) -> Iterator[np.ndarray]:
        """Each block's probabilities in order, the state carried between blocks; blocks of
        `first` frames, doubling up to `BLOCK`."""
        frames = -(-len(signal) // FRAME)
        padded = np.zeros(CONTEXT + frames * FRAME, dtype=np.float32)
        padded[CONTEXT : CONTEXT + len(signal)] = signal
        windows = np.lib.stride_tricks.sliding_window_view(padded, CONTEXT + FRAME)[::FRAME][:frames]
        h, c = np.zeros(STATE, np.float32), np.zeros(STATE, np.float32)
        start, size = 0, first
        while start < frames:
            block = np.ascontiguousarray(windows[start : start + size])
            probabilities, h, c = self.session.run(None, {"input": block, "h": h, "c": c})
            yield probabilities
            start, size = start + size, min(2 * size, BLOCK)


@per_process
def speech_detector() -> SpeechDetector:
    """The shipped detector, loaded once per process, usable from threads."""
    return SpeechDetector(shipped("silero-vad"))

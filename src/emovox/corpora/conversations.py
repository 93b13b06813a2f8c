"""Synthetic conversations from a corpus's clips, with the truth of who spoke when and with what
emotion: the test bed of speaker turns and per-speaker emotion timelines (benchmarks/
conversations.py, tests). Each turn is one clip of one speaker, cut to its speech, so its
emotion is the clip's label; speakers take turns (never the same one twice in a row), with
pauses between turns, some turns starting before the last one ends (an overlap), and the
whole optionally in a reverberant, noisy room (`emovox.augment`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from emovox.augment import AddNoise, Reverb
from emovox.errors import ConfigError

RATE = 16_000


@dataclass(frozen=True)
class ConversationConfig:
    """`speakers` taking `turns` turns; pauses drawn from `pause` seconds; each change of speaker
    overlaps with probability `overlap_share`, by up to `max_overlap` seconds; `room`: reverberation
    and noise (10-20 dB SNR) over the mix."""

    speakers: int = 2
    turns: int = 12
    pause: tuple[float, float] = (0.2, 1.5)
    overlap_share: float = 0.0
    max_overlap: float = 0.5
    room: bool = False

    def __post_init__(self) -> None:
        if self.speakers < 1 or self.turns < 1:
            raise ConfigError("a conversation needs at least one speaker and one turn")
        if (
            not 0 <= self.pause[0] <= self.pause[1]
            or not 0 <= self.overlap_share <= 1
            or self.max_overlap < 0
        ):
            raise ConfigError("pause must be 0 <= low <= high, overlap_share within [0, 1], max_overlap >= 0")


@dataclass(frozen=True)
class Clip:
    """A clip a conversation can use: its prepared signal (16 kHz), emotion and where it came from."""

    signal: np.ndarray
    label: str
    source: str


@dataclass(frozen=True)
class ReferenceTurn:
    start: float
    end: float
    speaker: str
    label: str
    source: str


@dataclass(frozen=True)
class Conversation:
    signal: np.ndarray
    turns: tuple[ReferenceTurn, ...]


def speech_extent(signal: np.ndarray, top_db: float = 35.0) -> tuple[int, int]:
    """First and last sample (exclusive) of the 10 ms frames within `top_db` of the loudest one:
    a clip without its lead-in and lead-out silence (the reference turn's edges)."""
    hop = RATE // 100
    frames = len(signal) // hop
    if frames == 0:
        return 0, len(signal)
    energy = np.square(signal[: frames * hop].reshape(frames, hop).astype(np.float64)).mean(axis=1)
    loud = np.flatnonzero(10 * np.log10(energy + 1e-12) >= 10 * np.log10(energy.max() + 1e-12) - top_db)
    return int(loud[0]) * hop, min(len(signal), (int(loud[-1]) + 1) * hop)


def make_conversation(
    clips: Mapping[str, Sequence[Clip]], config: ConversationConfig, rng: np.random.Generator
) -> Conversation:
    """A conversation of `config.speakers` of the speakers in `clips` (speaker -> their clips), each
    clip used at most once, each speaker's level moved by up to 3 dB."""
    usable = [s for s, own in clips.items() if own]
    if len(usable) < config.speakers:
        raise ConfigError(f"{config.speakers} speakers asked, {len(usable)} with clips")
    chosen = list(rng.choice(usable, size=config.speakers, replace=False))
    unused = {s: list(rng.permutation(len(clips[s]))) for s in chosen}
    gains = {s: 10 ** (rng.uniform(-3, 3) / 20) for s in chosen}
    pieces: list[tuple[int, np.ndarray]] = []
    turns: list[ReferenceTurn] = []
    cursor, last = 0, None
    for _ in range(config.turns):
        options = [s for s in chosen if s != last and unused[s]] or [s for s in chosen if unused[s]]
        if not options:
            break
        speaker = options[int(rng.integers(len(options)))]
        clip = clips[speaker][unused[speaker].pop()]
        first, end = speech_extent(clip.signal)
        speech = clip.signal[first:end] * gains[speaker]
        if turns:
            if rng.random() < config.overlap_share:
                gap = -rng.uniform(0, min(config.max_overlap, (turns[-1].end - turns[-1].start) / 2))
            else:
                gap = rng.uniform(*config.pause)
            cursor = max(0, cursor + round(gap * RATE))
        pieces.append((cursor, speech))
        turns.append(
            ReferenceTurn(cursor / RATE, (cursor + len(speech)) / RATE, speaker, clip.label, clip.source)
        )
        cursor += len(speech)
        last = speaker
    lead = round(rng.uniform(*config.pause) * RATE)
    signal = np.zeros(lead + cursor + lead, np.float32)
    for start, speech in pieces:
        signal[lead + start : lead + start + len(speech)] += speech
    shifted = tuple(
        ReferenceTurn(t.start + lead / RATE, t.end + lead / RATE, t.speaker, t.label, t.source) for t in turns
    )
    if config.room:
        signal = Reverb(p=1.0)(signal, rng, RATE)
        signal = AddNoise(min_snr_db=10.0, max_snr_db=20.0, p=1.0)(signal, rng, RATE)
    peak = float(np.max(np.abs(signal))) or 1.0
    return Conversation((signal / peak * 0.9).astype(np.float32), shifted)

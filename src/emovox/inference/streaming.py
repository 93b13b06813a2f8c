"""Live prediction from PCM chunks of any size.

The streaming LSTM (the seed's frame-by-frame inference) carries its hidden state from frame
to frame: each chunk's new 10 ms frames go through the network in one call with the state
carried, which gives exactly what one frame at a time gives. Other models (and ensembles)
stream by sliding windows: every `emit_every_ms` they judge the last `window_seconds`. Models
on block sets (`whisper_blocks+speaker_stream`: the bundled model's live twin, which streams for
it) encode each block of audio (500 ms, one every 250 ms) as it completes and pool the window,
or the utterance, from the blocks' moments: a stream costs two Whisper encodings of its audio
and one of the speaker encoder (its state carried from block to block) instead of
`window_seconds / emit_every_ms` of each, and a block without speech runs no encoder; updates
come every block (or every whole number of blocks nearest `emit_every_ms`).

With `adapt=True` the stream normalises with its own running statistics, as clips of one speaker
or set-up do offline (`emovox.inference.adaptation`): one row of statistics per `window_seconds`
of new speech (the updates' windows overlap; counting each would let a second of speech outweigh
the training prior), so the first seconds are judged nearly as unadapted and the statistics take
over as speech accumulates. They outlive `reset()` (the next utterance of the same voice) unless
`reset(new_speaker=True)`.

Every update also carries a smoothed view: an exponential moving average of the current
probabilities with a time constant of `smoothing_seconds` (1 s by default; 0 turns it off), and
how long its top emotion has held, for displays that should not flicker between emotions
several times a second. The raw values stay in the update.

The utterance decision is "last" (the LSTM's state after the latest frame; for window models,
the whole utterance heard so far) or "mean" (the mean of every frame's, or every window's,
probabilities). Pushing a whole clip in any chunk sizes and asking `result()` in "last" mode
gives the offline prediction of that clip (tested), when the clip is already at its level:
a stream cannot know its peak in advance, so `level="running_peak"` (for live microphones)
scales by the loudest sample so far instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import soxr

from emovox.audio import AudioConfig, prepare_signal
from emovox.errors import AudioError, ConfigError, EmovoxError, choice
from emovox.features import FrameMfcc, StreamingMfcc
from emovox.features.backbone import MIN_BLOCK_SECONDS, BlockGrid, BlockPooling, Moments
from emovox.inference.adaptation import Adaptation
from emovox.inference.backends import Member
from emovox.inference.result import Prediction, StreamUpdate


class Decision(StrEnum):
    LAST = "last"
    MEAN = "mean"


class InputLevel(StrEnum):
    AS_IS = "as_is"  # samples used as they come (offline-equal for clips at their level)
    RUNNING_PEAK = "running_peak"  # divided by the loudest sample so far (live microphones)


@dataclass(frozen=True)
class StreamConfig:
    sample_rate: int = 16_000  # of the pushed chunks; resampled to the model's rate
    emit_every_ms: float | None = None  # None: 100 ms, or every block for a model on block sets
    decision: Decision = Decision.LAST
    level: InputLevel = InputLevel.AS_IS
    window_seconds: float = 2.0  # window models only
    max_utterance_seconds: float = 600.0  # audio kept for the utterance decision of window models
    adapt: bool = False  # normalise with the stream's own running statistics (one speaker/set-up)
    # whose rows are windows of new speech, kept across reset() (see the module's docstring)
    smoothing_seconds: float = 1.0  # time constant of the smoothed view; 0: none
    twin: bool = True  # stream with the model's live twin where it has one (see StreamingSession)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decision", choice(Decision, self.decision, "decision"))
        object.__setattr__(self, "level", choice(InputLevel, self.level, "level"))
        for name in ("twin", "adapt"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in (
            "sample_rate",
            *(("emit_every_ms",) if self.emit_every_ms is not None else ()),
            "window_seconds",
            "max_utterance_seconds",
            "smoothing_seconds",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
        if not 8_000 <= self.sample_rate <= 192_000:
            raise ConfigError(f"sample_rate must be in [8000, 192000] Hz, got {self.sample_rate}")
        if self.emit_every_ms is not None and not 10 <= self.emit_every_ms <= 60_000:
            raise ConfigError(f"emit_every_ms must be in [10, 60000], got {self.emit_every_ms}")
        if not 0.1 <= self.window_seconds <= 60:
            raise ConfigError(f"window_seconds must be in [0.1, 60], got {self.window_seconds}")
        if self.max_utterance_seconds < self.window_seconds:
            raise ConfigError("max_utterance_seconds must be >= window_seconds")
        if not 0 <= self.smoothing_seconds <= 60:
            raise ConfigError(f"smoothing_seconds must be in [0, 60], got {self.smoothing_seconds}")


class BlockWindows:
    """A stream's pooled encoder features, each block of audio encoded once: the moments of every
    block with speech (`BlockPooling`), the last `window_blocks` kept for the window, all summed
    for the utterance (constant memory however long the stream). A block without speech adds
    nothing: its encoders are not run."""

    def __init__(self, pooling: BlockPooling, window_blocks: int) -> None:
        self.pooling = pooling
        self._readers = pooling.readers()
        self._recent: deque[tuple[Moments, ...] | None] = deque(maxlen=window_blocks)
        self._utterance: tuple[Moments, ...] | None = None

    def add(self, block: np.ndarray, speech: bool) -> None:
        read = tuple(reader.read(block, speech) for reader in self._readers)
        moments = read if speech else None
        self._recent.append(moments)
        if moments is not None:
            self._utterance = (
                moments
                if self._utterance is None
                else tuple(a + b for a, b in zip(self._utterance, moments, strict=True))
            )

    def window(self) -> np.ndarray | None:
        """Features of the blocks with speech among the last `window_blocks`, or None."""
        kept = [m for m in self._recent if m is not None]
        return self.pooling.features(kept) if kept else None

    def utterance(self) -> np.ndarray | None:
        """Features of every block with speech so far, or None."""
        return self.pooling.features([self._utterance]) if self._utterance is not None else None


def as_float_pcm(chunk: np.ndarray) -> np.ndarray:
    """Mono float32 samples from float or int16 PCM (int16 scaled to [-1, 1))."""
    x = np.asarray(chunk)
    if x.ndim != 1:
        raise AudioError(f"a PCM chunk must be 1-D mono samples, got shape {x.shape}")
    if x.dtype == np.int16:
        return x.astype(np.float32) / np.float32(32768.0)
    if x.dtype not in (np.float32, np.float64):
        raise AudioError(f"PCM chunks must be float32 or int16, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise AudioError("PCM chunk contains NaN or infinite samples")
    return x


class StreamedModel(Protocol):
    """What a stream needs of the model it runs, an `EmotionPredictor` (declared here so that
    this module never imports the predictor, which imports it to open streams)."""

    members: list[Member]

    @property
    def live(self) -> StreamedModel | None: ...
    @property
    def audio(self) -> AudioConfig: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def streams_frames(self) -> bool: ...
    @property
    def block_grid(self) -> BlockGrid | None: ...
    def has_speech(self, signal: np.ndarray) -> bool: ...
    def calibrated(self, raw: np.ndarray) -> np.ndarray: ...
    def features(self, signal: np.ndarray) -> dict[str, np.ndarray]: ...
    def classify(
        self, features: dict[str, np.ndarray], adaptation: Adaptation | None = None
    ) -> np.ndarray: ...
    def judge(self, probabilities: np.ndarray) -> Prediction: ...


class StreamingSession:
    """Push chunks, receive `StreamUpdate`s; `result()` is the utterance decision so far. A
    predictor with a live twin (`EmotionPredictor.live`) streams with the twin unless
    `config.twin` is False (the model itself then re-encodes every window: its own accuracy, at
    about eight times the cost); what counts as speech stays the predictor's own rule."""

    def __init__(self, predictor: StreamedModel, config: StreamConfig | None = None) -> None:
        self.config = config or StreamConfig()
        self.speech_rule_of = predictor
        if self.config.twin and predictor.live is not None:
            predictor = predictor.live
        self.predictor = predictor
        self.rate = predictor.audio.sample_rate
        self.frames_mode = predictor.streams_frames
        if self.frames_mode:
            extractors = {m.extractor.name for m in predictor.members}
            mfcc = predictor.members[0].extractor
            if len(extractors) != 1 or not isinstance(mfcc, FrameMfcc):
                raise ConfigError("frame-by-frame streaming needs members on the same frame features")
            self._mfcc_extractor = mfcc
        self.grid = None if self.frames_mode else predictor.block_grid
        if self.grid is not None:
            self._block, self._hop = self.grid.samples(self.rate)
            hop_ms = 1000 * self.grid.hop
            self._emit_blocks = max(1, round((self.config.emit_every_ms or hop_ms) / hop_ms))  # per update
            self.emit_every_ms = self._emit_blocks * hop_ms
        else:
            self.emit_every_ms = self.config.emit_every_ms or 100.0
        self._adaptation = Adaptation() if self.config.adapt else None
        self.reset()

    def reset(self, new_speaker: bool = False) -> None:
        """A new utterance starts: forget its audio and decisions. The adaptation statistics
        (`adapt=True`) are kept for the same voice, and forgotten too when `new_speaker`."""
        cfg = self.config
        self._resampler = (
            soxr.ResampleStream(cfg.sample_rate, self.rate, 1, dtype="float32", quality="HQ")
            if cfg.sample_rate != self.rate
            else None
        )
        self._peak = 0.0
        self.samples = 0  # at the model's rate, after resampling
        self._sum = np.zeros(len(self.predictor.labels))
        self._count = 0
        self._last: np.ndarray | None = None
        self._smoothed: np.ndarray | None = None
        self._smoothed_t = 0.0
        self._held_since = 0.0  # when the smoothed top emotion last changed
        if new_speaker and cfg.adapt:
            self._adaptation = Adaptation()
        self._unlearned = 0.0  # seconds of speech heard since the statistics last took a row
        if self.frames_mode:
            self._mfcc = StreamingMfcc(self._mfcc_extractor)
            self._states = [m.backend.initial_state() for m in self.predictor.members]
            self._period = 0  # emit periods completed
            hop = self._mfcc_extractor.config.hop_length
            self._emit_every = max(1, round(self.emit_every_ms * self.rate / 1000 / hop))  # in frames
        else:
            self._chunks: list[np.ndarray] = []
            self._kept = 0  # samples in self._chunks (blocks mode: of the block being filled)
            self._emit_every = max(1, round(self.emit_every_ms * self.rate / 1000))  # in samples
        if self.grid is not None:
            window_blocks = self.grid.window_blocks(cfg.window_seconds)
            self._blocks_done = 0
            extractors = {m.extractor.name: m.extractor for m in self.predictor.members}
            self._blocks = {
                name: BlockWindows(BlockPooling(e), window_blocks) for name, e in extractors.items()
            }

    @property
    def blocks_mode(self) -> bool:
        """Whether the stream encodes blocks (a model on block sets, or its live twin)."""
        return self.grid is not None

    # -- input ----------------------------------------------------------------------------

    def push(self, chunk: np.ndarray) -> list[StreamUpdate]:
        """Add PCM samples (float32 or int16, mono, at `config.sample_rate`); return the
        updates they completed (none, one, or several for a long chunk)."""
        x = as_float_pcm(chunk)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        return self._consume(x)

    def only_buffers(self, samples: int) -> bool:
        """Whether pushing `samples` more (at the pushed rate) would only be buffered: a block
        stream whose current block they do not complete does no model work for them."""
        return self.blocks_mode and self._resampler is None and self._kept + samples < self._block

    def finish(self) -> Prediction | None:
        """End of input: flush the resampler (and a last partial block) and return the utterance
        decision."""
        if self._resampler is not None:
            self._consume(self._resampler.resample_chunk(np.empty(0, dtype=np.float32), last=True))
            self._resampler = None
        if self.blocks_mode:
            encoded = self._block - self._hop if self._blocks_done else 0  # the last block's overlap
            if self._kept - encoded >= MIN_BLOCK_SECONDS * self.rate:
                self._add_block(self._audio())  # the next block, cut short (as BlockGrid.cut does)
                self._chunks, self._kept = [], 0
        return self.result()

    def _consume(self, x: np.ndarray) -> list[StreamUpdate]:
        if len(x) == 0:
            return []
        if self.config.level is InputLevel.RUNNING_PEAK:
            self._peak = max(self._peak, float(np.max(np.abs(x))))
            x = x * np.float32(1.0 / max(self._peak, 1e-4))
        start = self.samples
        self.samples += len(x)
        if self.frames_mode:
            return self._frames_push(x)
        return self._blocks_push(x, start) if self.blocks_mode else self._windows_push(x, start)

    # -- the streaming LSTM: frame by frame ---------------------------------------------------

    def _frames_push(self, x: np.ndarray) -> list[StreamUpdate]:
        frames, numbers = self._mfcc.push_indexed(x)
        before_sum, before_count, before_last = self._sum, self._count, self._last
        if len(frames):
            per_member = []  # frame features are never adapted (see emovox.inference.adaptation)
            for i, member in enumerate(self.predictor.members):
                probabilities, self._states[i] = member.backend.frames(frames, self._states[i])
                per_member.append(probabilities)
            probabilities = self.predictor.calibrated(np.mean(per_member, axis=0))  # (k, classes)
            cumulative = self._sum + np.cumsum(probabilities, axis=0, dtype=np.float64)
            counts = self._count + np.arange(1, len(frames) + 1)
            self._sum, self._count, self._last = cumulative[-1], counts[-1], probabilities[-1]
        # one update per emit period of stream time; an all-silent stretch repeats the last state
        cfg = self._mfcc_extractor.config
        updates = []
        periods = self._mfcc.frames_seen // self._emit_every
        for period in range(self._period + 1, periods + 1):
            boundary = period * self._emit_every - 1  # the period's last frame
            k = int(np.searchsorted(numbers, boundary, side="right")) - 1
            if k >= 0:
                current, total, count = probabilities[k], cumulative[k], counts[k]
            elif before_last is not None:
                current, total, count = before_last, before_sum, before_count
            else:
                continue  # nothing but silence so far
            utterance = current if self.config.decision is Decision.LAST else total / count
            t = (boundary * cfg.hop_length + cfg.frame_length) / self.rate
            updates.append(self._update(t, current, utterance))
        self._period = periods
        return updates

    # -- other models: sliding windows --------------------------------------------------------

    def _audio(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.empty(0, dtype=np.float32)

    def _windows_push(self, x: np.ndarray, start: int) -> list[StreamUpdate]:
        self._chunks.append(x)
        self._kept += len(x)
        limit = int(self.config.max_utterance_seconds * self.rate)
        updates = []
        boundaries = range(
            (start // self._emit_every + 1) * self._emit_every, self.samples + 1, self._emit_every
        )
        if boundaries:
            audio = self._audio()
            offset = self.samples - len(audio)  # stream position of audio[0]
            window = int(self.config.window_seconds * self.rate)
            for end in boundaries:
                piece = audio[max(0, end - window - offset) : end - offset]
                probabilities = self._judge(piece, learn=True)
                if probabilities is not None:
                    updates.append(self._window_update(end / self.rate, probabilities))
        if self._kept > limit:  # keep the latest max_utterance_seconds only
            audio = self._audio()[-limit:]
            self._chunks, self._kept = [audio], len(audio)
        return updates

    # -- models on pooled encoder layers: blocks -----------------------------------------------

    def _blocks_push(self, x: np.ndarray, start: int) -> list[StreamUpdate]:
        """Each block of audio is encoded as it completes, and the next starts one hop after it
        (its overlap kept); every `_emit_blocks` blocks an update judges the window's blocks (none
        while the window holds no speech)."""
        updates = []
        while len(x):
            take = min(len(x), self._block - self._kept)
            self._chunks.append(x[:take])
            self._kept += take
            x, start = x[take:], start + take
            if self._kept < self._block:
                break
            self._add_block(self._audio())
            overlap = self._audio()[self._hop :]
            self._chunks, self._kept = [overlap], len(overlap)
            self._blocks_done += 1
            if self._blocks_done % self._emit_blocks:
                continue
            features = {name: blocks.window() for name, blocks in self._blocks.items()}
            if any(f is None for f in features.values()):
                continue
            self._learn(features)  # type: ignore[arg-type]
            probabilities = self.predictor.classify(features, self._adaptation)  # type: ignore[arg-type]
            updates.append(self._window_update(start / self.rate, probabilities))
        return updates

    def _add_block(self, block: np.ndarray) -> None:
        speech = self.speech_rule_of.has_speech(block)
        if speech:  # each block adds one hop of new audio (the rest overlaps the last block)
            self._unlearned += self.grid.hop if self._blocks_done else self.grid.seconds
        for blocks in self._blocks.values():
            blocks.add(block, speech)

    def _judge(self, piece: np.ndarray, learn: bool = False) -> np.ndarray | None:
        """Probabilities of a stretch of stream audio, or None where there is nothing to judge.
        `learn`: the stretch is the latest window, whose new audio counts toward adaptation."""
        try:
            features = self.predictor.features(prepare_signal(piece, self.rate, self.predictor.audio))
        except EmovoxError:  # shorter than a frame, or digital silence
            return None
        if learn:
            self._unlearned += self.emit_every_ms / 1000
            self._learn(features)
        return self.predictor.classify(features, self._adaptation)

    def _learn(self, features: dict[str, np.ndarray]) -> None:
        """The window's features join the adaptation statistics once a window's worth of new
        speech has been heard since the last row did."""
        if self._adaptation is not None and self._unlearned >= self.config.window_seconds - 1e-9:
            self._adaptation.add(features)
            self._unlearned = 0.0

    # -- output ---------------------------------------------------------------------------

    def _smooth(self, t: float, current: np.ndarray) -> np.ndarray:
        """The moving average after `current` at stream time `t` (weights by elapsed time)."""
        tau = self.config.smoothing_seconds
        if self._smoothed is None or tau == 0:
            smoothed = np.asarray(current, dtype=np.float64)
        else:
            keep = np.exp(-(t - self._smoothed_t) / tau)
            smoothed = keep * self._smoothed + (1 - keep) * current
        if self._smoothed is None or smoothed.argmax() != self._smoothed.argmax():
            self._held_since = t
        self._smoothed, self._smoothed_t = smoothed, t
        return smoothed

    def _window_update(self, t: float, probabilities: np.ndarray) -> StreamUpdate:
        """The update of a judged window (or window of blocks): counted for the "mean" decision."""
        self._sum += probabilities
        self._count += 1
        self._last = probabilities
        utterance = probabilities if self.config.decision is Decision.LAST else self._sum / self._count
        return self._update(t, probabilities, utterance)

    def _update(self, t: float, current: np.ndarray, utterance: np.ndarray) -> StreamUpdate:
        judge = self.predictor.judge
        smoothed = judge(self._smooth(t, current))
        return StreamUpdate(t, judge(current), judge(utterance), smoothed, t - self._held_since)

    def result(self) -> Prediction | None:
        """The utterance decision so far, or None before anything could be judged."""
        if self.config.decision is Decision.MEAN:
            probabilities = self._sum / self._count if self._count else None
        elif self.frames_mode:
            probabilities = self._last
        elif self.blocks_mode:
            features = {name: blocks.utterance() for name, blocks in self._blocks.items()}
            if any(f is None for f in features.values()):
                return None
            probabilities = self.predictor.classify(features, self._adaptation)  # type: ignore[arg-type]
        else:
            probabilities = self._judge(self._audio())
        if probabilities is None:
            return None
        return self.predictor.judge(probabilities)

"""`EmotionPredictor`: one call from audio (a file, bytes, or an array) to an emotion, for any
model or ensemble directory, with PyTorch or onnxruntime underneath."""

from __future__ import annotations

import copy
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from tqdm import tqdm

from emovox.artifact.ensemble import EnsembleArtifact, load_any, member_directories
from emovox.artifact.store import ArtifactError, ModelArtifact
from emovox.audio import AudioConfig, load_audio, prepare_signal
from emovox.audio.framing import has_sound_frame
from emovox.audio.io import describe
from emovox.backbones.vad import SpeechRule, speech_detector
from emovox.errors import AudioError, ConfigError, EmovoxError, EmovoxWarning, NoSoundError, NoSpeechError
from emovox.features.backbone import BlockGrid, BlockPooling
from emovox.inference.adaptation import Adaptation
from emovox.inference.backends import BackendName, Member, make_member
from emovox.inference.diarisation import DiarisationConfig, diarise, parse_speakers
from emovox.inference.result import Prediction, Segment
from emovox.inference.segments import Segmentation, SegmentConfig, pieces, speech_segments
from emovox.inference.streaming import StreamConfig, StreamingSession
from emovox.training.calibration import Calibration

AudioInput = str | os.PathLike[str] | bytes | BinaryIO | np.ndarray


@dataclass(frozen=True)
class Piece:
    """A stretch of a timeline before it is judged: where, whose (None: not asked), its features."""

    start: float
    end: float
    speaker: str | None
    features: dict[str, np.ndarray]


BUNDLED = ("default",)
MAX_CARD_BYTES = 1024 * 1024
MIN_ADAPTATION_CLIPS = 2
# a timeline normalises each speaker, or without speakers the whole recording, with their own
# segments: turn-level UAR on held-out corpora 45.6 -> 51.9 / 51.5 % (benchmarks/conversations.py)
ADAPT_TIMELINE = True
LIVE_FOLDER = "live"


def bundled_path(name: str) -> Path:
    """Where a model shipped inside the package lives."""
    path = Path(str(resources.files("emovox") / "bundled" / name))
    if not (path / "config.json").is_file() and not (path / "ensemble.json").is_file():
        raise ArtifactError(f"the bundled model {name!r} is not in this installation ({path})")
    return path


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """A bundled model's name ("default") or a model/ensemble directory."""
    if str(name_or_path) in BUNDLED and not Path(name_or_path).exists():
        return bundled_path(str(name_or_path))
    return Path(name_or_path)


class EmotionPredictor:
    """Predicts emotions with a trained model or ensemble.

    >>> predictor = EmotionPredictor.load("default")
    >>> predictor.predict("clip.wav").label
    """

    def __init__(
        self,
        model: ModelArtifact | EnsembleArtifact,
        backend: BackendName | str = BackendName.TORCH,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model = model
        self.backend = BackendName(backend)
        self.directory = Path(directory) if directory is not None else None
        if isinstance(model, EnsembleArtifact):
            places = member_directories(directory) if directory else [None] * len(model.members)
            self.members = [make_member(m, backend, d) for m, d in zip(model.members, places, strict=True)]
        else:
            self.members = [make_member(model, backend, directory)]
        self.calibration = Calibration.from_metadata(model.metadata)
        self.speech: SpeechRule | None = SpeechRule()  # what counts as speech; None: judge any sound
        self.only: tuple[int, ...] | None = None  # the labels kept (`restricted`), None: all
        self.live = self._live_twin(backend)

    def _live_twin(self, backend: BackendName | str) -> EmotionPredictor | None:
        """The model in the directory's `live/` folder, which its streams use: trained on block
        sets (see `emovox.features.backbone`), it judges a stream from blocks encoded once each,
        where this model would re-encode every window (see `emovox.inference.streaming`)."""
        folder = self.directory / LIVE_FOLDER if self.directory is not None else None
        if folder is None or not (folder / "config.json").is_file():
            return None
        twin = EmotionPredictor(load_any(folder), backend, folder)
        if twin.labels != self.labels or twin.block_grid is None:
            raise ArtifactError(f"{folder}: a live twin must read block sets and have its model's labels")
        return twin

    @classmethod
    def load(
        cls, name_or_path: str | os.PathLike[str] = "default", backend: BackendName | str = "torch"
    ) -> EmotionPredictor:
        directory = resolve_model(name_or_path)
        return cls(load_any(directory), backend, directory)

    @property
    def labels(self) -> tuple[str, ...]:
        labels = self.model.labels
        return labels if self.only is None else tuple(labels[i] for i in self.only)

    def restricted(self, labels: Sequence[str] | str | None) -> EmotionPredictor:
        """The same model answering among `labels` only (a list, or "neutral,happy,..."), for a
        task with fewer classes: each answer's probabilities renormalised over them (the chance of
        each given that it is one of them) and `uncertain` judged on those. The labels keep the
        model's order; None or all of them: this predictor itself."""
        if labels is None:
            return self
        if not isinstance(labels, str) and not (
            isinstance(labels, list | tuple) and all(isinstance(x, str) for x in labels)
        ):
            raise ConfigError('labels must be a list of label names or "a,b,c"')
        wanted = [x.strip() for x in labels.split(",")] if isinstance(labels, str) else list(labels)
        known = self.model.labels
        unknown = [x for x in wanted if x not in known]
        if unknown or len(set(wanted)) != len(wanted) or len(wanted) < 2:
            problem = f"unknown: {', '.join(repr(x[:40]) for x in unknown[:5])}" if unknown else "each once"
            raise ConfigError(f"labels must be two or more of this model's {', '.join(known)} ({problem})")
        only = None if len(wanted) == len(known) else tuple(i for i, x in enumerate(known) if x in wanted)
        if only == self.only:
            return self
        view = copy.copy(self)
        view.only = only
        view.live = self.live.restricted(wanted) if self.live is not None else None
        return view

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (..., classes) of the members' mean, over the labels kept."""
        probabilities = self.calibration(raw)
        if self.only is None:
            return probabilities
        kept = probabilities[..., list(self.only)]
        return kept / np.maximum(kept.sum(axis=-1, keepdims=True), 1e-12)

    @property
    def audio(self) -> AudioConfig:
        return self.model.audio

    @property
    def adaptable(self) -> bool:
        """True when some member reads utterance-level features, which adaptation normalises."""
        return any(Adaptation.applies_to(m.extractor.level) for m in self.members)

    def warn_if_not_adaptable(self) -> None:
        """Say so (an `EmovoxWarning`) when adaptation was asked of a model it leaves unchanged."""
        if not self.adaptable:
            warnings.warn(
                "adaptation changes nothing for this model: it reads frame features only, and "
                "adaptation normalises utterance-level features",
                EmovoxWarning,
                stacklevel=3,
            )

    @property
    def streams_frames(self) -> bool:
        """True when every member is a streaming LSTM: streams carry state frame by frame."""
        return all(m.steps for m in self.members)

    @property
    def block_grid(self) -> BlockGrid | None:
        """The blocks when every member reads a block set on one grid (its streams encode each
        block of audio as it completes: `emovox.inference.streaming`), else None."""
        if not all(BlockPooling.pools(m.extractor) for m in self.members):
            return None
        grids = {BlockPooling(m.extractor).grid for m in self.members}
        return grids.pop() if len(grids) == 1 else None

    def has_speech(self, signal: np.ndarray) -> bool:
        """Whether a prepared signal holds sound and, under `speech`, speech (see `features`)."""
        audio = self.audio
        if not has_sound_frame(signal, audio.frame_length, audio.hop_length):
            return False
        return self.speech is None or speech_detector().has_speech(signal, self.speech)

    @property
    def streaming(self) -> str:
        """How streams run: "frames" (the streaming LSTM), "blocks" (a block model, or a live
        twin), or "windows" (every update re-encodes its window)."""
        if self.streams_frames:
            return "frames"
        return "blocks" if (self.live or self).block_grid is not None else "windows"

    def describe(self) -> dict[str, Any]:
        """The loaded model's name, features, labels and card metrics (for `GET /v1/models`)."""
        members: list[Member] = self.members
        first = members[0].artifact
        card = first.metadata.get("cross_validation") if len(members) == 1 else self.model.metadata
        return {
            "model": "ensemble" if len(members) > 1 else first.model_name,
            "members": [{"model": m.artifact.model_name, "features": m.extractor.name} for m in members],
            "labels": list(self.labels),
            "backend": str(self.backend),
            "sample_rate": self.audio.sample_rate,
            "streaming": self.streaming,
            "metrics": card or {},
            "training": {k: first.metadata.get(k) for k in ("corpora", "seed", "selection")},
        }

    def card(self) -> str | None:
        """The model card (Markdown) of the loaded directory, or None when it has none. Only a
        regular file inside the directory of at most `MAX_CARD_BYTES` is read (a link pointing
        elsewhere is refused: the card is served to anyone who asks)."""
        if self.directory is None:
            return None
        path = self.directory / "MODEL_CARD.md"
        if not path.is_file():
            return None
        resolved = path.resolve()
        if not resolved.is_relative_to(self.directory.resolve()):
            raise ArtifactError(f"{path}: points outside the model directory; not served")
        size = resolved.stat().st_size
        if size > MAX_CARD_BYTES:
            raise ArtifactError(f"{path}: {size} bytes, over the {MAX_CARD_BYTES}-byte limit for a card")
        try:
            return resolved.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ArtifactError(f"{path}: not UTF-8 text") from None

    # -- clips ------------------------------------------------------------------------------

    def signal(
        self,
        source: AudioInput,
        sample_rate: int | None = None,
        config: AudioConfig | None = None,
        max_samples: int | None = None,
    ) -> np.ndarray:
        """The prepared signal (mono, model rate, peak-normalised) of any accepted input."""
        config = config or self.audio
        if isinstance(source, np.ndarray):
            return prepare_signal(source, sample_rate or config.sample_rate, config)
        return load_audio(source, config, max_samples)

    def features(self, signal: np.ndarray) -> dict[str, np.ndarray]:
        """Each feature set the members read, computed once, for a prepared signal.

        `NoSoundError` when no whole 25 ms frame is anything but digital silence (e.g. zeros with
        one click): frame models would get no frame, utterance statistics nothing to summarise;
        `NoSpeechError` when the voice-activity detector finds no speech (`speech`, see
        `emovox.backbones.vad`; set it to None to judge any sound)."""
        audio = self.audio
        if not has_sound_frame(signal, audio.frame_length, audio.hop_length):
            raise NoSoundError("no sound to judge: every 25 ms frame is digital silence")
        if self.speech is not None and not speech_detector().has_speech(signal, self.speech):
            raise NoSpeechError("no speech found (noise, hum, tones or music): no emotion to judge")
        out: dict[str, np.ndarray] = {}
        for member in self.members:
            if member.extractor.name not in out:
                out[member.extractor.name] = member.extractor(signal)
        return out

    def clip_features(
        self,
        source: AudioInput,
        sample_rate: int | None = None,
        config: AudioConfig | None = None,
        max_samples: int | None = None,
    ) -> dict[str, np.ndarray]:
        """`features` of any accepted input; an `AudioError` names the input."""
        signal = self.signal(source, sample_rate, config, max_samples)
        try:
            return self.features(signal)
        except AudioError as exc:
            raise type(exc)(f"{describe(source)}: {exc}") from exc

    def judge(self, probabilities: np.ndarray) -> Prediction:
        """The prediction for calibrated probabilities, flagged `uncertain` by the model's threshold."""
        return Prediction.from_probabilities(probabilities, self.labels, self.calibration.uncertain_below)

    def classify(self, features: dict[str, np.ndarray], adaptation: Adaptation | None = None) -> np.ndarray:
        """Calibrated mean probabilities of the members for one clip's features."""
        out = []
        for member in self.members:
            x = features[member.extractor.name]
            if adaptation is not None:
                x = adaptation.transform(
                    member.extractor.name, member.extractor.level, member.artifact.scaler, x
                )
            out.append(member.backend.clip(x))
        return self.calibrated(np.mean(out, axis=0))

    def predict(
        self,
        source: AudioInput,
        sample_rate: int | None = None,
        adaptation: Adaptation | None = None,
        config: AudioConfig | None = None,
        max_samples: int | None = None,
    ) -> Prediction:
        """One clip: a path, encoded bytes, a binary stream, or samples (at `sample_rate`, by
        default the model's). `adaptation`: see `adapt`; `config`: other audio limits than the
        model's (a service's shorter cap); `max_samples`: the most samples (frames x channels)
        an encoded input may decode to."""
        features = self.clip_features(source, sample_rate, config, max_samples)
        return self.judge(self.classify(features, adaptation))

    def adapt(self, sources: Sequence[AudioInput], sample_rate: int | None = None) -> Adaptation:
        """Normalisation statistics from unlabelled recordings of one speaker or set-up (see
        `emovox.inference.adaptation`), to pass to `predict` / `timeline` or a stream."""
        self.warn_if_not_adaptable()
        return self.adaptation_of([self.clip_features(source, sample_rate) for source in sources])

    def adaptation_of(self, clips: Sequence[dict[str, np.ndarray]]) -> Adaptation:
        """Adaptation statistics of clips' features; empty (changing nothing), with a note, for
        fewer than `MIN_ADAPTATION_CLIPS`: one clip says nothing of its speaker, and normalising
        it against itself would only move its answer."""
        adaptation = Adaptation()
        if len(clips) < MIN_ADAPTATION_CLIPS:
            warnings.warn(
                f"adaptation needs at least {MIN_ADAPTATION_CLIPS} clips of one speaker or set-up; "
                f"with {len(clips)} it is not applied",
                EmovoxWarning,
                stacklevel=3,
            )
            return adaptation
        for clip in clips:
            adaptation.add(clip)
        return adaptation

    def predict_many(
        self,
        sources: Sequence[AudioInput],
        jobs: int | None = None,
        progress: bool = True,
        errors: str = "raise",
        adapt: bool = False,
    ) -> list[Prediction | EmovoxError]:
        """Several clips on `jobs` threads (default: all cores) with a progress bar.

        `adapt=True` treats the clips as one speaker or set-up: their own feature statistics
        normalise them (see `adapt`). `errors="return"` puts the error in a bad clip's place
        instead of raising it.
        """
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        if adapt:
            self.warn_if_not_adaptable()

        def features(source: AudioInput) -> dict[str, np.ndarray] | EmovoxError:
            try:
                return self.clip_features(source)
            except EmovoxError as exc:
                if errors == "raise":
                    raise
                return exc

        workers = max(1, min(jobs or os.cpu_count() or 1, len(sources)))
        bar = tqdm(total=len(sources), desc="predict", unit="clip", disable=not progress)
        with ThreadPoolExecutor(workers) as pool:
            computed = []
            for result in pool.map(features, sources):
                computed.append(result)
                bar.update()
        bar.close()
        adaptation = None
        if adapt:
            adaptation = self.adaptation_of([item for item in computed if not isinstance(item, EmovoxError)])

        def judge(item: dict[str, np.ndarray] | EmovoxError) -> Prediction | EmovoxError:
            if isinstance(item, EmovoxError):
                return item
            try:
                return self.judge(self.classify(item, adaptation))
            except EmovoxError as exc:
                if errors == "raise":
                    raise
                return exc

        return [judge(item) for item in computed]

    # -- long recordings --------------------------------------------------------------------

    def timeline_audio(self, max_seconds: float | None = 4 * 3600.0) -> AudioConfig:
        """How a long recording is read for `timeline_of`: the model's settings with its own
        length cap, and no peak normalisation of the whole (each segment is normalised alone)."""
        return AudioConfig(**{**self.audio.to_dict(), "max_seconds": max_seconds, "peak_normalise": False})

    def timeline(
        self,
        source: AudioInput,
        sample_rate: int | None = None,
        segments: SegmentConfig | None = None,
        max_seconds: float | None = 4 * 3600.0,
        adapt: bool | None = None,
        max_samples: int | None = None,
        speakers: int | str | None = None,
        progress: bool = False,
    ) -> list[Segment]:
        """Per-segment predictions over a long recording (speech between pauses by default).

        `speakers`: `"auto"` or a number finds who speaks when (`emovox.inference.diarisation`)
        and labels each segment with its speaker; None (the default) does not. `adapt`: None and
        True normalise each speaker with their own segments, or without speakers the whole
        recording as one speaker or set-up (None: quietly, see `ADAPT_TIMELINE`); False never."""
        signal = self.signal(source, sample_rate, self.timeline_audio(max_seconds), max_samples)
        return self.timeline_of(signal, segments, adapt, speakers=speakers, progress=progress)

    def timeline_of(
        self,
        signal: np.ndarray,
        segments: SegmentConfig | None = None,
        adapt: bool | None = None,
        stop: threading.Event | None = None,
        speakers: int | str | None = None,
        progress: bool = False,
    ) -> list[Segment]:
        """`timeline` of a recording already read with `signal(..., config=timeline_audio(...))`.
        `stop`: once set (the asker has gone), the work ends at the next segment with what it has."""
        if adapt:
            self.warn_if_not_adaptable()
        return self.judge_pieces(self.timeline_pieces(signal, segments, speakers, stop, progress), adapt)

    def timeline_pieces(
        self,
        signal: np.ndarray,
        segments: SegmentConfig | None = None,
        speakers: int | str | None = None,
        stop: threading.Event | None = None,
        progress: bool = False,
    ) -> list[Piece]:
        """The stretches a timeline judges, with their features (and speakers, when asked): the
        costly half of `timeline_of`, apart so that several judgements can share it."""
        rate = self.audio.sample_rate
        config = segments or SegmentConfig()
        if speakers is None or config.mode is Segmentation.WINDOWS:
            if speakers is not None:
                raise ConfigError("speaker turns need the silence segmentation, not fixed windows")
            stretches = [(a, b, None) for a, b in speech_segments(signal, rate, config)]
        else:
            turns = diarise(signal, rate, DiarisationConfig(parse_speakers(speakers)), progress=progress)
            spans = [(t.start, t.end) for t in turns]
            stretches = [(a, b, turns[i].speaker) for a, b, i in pieces(signal, rate, spans, config)]
        out = []
        for start, end, speaker in tqdm(stretches, desc="timeline", unit="segment", disable=not progress):
            if stop is not None and stop.is_set():
                break
            try:
                prepared = prepare_signal(signal[round(start * rate) : round(end * rate)], rate, self.audio)
                out.append(Piece(start, end, speaker, self.features(prepared)))
            except AudioError:  # a stretch too short or without sound: nothing to judge
                continue
        return out

    def judge_pieces(self, stretches: Sequence[Piece], adapt: bool | None = None) -> list[Segment]:
        """Segments of judged pieces; `adapt` as in `timeline`. A speaker with fewer than
        `MIN_ADAPTATION_CLIPS` segments is left unadapted (quietly, when adaptation was not asked)."""
        chosen = adapt if adapt is not None else ADAPT_TIMELINE and self.adaptable
        adaptations: dict[str | None, Adaptation] = {}
        if chosen:
            with warnings.catch_warnings():
                if adapt is None:
                    warnings.simplefilter("ignore", EmovoxWarning)
                for speaker in dict.fromkeys(piece.speaker for piece in stretches):
                    own = [piece.features for piece in stretches if piece.speaker == speaker]
                    adaptations[speaker] = self.adaptation_of(own)
        return [
            Segment(
                piece.start,
                piece.end,
                self.judge(self.classify(piece.features, adaptations.get(piece.speaker))),
                piece.speaker,
            )
            for piece in stretches
        ]

    # -- streams ----------------------------------------------------------------------------

    def stream(self, config: StreamConfig | None = None, **options: Any) -> StreamingSession:
        """A live session: push PCM chunks, get updates (see `StreamingSession`)."""
        config = config or StreamConfig(**options)
        if config.adapt:
            self.warn_if_not_adaptable()
        return StreamingSession(self, config)

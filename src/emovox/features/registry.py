"""Feature sets by name (an enum, as opensmile does), so configs and the CLI can name them."""

from __future__ import annotations

from enum import StrEnum

from emovox.errors import FeatureError
from emovox.features.backbone import (
    SpeakerBlocks,
    SpeakerLayers,
    SpeakerStream,
    WhisperBlocks,
    WhisperFrames,
    WhisperLayers,
)
from emovox.features.base import FeatureExtractor
from emovox.features.combined import CombinedExtractor
from emovox.features.enhanced import Enhanced392
from emovox.features.mfcc import FrameLogMel, FrameMfcc
from emovox.features.opensmile_sets import ComParE, EGeMAPS
from emovox.features.utterance import Utterance110


class FeatureSet(StrEnum):
    MFCC = "mfcc"  # (frames, 13) per clip, for the streaming LSTM
    LOGMEL = "logmel"  # (frames, 64) per clip, for spectrogram models
    UTTERANCE110 = "utterance110"
    ENHANCED392 = "enhanced392"
    EGEMAPS = "egemaps"  # 88, openSMILE
    COMPARE = "compare"  # 6373, openSMILE
    WHISPER = "whisper"  # 7 x 2 x 512, Whisper-base's layers pooled
    SPEAKER = "speaker"  # 3 x 2 x 256, Resemblyzer's speaker encoder's layers pooled
    WHISPER_FRAMES = "whisper_frames"  # (frames, 7 x 512) every 40 ms
    WHISPER_BLOCKS = "whisper_blocks"  # as whisper, over 500 ms blocks every 250 ms, each alone (streams)
    SPEAKER_BLOCKS = "speaker_blocks"  # as speaker, over 500 ms blocks every 250 ms, each alone
    SPEAKER_STREAM = "speaker_stream"  # as speaker_blocks, its state carried: each sample read once


EXTRACTORS: dict[FeatureSet, type[FeatureExtractor]] = {
    FeatureSet.MFCC: FrameMfcc,
    FeatureSet.LOGMEL: FrameLogMel,
    FeatureSet.UTTERANCE110: Utterance110,
    FeatureSet.ENHANCED392: Enhanced392,
    FeatureSet.EGEMAPS: EGeMAPS,
    FeatureSet.COMPARE: ComParE,
    FeatureSet.WHISPER: WhisperLayers,
    FeatureSet.SPEAKER: SpeakerLayers,
    FeatureSet.WHISPER_FRAMES: WhisperFrames,
    FeatureSet.WHISPER_BLOCKS: WhisperBlocks,
    FeatureSet.SPEAKER_BLOCKS: SpeakerBlocks,
    FeatureSet.SPEAKER_STREAM: SpeakerStream,
}


def get_extractor(name: str | FeatureSet) -> FeatureExtractor:
    """A default-configured extractor for a feature set name; `a+b` joins utterance sets."""
    if isinstance(name, str) and "+" in name:
        return CombinedExtractor([get_extractor(part.strip()) for part in name.split("+")])
    try:
        key = FeatureSet(name.lower() if isinstance(name, str) else name)
    except ValueError:
        choices = ", ".join(s.value for s in FeatureSet)
        raise FeatureError(f"unknown feature set {name!r}; choose from {choices}") from None
    return EXTRACTORS[key]()

"""RAVDESS (Livingstone & Russo 2018): `Actor_NN/MM-VV-EE-II-SS-RR-AA.wav`, 24 actors."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
SONG_EMOTIONS = frozenset({"neutral", "calm", "happy", "sad", "angry", "fearful"})
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CHANNELS = {"01": "speech", "02": "song"}
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
ACTOR_FOLDER = re.compile(r"^Actor_(\d\d)$")


class RavdessReader(CorpusReader):
    """Audio-only RAVDESS; speech by default, song on request (`channels=("speech", "song")`)."""

    name = "ravdess"
    labels = EMOTIONS

    def __init__(self, channels: tuple[str, ...] = ("speech",)) -> None:
        unknown = set(channels) - set(CHANNELS.values())
        if unknown or not channels:
            raise ValueError(f"channels must be a non-empty subset of speech/song, got {channels}")
        self.channels = channels

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not MM-VV-EE-II-SS-RR-AA")
        modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
        if modality != "03":
            raise ParseFailure(f"modality {modality} is not audio-only (03)")
        if channel not in CHANNELS:
            raise ParseFailure(f"vocal channel {channel} is neither 01 (speech) nor 02 (song)")
        if CHANNELS[channel] not in self.channels:
            raise ParseFailure(f"{CHANNELS[channel]} clip, not in the requested {self.channels}")
        index = int(emotion) - 1
        if not 0 <= index < len(EMOTIONS):
            raise ParseFailure(f"emotion code {emotion} is not 01..08")
        label = EMOTIONS[index]
        if CHANNELS[channel] == "song" and label not in SONG_EMOTIONS:
            raise ParseFailure(f"song has no {label} clips")
        if intensity not in ("01", "02") or (label == "neutral" and intensity == "02"):
            raise ParseFailure(f"intensity {intensity} is not valid for {label}")
        if statement not in STATEMENTS:
            raise ParseFailure(f"statement {statement} is not 01 or 02")
        if not 1 <= int(actor) <= 24:
            raise ParseFailure(f"actor {actor} is not 01..24")
        folder = ACTOR_FOLDER.match(path.parent.name)
        if folder and folder.group(1) != actor:
            raise ParseFailure(f"actor {actor} in the name but folder {path.parent.name}")
        meta = {
            "vocal_channel": CHANNELS[channel],
            "intensity": "normal" if intensity == "01" else "strong",
            "statement": STATEMENTS[statement],
            "repetition": str(int(repetition)),
            "gender": "male" if int(actor) % 2 else "female",
            "language": "en",
        }
        return Utterance(str(path), self.name, actor, label, meta)

"""Audio in: files or arrays -> mono float32 at 16 kHz, peak-normalised, framed."""

from emovox.audio.config import AudioConfig
from emovox.audio.framing import frame_count, frame_signal, nonsilent_mask, trim_silence
from emovox.audio.io import AUDIO_EXTENSIONS, AudioSource, audio_files, load_audio, prepare_signal, read_audio

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioConfig",
    "AudioSource",
    "audio_files",
    "frame_count",
    "frame_signal",
    "load_audio",
    "nonsilent_mask",
    "prepare_signal",
    "read_audio",
    "trim_silence",
]

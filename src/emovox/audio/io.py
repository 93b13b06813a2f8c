"""Reading audio from files, bytes or arrays into the pipeline's mono float32 16 kHz signal."""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from emovox.audio.config import AudioConfig
from emovox.audio.framing import trim_silence
from emovox.errors import AudioError, AudioTooLongError, NoSoundError

AudioSource = str | os.PathLike[str] | bytes | BinaryIO

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64"}
)

DEFAULT_AUDIO = AudioConfig()


def describe(source: AudioSource | np.ndarray) -> str:
    """How an error names an input: a path as given, otherwise what kind of input it was."""
    if isinstance(source, np.ndarray):
        return f"the samples ({source.shape[0]} of them)"
    if isinstance(source, bytes):
        return f"the audio data ({len(source)} bytes)"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "the audio stream"


def audio_files(inputs: list[str]) -> list[str]:
    """Each input as given, except directories, which become the audio files under them
    (recursively, sorted, by extension; an empty one stays as it is, to be reported)."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            out.append(item)
            continue
        found = sorted(
            str(f) for f in path.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()
        )
        out += found or [item]
    return out


def check_audio_path(path: Path) -> None:
    """An `AudioError` saying plainly why `path` cannot be read as an audio file, if it cannot."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a special file"
        )
        raise AudioError(f"{path}: is {kind}, not a regular audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: cannot be opened (permission denied)")


def decoder_reason(exc: Exception) -> str:
    """libsndfile's reason without its internals (object reprs, addresses), in plain words."""
    reason = getattr(exc, "error_string", None) or str(exc)
    reason = re.sub(r"Error opening .*?: ", "", reason)
    reason = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the data", reason)
    return reason.strip().rstrip(".").lower() or "unknown format"


def read_audio(source: AudioSource, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode anything libsndfile reads (WAV, FLAC, OGG, MP3, ...) as float32 (samples, channels).

    The length is checked from the header before decoding, so an oversize file costs nothing.
    """
    name = describe(source)
    if isinstance(source, (str, os.PathLike)):
        check_audio_path(Path(source))
    elif isinstance(source, bytes):
        if not source:
            raise AudioError("audio bytes are empty")
        source = io.BytesIO(source)
    try:
        with sf.SoundFile(source) as f:
            if max_seconds is not None and f.frames > max_seconds * f.samplerate:
                raise AudioTooLongError(
                    f"{name}: {f.frames / f.samplerate:.1f} s is longer than the {max_seconds:g} s cap"
                )
            data = f.read(dtype="float32", always_2d=True)
            sample_rate = f.samplerate
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{name}: not readable as audio ({decoder_reason(exc)})") from exc
    except OSError as exc:
        raise AudioError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    return data, sample_rate


def prepare_signal(signal: np.ndarray, sample_rate: int, config: AudioConfig = DEFAULT_AUDIO) -> np.ndarray:
    """Turn any array of samples into the pipeline's signal, or raise `AudioError`.

    Accepts (samples,) or (samples, channels), any float or integer dtype; integer PCM (signed, or
    unsigned 8-bit) is scaled to [-1, 1]. Channels are averaged, the rate converted with soxr (high quality),
    then silence trimmed (if configured) and the peak normalised to 1.
    """
    x = np.asarray(signal)
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise AudioError("audio has no channels")
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    elif x.ndim != 1:
        raise AudioError(f"audio must be (samples,) or (samples, channels), got shape {x.shape}")
    if x.size == 0:
        raise AudioError("audio is empty (0 samples)")
    if sample_rate <= 0:
        raise AudioError(f"sample rate must be positive, got {sample_rate}")
    if x.dtype == np.uint8:  # 8-bit PCM is unsigned, centred on 128
        x = (x.astype(np.float32) - 128.0) / 128.0
    elif x.dtype.kind == "i":
        x = x.astype(np.float32) / float(-np.iinfo(x.dtype).min)
    elif not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"audio samples must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise AudioError("audio contains NaN or infinite samples")
    seconds = len(x) / sample_rate
    if config.max_seconds is not None and seconds > config.max_seconds:
        raise AudioTooLongError(f"audio is {seconds:.1f} s, longer than the {config.max_seconds:g} s cap")
    if sample_rate != config.sample_rate:
        x = soxr.resample(x, sample_rate, config.sample_rate, quality="HQ").astype(np.float32)
    if len(x) < config.min_samples:
        raise AudioError(
            f"audio is {1000 * len(x) / config.sample_rate:.1f} ms long, shorter than one "
            f"{1000 * config.frame_length / config.sample_rate:.0f} ms frame"
        )
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise NoSoundError("audio is digital silence (every sample is zero)")
    if config.trim_silence:
        x = trim_silence(x, config)
    if config.peak_normalise:
        x = x * np.float32(1.0 / float(np.max(np.abs(x))))
    return np.ascontiguousarray(x, dtype=np.float32)


def load_audio(source: AudioSource, config: AudioConfig = DEFAULT_AUDIO) -> np.ndarray:
    """Read a file (path, bytes or binary stream) and prepare it: mono float32 at 16 kHz."""
    data, sample_rate = read_audio(source, config.max_seconds)
    try:
        return prepare_signal(data, sample_rate, config)
    except AudioError as exc:
        raise type(exc)(f"{describe(source)}: {exc}") from exc

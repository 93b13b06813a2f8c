"""Reading audio from files, bytes or arrays into the pipeline's mono float32 16 kHz signal."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from emovox.audio.config import AudioConfig
from emovox.audio.framing import trim_silence
from emovox.errors import AudioError, AudioTooLongError, AudioTooShortError, NoSoundError

AudioSource = str | os.PathLike[str] | bytes | BinaryIO

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64"}
)

DEFAULT_AUDIO = AudioConfig()
# The smallest step of 24-bit PCM (-144 dBFS): a signal whose loudest sample is below it holds no
# sound any recording can carry, and scaling it up to full scale would overflow float32.
QUIETEST_PEAK = 2.0**-23


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


def audio_files_under(directory: Path) -> list[str]:
    """The audio files under a directory, recursively, by extension, sorted."""
    return sorted(
        str(f) for f in directory.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()
    )


def audio_files(inputs: list[str]) -> list[str]:
    """Each input as given, except directories, which become the audio files under them (an
    empty one stays as it is, to be reported)."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        out += (audio_files_under(path) or [item]) if path.is_dir() else [item]
    return out


def check_audio_path(path: Path) -> None:
    """An `AudioError` saying plainly why `path` cannot be read as an audio file, if it cannot."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a special file"
        )
        raise AudioError(f"{path}: is {kind}, not a regular audio file")
    if info.st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: cannot be opened (permission denied)")


def decoder_reason(exc: Exception) -> str:
    """libsndfile's reason without its internals (object reprs, addresses), in plain words."""
    reason = getattr(exc, "error_string", None) or str(exc)
    reason = re.sub(r"Error opening .*?: ", "", reason)
    reason = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the data", reason)
    return reason.strip().rstrip(".").lower() or "unknown format"


BLOCK_FRAMES = 32_768  # frames decoded at a time: memory is the output plus one block


class _Decoder:
    """An opened input whose size was checked from its header, read block by block."""

    def __init__(self, source: AudioSource, max_seconds: float | None, max_samples: int | None) -> None:
        self.name = describe(source)
        if isinstance(source, (str, os.PathLike)):
            check_audio_path(Path(source))
        elif isinstance(source, bytes):
            if not source:
                raise AudioError("audio bytes are empty")
            source = io.BytesIO(source)
        self.source, self.max_seconds, self.max_samples = source, max_seconds, max_samples

    def check(self, frames: int, rate: int, channels: int) -> None:
        """`AudioTooLongError` when `frames` at `rate` and `channels` pass a cap."""
        if self.max_seconds is not None and frames > self.max_seconds * rate:
            raise AudioTooLongError(
                f"{self.name}: {frames / rate:.1f} s is longer than the {self.max_seconds:g} s cap"
            )
        if self.max_samples is not None and frames * channels > self.max_samples:
            raise AudioTooLongError(
                f"{self.name}: {frames / rate:.1f} s at {rate} Hz x {channels} channel(s) is "
                f"{frames * channels} samples to decode, over the {self.max_samples}-sample cap"
            )

    def blocks(self) -> Iterator[tuple[np.ndarray, int]]:
        """(block of float32 (frames, channels), sample rate), checked before and while decoding
        (a header may understate the length)."""
        try:
            if looks_like_mpeg(self.source):  # decoded whole, while libmpg123's notes are kept off stderr
                with mpeg_notes_dropped():
                    blocks = list(self._checked_blocks())
                yield from blocks
            else:
                yield from self._checked_blocks()
        except AudioError:
            raise
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise AudioError(f"{self.name}: not readable as audio ({decoder_reason(exc)})") from exc
        except OSError as exc:
            raise AudioError(f"{self.name}: cannot be read ({exc.strerror or exc})") from exc

    def _checked_blocks(self) -> Iterator[tuple[np.ndarray, int]]:
        with sf.SoundFile(self.source) as f:
            self.check(f.frames, f.samplerate, f.channels)
            decoded = 0
            for block in f.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
                decoded += len(block)
                self.check(decoded, f.samplerate, f.channels)
                yield block, f.samplerate


def looks_like_mpeg(source: str | os.PathLike[str] | BinaryIO) -> bool:
    """An ID3 tag or an MPEG audio frame's sync word first (the input stays where it was)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            head = f.read(3)
    elif source.seekable():
        where = source.tell()
        head = source.read(3)
        source.seek(where)
    else:
        return False
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


_STDERR = threading.Lock()


@contextlib.contextmanager
def mpeg_notes_dropped() -> Iterator[None]:
    """libmpg123 (inside libsndfile) writes its notes on damaged MP3 frames straight to the
    process's stderr, which a user would read as an emovox error: meanwhile stderr goes to a
    file, and what else was written there (another thread's) is passed on afterwards."""
    with _STDERR, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().splitlines(keepends=True)
                if not line.startswith(b"[src/libmpg123/")
            ]
            if kept:
                os.write(2, b"".join(kept))


def read_audio(
    source: AudioSource, max_seconds: float | None = None, max_samples: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode anything libsndfile reads (WAV, FLAC, OGG, MP3, ...) as float32 (samples, channels).

    The length (`max_seconds`) and the decoded size (`max_samples`: frames x channels) are
    checked from the header before decoding, so an oversize file costs nothing.
    """
    blocks = list(_Decoder(source, max_seconds, max_samples).blocks())
    if not blocks:
        raise AudioError(f"{describe(source)}: audio is empty (0 samples)")
    return np.concatenate([b for b, _ in blocks]), blocks[0][1]


def decode_mono(
    source: AudioSource, sample_rate: int, max_seconds: float | None = None, max_samples: int | None = None
) -> np.ndarray:
    """Mono float32 at `sample_rate`, decoded, averaged over channels and resampled block by
    block: memory is the output plus one block, whatever the input's rate and channels."""
    out: list[np.ndarray] = []
    resampler = None
    for block, rate in _Decoder(source, max_seconds, max_samples).blocks():
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        if rate != sample_rate:
            resampler = resampler or soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
            mono = resampler.resample_chunk(mono)
        out.append(np.asarray(mono, dtype=np.float32))
    if resampler is not None:
        out.append(resampler.resample_chunk(np.empty(0, dtype=np.float32), last=True))
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


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
        raise AudioTooShortError(
            f"audio is {1000 * len(x) / config.sample_rate:.1f} ms long, shorter than one "
            f"{1000 * config.frame_length / config.sample_rate:.0f} ms frame"
        )
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise NoSoundError("audio is digital silence (every sample is zero)")
    if peak < QUIETEST_PEAK:
        raise NoSoundError(
            f"audio holds no sound: its loudest sample ({peak:.3g}) is below 24-bit audio's smallest step"
        )
    if config.trim_silence:
        x = trim_silence(x, config)
    if config.peak_normalise:
        x = x * np.float32(1.0 / float(np.max(np.abs(x))))
    return np.ascontiguousarray(x, dtype=np.float32)


def load_audio(
    source: AudioSource, config: AudioConfig = DEFAULT_AUDIO, max_samples: int | None = None
) -> np.ndarray:
    """Read a file (path, bytes or binary stream) and prepare it: mono float32 at 16 kHz.

    Decoding streams (see `decode_mono`); `max_samples` caps the samples decoded (frames x
    channels at the file's own rate), checked from the header first."""
    signal = decode_mono(source, config.sample_rate, config.max_seconds, max_samples)
    try:
        return prepare_signal(signal, config.sample_rate, config)
    except AudioError as exc:
        raise type(exc)(f"{describe(source)}: {exc}") from exc

"""Typed errors: every failure a user can cause has its own class and a message that says what to fix."""

from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=Enum)


class EmovoxError(Exception):
    """Base class of all emovox errors, so callers can catch ours and nothing else."""


class AudioError(EmovoxError, ValueError):
    """Audio that cannot be used: unreadable, empty, non-finite, too short or too long."""


class AudioTooLongError(AudioError):
    """Audio longer than the configured cap (a service answers 413)."""


class AudioTooShortError(AudioError):
    """Decodable audio shorter than one analysis frame (a service answers 422)."""


class NoSoundError(AudioError):
    """Decodable audio with nothing to judge: digital silence, or not one whole 25 ms frame with
    sound in it (a service answers 422)."""


class NoSpeechError(NoSoundError):
    """Sound, but no speech in it (noise, hum, tones, music, clicks): nothing whose emotion could
    be judged (a service answers 422)."""


class CorpusError(EmovoxError):
    """A corpus root that is missing, empty or not laid out as the reader expects."""


class ConfigError(EmovoxError, ValueError):
    """A configuration value outside its allowed range."""


class ProtocolError(EmovoxError):
    """An evaluation split that cannot be built, or one that would leak speakers."""


class FeatureError(EmovoxError, ValueError):
    """Feature arrays of the wrong shape, or a feature set that does not exist."""


class EmovoxWarning(UserWarning):
    """A request that runs but does not do what was asked (e.g. adaptation of a model it cannot
    change); the CLI prints these as `emovox: note: ...`."""


def choice(enum: type[E], value: object, what: str) -> E:
    """`enum(value)`, or a ConfigError that lists the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(e) for e in enum)
        raise ConfigError(f"{what} must be one of {allowed}, got {value!r}") from None

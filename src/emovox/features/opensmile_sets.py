"""The field's standard utterance sets through openSMILE: eGeMAPSv02 (88) and ComParE_2016 (6373)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from emovox.errors import FeatureError
from emovox.features.base import FeatureExtractor, Level

# opensmile-python turns float audio into int16 as `x * 32768`: a sample of exactly +1.0 (which
# peak normalisation produces) would wrap to -32768. Scaling by this keeps every sample in range.
INT16_SAFE = np.float32(32767 / 32768)


@dataclass(frozen=True)
class OpenSmileConfig:
    feature_set: str
    sample_rate: int = 16_000


class OpenSmileSet(FeatureExtractor):
    """Functionals of an openSMILE feature set; the engine is built on first use (fork-safe)."""

    level = Level.UTTERANCE
    feature_set: ClassVar[str]

    def __init__(self) -> None:
        self.config = OpenSmileConfig(self.feature_set)
        self.sample_rate = self.config.sample_rate

    @cached_property
    def _smile(self) -> Any:
        import opensmile

        return opensmile.Smile(
            feature_set=opensmile.FeatureSet[self.feature_set],
            feature_level=opensmile.FeatureLevel.Functionals,
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self._smile.feature_names)

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # "segment too short": reported below as a FeatureError
            warnings.simplefilter("ignore", UserWarning)
            frame = self._smile.process_signal(signal * INT16_SAFE, self.sample_rate)
        values = frame.to_numpy()[0]
        if not np.all(np.isfinite(values)):
            raise FeatureError(
                f"{self.name}: openSMILE gave no values for this {len(signal) / self.sample_rate:.3f} s "
                "signal (too short for its analysis windows)"
            )
        return values.astype(np.float32)

    def __getstate__(self) -> dict[str, Any]:
        """Send to worker processes without the native engine; each rebuilds its own."""
        return {k: v for k, v in self.__dict__.items() if k != "_smile"}


class EGeMAPS(OpenSmileSet):
    """eGeMAPS v02 (Eyben et al. 2016): 88 expert-chosen prosodic, voice and spectral functionals."""

    name = "egemaps"
    feature_set = "eGeMAPSv02"


class ComParE(OpenSmileSet):
    """ComParE 2016: 6373 brute-forced functionals, the Interspeech challenges' baseline set."""

    name = "compare"
    feature_set = "ComParE_2016"

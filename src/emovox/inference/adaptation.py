"""Adaptation to one speaker or one recording set-up from unlabelled audio.

A model standardises its features with statistics of its training data. Recordings from
another room, microphone or voice shift those features as a whole; given several unlabelled
recordings of the same speaker or set-up, their own feature mean and spread replace the
training statistics (the test-time counterpart of per-speaker normalisation):

    x -> (x - mean_adapt) / std_adapt * std_train + mean_train

It applies to utterance-level feature sets (statistics over a clip's speech). Frame-level
models (the CRNN, the streaming LSTM) are left as they are: statistics over frames mix speech
and pauses in proportions that differ between recordings, and moving them cost the CRNN
accuracy in the cross-corpus test instead of gaining any.

The adapted statistics shrink toward the training ones by a prior worth 5 clips, so a handful
of files moves them only partly. It assumes the recordings mix emotions: statistics of a batch
that is all one emotion absorb that emotion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emovox.errors import FeatureError
from emovox.features import Level
from emovox.training.scaler import Standardizer

PRIOR = 5.0  # clips


@dataclass
class RunningStats:
    """Sums of one feature set's rows (utterance vectors or frames), updated as audio arrives."""

    dim: int
    count: float = 0.0
    total: np.ndarray = field(init=False)
    squares: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.total = np.zeros(self.dim)
        self.squares = np.zeros(self.dim)

    def add(self, rows: np.ndarray) -> None:
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        if rows.shape[1] != self.dim:
            raise FeatureError(f"expected rows of dim {self.dim}, got {rows.shape}")
        self.count += len(rows)
        self.total += rows.sum(axis=0)
        self.squares += np.square(rows).sum(axis=0)

    def merge(self, other: RunningStats) -> None:
        """Add the rows `other` has seen (statistics gathered apart, e.g. by batch workers)."""
        if other.dim != self.dim:
            raise FeatureError(f"cannot merge statistics of dim {other.dim} into dim {self.dim}")
        self.count += other.count
        self.total += other.total
        self.squares += other.squares

    def blended(self, training: Standardizer, prior: float) -> Standardizer:
        """Mean and std of what was added, shrunk toward the training statistics."""
        mean_t = training.mean.astype(np.float64)
        var_t = np.square(training.std.astype(np.float64))
        n = self.count
        mean = (self.total + prior * mean_t) / (n + prior)
        second = (self.squares + prior * (var_t + np.square(mean_t))) / (n + prior)
        std = np.sqrt(np.maximum(second - np.square(mean), 1e-12))
        return Standardizer(mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))


@dataclass
class Adaptation:
    """Per feature set: running statistics of the adaptation audio."""

    stats: dict[str, RunningStats] = field(default_factory=dict)

    def add(self, features: dict[str, np.ndarray]) -> None:
        for name, rows in features.items():
            rows = np.atleast_2d(rows)
            self.stats.setdefault(name, RunningStats(rows.shape[1])).add(rows)

    def merge(self, other: Adaptation) -> None:
        for name, stats in other.stats.items():
            self.stats.setdefault(name, RunningStats(stats.dim)).merge(stats)

    @staticmethod
    def applies_to(level: Level) -> bool:
        return level is Level.UTTERANCE

    def transform(self, name: str, level: Level, training: Standardizer, x: np.ndarray) -> np.ndarray:
        """Features re-standardised with the adapted statistics, in the training scale."""
        stats = self.stats.get(name)
        if not self.applies_to(level) or stats is None or stats.count == 0:
            return x
        adapted = stats.blended(training, PRIOR)
        return ((x - adapted.mean) / adapted.std * training.std + training.mean).astype(np.float32)

"""Standardisation fitted on training data only, stored as plain arrays (no pickle)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emovox.errors import FeatureError


@dataclass(frozen=True)
class Standardizer:
    """Per-dimension (x - mean) / std; constant dimensions are left centred, not divided by 0."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray | Sequence[np.ndarray]) -> Standardizer:
        """Fit on a (n, dim) matrix, or on a list of (frames, dim) sequences (all frames pooled)."""
        data = rows if isinstance(rows, np.ndarray) else np.concatenate(list(rows))
        if data.ndim != 2 or len(data) == 0:
            raise FeatureError(f"cannot fit a scaler on shape {data.shape}")
        data = data.astype(np.float64)
        std = data.std(axis=0)
        return cls(data.mean(axis=0).astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape[-1] != len(self.mean):
            raise FeatureError(f"scaler expects dim {len(self.mean)}, got shape {x.shape}")
        return ((x - self.mean) / self.std).astype(np.float32)

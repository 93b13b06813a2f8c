"""Batches for training and inference: fixed-size feature vectors or variable-length frame
sequences (random crops and SpecAugment-style masks at training time only)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from emovox.errors import FeatureError


@dataclass
class Batch:
    x: torch.Tensor  # (batch, dim) or (batch, frames, dim), padded
    y: torch.Tensor  # (batch,) class indices
    lengths: torch.Tensor | None = None  # real frames per sequence


@dataclass(frozen=True)
class SequenceAugment:
    """Training-time transforms of frame sequences: a random crop and SpecAugment masks
    (Park et al. 2019) over time and over feature dimensions, applied after standardisation."""

    crop_frames: int | None = None
    time_masks: int = 0
    time_width: int = 20
    feature_masks: int = 0
    feature_width: int = 2


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive batches of `batch_size`; a lone trailing item joins the batch before it
    (batch norm cannot train on a batch of one)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    ends = [*starts[1:], n] if starts else []
    return [slice(a, b) for a, b in zip(starts, ends, strict=True)]


class VectorData:
    """(n, dim) standardised utterance vectors with labels."""

    def __init__(self, x: np.ndarray, y: Sequence[int]) -> None:
        if x.ndim != 2 or len(x) != len(y):
            raise FeatureError(f"vectors {x.shape} and {len(y)} labels do not match")
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, train: bool = False
    ) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=generator) if train else torch.arange(len(self))
        for part in batch_slices(len(self), batch_size):
            idx = order[part]
            yield Batch(self.x[idx], self.y[idx])


class SequenceData:
    """Variable-length (frames, dim) sequences with labels, padded per batch."""

    def __init__(
        self, sequences: Sequence[np.ndarray], y: Sequence[int], augment: SequenceAugment | None = None
    ) -> None:
        if len(sequences) != len(y):
            raise FeatureError(f"{len(sequences)} sequences but {len(y)} labels")
        if any(len(s) == 0 for s in sequences):
            raise FeatureError("a sequence has no frames")
        self.sequences = [torch.from_numpy(np.ascontiguousarray(s, dtype=np.float32)) for s in sequences]
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        self.augment = augment or SequenceAugment()

    def __len__(self) -> int:
        return len(self.y)

    def _train_view(self, seq: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        a = self.augment
        if a.crop_frames and len(seq) > a.crop_frames:
            start = int(torch.randint(0, len(seq) - a.crop_frames + 1, (1,), generator=generator))
            seq = seq[start : start + a.crop_frames]
        if a.time_masks or a.feature_masks:
            seq = seq.clone()
            for _ in range(a.time_masks):
                width = int(torch.randint(0, a.time_width + 1, (1,), generator=generator))
                start = int(torch.randint(0, max(1, len(seq) - width), (1,), generator=generator))
                seq[start : start + width] = 0.0
            for _ in range(a.feature_masks):
                width = int(torch.randint(0, a.feature_width + 1, (1,), generator=generator))
                start = int(torch.randint(0, max(1, seq.shape[1] - width), (1,), generator=generator))
                seq[:, start : start + width] = 0.0
        return seq

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, train: bool = False
    ) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=generator).tolist() if train else list(range(len(self)))
        for part in batch_slices(len(self), batch_size):
            idx = order[part]
            seqs = [
                self._train_view(self.sequences[i], generator) if train else self.sequences[i] for i in idx
            ]
            yield Batch(
                pad_sequence(seqs, batch_first=True),
                self.y[idx],
                torch.tensor([len(s) for s in seqs], dtype=torch.long),
            )

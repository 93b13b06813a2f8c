"""One manifest type for every corpus: what each clip is, who says it, and what it expresses."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emovox.errors import CorpusError


@dataclass(frozen=True)
class Utterance:
    """One labelled clip. `speaker` is the corpus's own id; `speaker_id` is unique across corpora."""

    path: str
    corpus: str
    speaker: str
    label: str
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def speaker_id(self) -> str:
        return f"{self.corpus}/{self.speaker}"


@dataclass(frozen=True)
class Rejected:
    """A file that was found under a corpus root but could not be parsed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Manifest(Sequence[Utterance]):
    """An ordered, immutable list of utterances plus the files a reader could not parse."""

    utterances: tuple[Utterance, ...]
    rejected: tuple[Rejected, ...] = ()
    label_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.label_order:
            object.__setattr__(self, "label_order", tuple(sorted({u.label for u in self})))
        unknown = {u.label for u in self} - set(self.label_order)
        if unknown:
            raise CorpusError(f"labels {sorted(unknown)} are not in label_order {self.label_order}")

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return self.subset(range(len(self))[index])
        return self.utterances[index]

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    @property
    def labels(self) -> list[str]:
        return [u.label for u in self]

    @property
    def speakers(self) -> list[str]:
        """Unique speaker ids in first-seen order."""
        return list(dict.fromkeys(u.speaker_id for u in self))

    @property
    def corpora(self) -> list[str]:
        return list(dict.fromkeys(u.corpus for u in self))

    def label_indices(self) -> list[int]:
        """Class index of each utterance in `label_order`: the targets a model trains on."""
        position = {label: i for i, label in enumerate(self.label_order)}
        return [position[u.label] for u in self]

    def label_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {label: counts[label] for label in self.label_order}

    def subset(self, indices: Sequence[int] | range) -> Manifest:
        """The utterances at `indices`, keeping the label order so class indices stay stable."""
        return Manifest(tuple(self.utterances[i] for i in indices), (), self.label_order)

    def summary(self) -> dict[str, Any]:
        """The corpus summary the CLI prints: clips, speakers and clips per label."""
        return {
            "corpus": "+".join(self.corpora),
            "clips": len(self),
            "speakers": len(self.speakers),
            "labels": self.label_counts(),
            "rejected": len(self.rejected),
        }

    def __add__(self, other: Manifest) -> Manifest:  # type: ignore[override]
        order = tuple(dict.fromkeys(self.label_order + other.label_order))
        return Manifest(self.utterances + other.utterances, self.rejected + other.rejected, order)

    def to_rows(self) -> list[dict[str, str]]:
        """Flat rows (path, corpus, speaker, label, meta as JSON), for CSV or arrays."""
        return [
            {
                "path": u.path,
                "corpus": u.corpus,
                "speaker": u.speaker,
                "label": u.label,
                "meta": json.dumps(u.meta, sort_keys=True),
            }
            for u in self
        ]

    def to_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["path", "corpus", "speaker", "label", "meta"])
            writer.writeheader()
            writer.writerows(self.to_rows())

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, str]], label_order: Sequence[str] = ()) -> Manifest:
        """Inverse of `to_rows`."""
        utterances = tuple(
            Utterance(r["path"], r["corpus"], r["speaker"], r["label"], json.loads(r["meta"] or "{}"))
            for r in rows
        )
        return cls(utterances, (), tuple(label_order))

"""Train/validation/test splits by speaker (the headline) and the seed's random split.

Every speaker-independent split is checked on construction: a speaker in two parts raises
`ProtocolError`, so a leaking split cannot exist. Validation speakers are carved out of the
training part only, so hyper-parameters are never picked on test speakers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from emovox.corpora.manifest import Manifest
from emovox.errors import ProtocolError

# EmoBox's six speaker-independent RAVDESS folds: test actors per fold (../shared/data/README.md).
RAVDESS_EMOBOX_FOLDS: tuple[tuple[str, ...], ...] = (
    ("01", "11", "20", "21"),
    ("04", "10", "12", "14"),
    ("08", "09", "19", "23"),
    ("03", "05", "07", "24"),
    ("02", "15", "16", "18"),
    ("06", "13", "17", "22"),
)


@dataclass(frozen=True)
class Split:
    """Indices into a manifest for each part; `speaker_independent` says which promise it keeps."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    speaker_independent: bool = True
    info: dict[str, object] = field(default_factory=dict)

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def speakers(self, manifest: Manifest) -> dict[str, set[str]]:
        return {part: {manifest[int(i)].speaker_id for i in idx} for part, idx in self.parts().items()}


def check_split(manifest: Manifest, split: Split) -> None:
    """Raise `ProtocolError` if the parts overlap in clips or, when promised, in speakers."""
    parts = split.parts()
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        if np.intersect1d(parts[a], parts[b]).size:
            raise ProtocolError(f"{split.name}: clips in both {a} and {b}")
    if not split.speaker_independent:
        return
    speakers = split.speakers(manifest)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = speakers[a] & speakers[b]
        if shared:
            raise ProtocolError(f"{split.name}: speakers {sorted(shared)} in both {a} and {b}")


def _indices_of(manifest: Manifest, speakers: set[str]) -> np.ndarray:
    return np.array([i for i, u in enumerate(manifest) if u.speaker_id in speakers], dtype=np.int64)


def _resolve(manifest: Manifest, speakers: Sequence[str]) -> set[str]:
    """Accept speaker ids (`corpus/id`) or a single corpus's native ids (`01`)."""
    known = set(manifest.speakers)
    by_native: dict[str, set[str]] = {}
    for u in manifest:
        by_native.setdefault(u.speaker, set()).add(u.speaker_id)
    resolved: set[str] = set()
    for s in speakers:
        if s in known:
            resolved.add(s)
        elif len(by_native.get(s, ())) == 1:
            resolved |= by_native[s]
        else:
            raise ProtocolError(f"speaker {s!r} is not (unambiguously) in the manifest")
    return resolved


def _gender_of(manifest: Manifest) -> dict[str, str]:
    return {u.speaker_id: u.meta.get("gender", "unknown") for u in manifest}


def choose_validation_speakers(
    manifest: Manifest, candidates: Sequence[str], count: int, seed: int
) -> list[str]:
    """Pick `count` speakers from `candidates`, seeded, alternating genders when known."""
    if count < 0 or count >= len(candidates):
        raise ProtocolError(
            f"cannot take {count} validation speakers from {len(candidates)} training speakers"
        )
    rng = np.random.default_rng(seed)
    gender = _gender_of(manifest)
    pools: dict[str, list[str]] = {}
    for s in rng.permutation(sorted(candidates)).tolist():
        pools.setdefault(gender[s], []).append(s)
    chosen: list[str] = []
    order = sorted(pools)
    while len(chosen) < count:
        for g in order:
            if pools[g] and len(chosen) < count:
                chosen.append(pools[g].pop())
    return chosen


def _speaker_split(manifest: Manifest, name: str, test: set[str], n_val_speakers: int, seed: int) -> Split:
    train_speakers = [s for s in manifest.speakers if s not in test]
    val = set(choose_validation_speakers(manifest, train_speakers, n_val_speakers, seed))
    split = Split(
        name,
        train=_indices_of(manifest, set(train_speakers) - val),
        val=_indices_of(manifest, val),
        test=_indices_of(manifest, test),
        info={"test_speakers": sorted(test), "val_speakers": sorted(val)},
    )
    check_split(manifest, split)
    return split


def speaker_folds(
    manifest: Manifest,
    test_speakers: Sequence[Sequence[str]],
    n_val_speakers: int = 0,
    seed: int = 0,
    prefix: str = "fold",
) -> list[Split]:
    """One split per group of test speakers; the rest train, minus `n_val_speakers` for validation."""
    if not test_speakers:
        raise ProtocolError("no folds given")
    return [
        _speaker_split(manifest, f"{prefix}{k}", _resolve(manifest, group), n_val_speakers, seed + k)
        for k, group in enumerate(test_speakers, start=1)
    ]


def ravdess_emobox_folds(manifest: Manifest, n_val_speakers: int = 2, seed: int = 0) -> list[Split]:
    """RAVDESS's six standard folds (EmoBox): 4 test actors, 20 train (incl. validation)."""
    if manifest.corpora != ["ravdess"]:
        raise ProtocolError(f"the EmoBox folds are for RAVDESS alone, got {manifest.corpora}")
    return speaker_folds(manifest, RAVDESS_EMOBOX_FOLDS, n_val_speakers, seed)


def speaker_kfold(manifest: Manifest, k: int, n_val_speakers: int = 0, seed: int = 0) -> list[Split]:
    """k folds of whole speakers, dealt out per gender so each fold mixes genders when known."""
    speakers = manifest.speakers
    if not 2 <= k <= len(speakers):
        raise ProtocolError(f"k must be in [2, {len(speakers)}] speakers, got {k}")
    rng = np.random.default_rng(seed)
    gender = _gender_of(manifest)
    dealt = sorted(rng.permutation(speakers).tolist(), key=lambda s: gender[s])
    groups = [dealt[i::k] for i in range(k)]
    return speaker_folds(manifest, groups, n_val_speakers, seed)


def leave_one_speaker_out(manifest: Manifest, n_val_speakers: int = 1, seed: int = 0) -> list[Split]:
    """LOSO (EmoDB's standard): each speaker is the test set once."""
    speakers = manifest.speakers
    if len(speakers) < 2 + n_val_speakers:
        raise ProtocolError(f"LOSO needs more than {1 + n_val_speakers} speakers, got {len(speakers)}")
    folds = speaker_folds(manifest, [[s] for s in speakers], n_val_speakers, seed)
    return [
        dataclasses.replace(f, name=f"speaker-{s.split('/', 1)[1]}")
        for f, s in zip(folds, speakers, strict=True)
    ]


def stratified_split(
    manifest: Manifest,
    test_size: float = 0.2,
    val_size: float = 0.0,
    seed: int = 0,
    keep_together: Sequence[Sequence[int]] = (),
) -> Split:
    """The seed's random split (80/20 or 70/15/15), stratified by label.

    Speakers appear in every part, so results on it are speaker-dependent and labelled as such.
    Each group in `keep_together` (e.g. byte-identical clips, see `find_duplicates`) lands in
    one part, so no test clip has a copy in training.
    """
    if not 0 < test_size < 1 or not 0 <= val_size < 1 or test_size + val_size >= 1:
        raise ProtocolError(f"test_size={test_size}, val_size={val_size} must be fractions summing < 1")
    leader = np.arange(len(manifest))
    for group in keep_together:
        leader[list(group)] = min(group)
    units = np.unique(leader)  # one unit per clip, or per group of clips kept together
    labels = np.array(manifest.labels)
    rest, test = train_test_split(units, test_size=test_size, random_state=seed, stratify=labels[units])
    val = np.array([], dtype=np.int64)
    if val_size > 0:
        rest, val = train_test_split(
            rest, test_size=val_size / (1 - test_size), random_state=seed, stratify=labels[rest]
        )

    def expand(part: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(leader, part))

    name = f"random-{round(100 * (1 - test_size - val_size))}-"
    name += f"{round(100 * val_size)}-" if val_size else ""
    split = Split(
        name + f"{round(100 * test_size)}",
        expand(rest),
        expand(val),
        expand(test),
        speaker_independent=False,
    )
    check_split(manifest, split)
    return split

"""The shared emotion label set for cross-corpus work, and each corpus's mapping onto it.

Each corpus keeps its native labels; `to_shared` re-labels a manifest onto this set. Labels a
corpus has that the shared set lacks (none today) would be dropped with a reason, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

from emovox.corpora.manifest import Manifest, Rejected, Utterance
from emovox.errors import CorpusError

SHARED_LABELS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
    "calm",
    "boredom",
)

# native label -> shared label, per corpus. The native names are the ones the readers emit.
SHARED_MAPPING: dict[str, dict[str, str]] = {
    "ravdess": {label: label for label in SHARED_LABELS if label != "boredom"},
    "emodb": {
        "neutral": "neutral",
        "happiness": "happy",
        "sadness": "sad",
        "anger": "angry",
        "fear": "fearful",
        "disgust": "disgust",
        "boredom": "boredom",
    },
    "tess": {
        "neutral": "neutral",
        "happy": "happy",
        "sad": "sad",
        "angry": "angry",
        "fear": "fearful",
        "disgust": "disgust",
        "pleasant_surprise": "surprised",
    },
    "cremad": {
        "neutral": "neutral",
        "happy": "happy",
        "sad": "sad",
        "anger": "angry",
        "fear": "fearful",
        "disgust": "disgust",
    },
    "ased": {label: label for label in ("neutral", "fearful", "happy", "sad", "angry")},
    "nemo": {
        "neutral": "neutral",
        "happiness": "happy",
        "sadness": "sad",
        "anger": "angry",
        "fear": "fearful",
        "surprised": "surprised",
    },
    "emovo": {
        "neutral": "neutral",
        "joy": "happy",
        "sadness": "sad",
        "anger": "angry",
        "fear": "fearful",
        "disgust": "disgust",
        "surprise": "surprised",
    },
    "kor": {label: label for label in ("neutral", "happy", "sad", "angry")},
    "turev": {label: label for label in ("angry", "calm", "happy", "sad")},
    "savee": {
        "neutral": "neutral",
        "happiness": "happy",
        "sadness": "sad",
        "anger": "angry",
        "fear": "fearful",
        "disgust": "disgust",
        "surprise": "surprised",
    },
}


def to_shared(
    manifest: Manifest, labels: tuple[str, ...] | None = None, overrides: Mapping[str, str] | None = None
) -> Manifest:
    """Re-label onto the shared set; the native label is kept in `meta["native_label"]`.

    `labels` restricts the result to a subset (e.g. the classes two corpora have in common);
    utterances outside it go to `rejected` with the reason, so nothing vanishes unexplained.
    `overrides` maps "corpus/native label" to another shared label than the usual one (an
    experiment's choice, e.g. "turev/calm" = "neutral").
    """
    keep = tuple(labels) if labels is not None else SHARED_LABELS
    overrides = dict(overrides or {})
    unknown = (set(keep) | set(overrides.values())) - set(SHARED_LABELS)
    if unknown:
        raise CorpusError(f"{sorted(unknown)} are not shared labels; choose from {SHARED_LABELS}")
    kept: list[Utterance] = []
    dropped: list[Rejected] = list(manifest.rejected)
    for u in manifest:
        mapping = SHARED_MAPPING.get(u.corpus)
        shared = (u.label if u.label in SHARED_LABELS else None) if mapping is None else mapping.get(u.label)
        shared = overrides.get(f"{u.corpus}/{u.label}", shared)
        if shared is None or shared not in keep:
            dropped.append(Rejected(u.path, f"label {u.label!r} not in the chosen shared labels"))
            continue
        meta = {**u.meta, "native_label": u.label}
        kept.append(Utterance(u.path, u.corpus, u.speaker, shared, meta))
    order = tuple(label for label in keep if any(u.label == label for u in kept))
    return Manifest(tuple(kept), tuple(dropped), order)


def common_labels(*manifests: Manifest) -> tuple[str, ...]:
    """Shared labels present in every manifest: the fair label set for cross-corpus tests."""
    sets = [set(to_shared(m).label_order) for m in manifests]
    common = set.intersection(*sets) if sets else set()
    return tuple(label for label in SHARED_LABELS if label in common)

"""Evaluation protocols: which clips train, validate and test, with speakers kept apart."""

from __future__ import annotations

from emovox.corpora.duplicates import find_duplicates
from emovox.corpora.manifest import Manifest
from emovox.errors import ProtocolError
from emovox.protocols.splits import (
    RAVDESS_EMOBOX_FOLDS,
    Split,
    check_split,
    choose_validation_speakers,
    leave_one_speaker_out,
    ravdess_emobox_folds,
    speaker_folds,
    speaker_kfold,
    stratified_split,
)

RANDOM_SPLITS = {"random-80-20": (0.2, 0.0), "random-70-15-15": (0.15, 0.15)}  # (test, val)
PROTOCOLS = ("ravdess-emobox", "loso", "speaker-kfold", *RANDOM_SPLITS)


def make_splits(
    protocol: str, manifest: Manifest, n_val_speakers: int = 2, k: int = 5, seed: int = 0
) -> list[Split]:
    """Build the splits of a protocol by name (config files and the CLI name protocols).

    Random splits keep byte-identical clips together (see `find_duplicates`)."""
    if protocol == "ravdess-emobox":
        return ravdess_emobox_folds(manifest, n_val_speakers, seed)
    if protocol == "loso":
        return leave_one_speaker_out(manifest, n_val_speakers, seed)
    if protocol == "speaker-kfold":
        return speaker_kfold(manifest, k, n_val_speakers, seed)
    if protocol in RANDOM_SPLITS:
        test_size, val_size = RANDOM_SPLITS[protocol]
        return [stratified_split(manifest, test_size, val_size, seed, find_duplicates(manifest))]
    raise ProtocolError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


__all__ = [
    "PROTOCOLS",
    "RAVDESS_EMOBOX_FOLDS",
    "Split",
    "check_split",
    "choose_validation_speakers",
    "leave_one_speaker_out",
    "make_splits",
    "ravdess_emobox_folds",
    "speaker_folds",
    "speaker_kfold",
    "stratified_split",
]

"""Evaluation protocols: which clips train, validate and test, with speakers kept apart."""

from __future__ import annotations

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

PROTOCOLS = ("ravdess-emobox", "loso", "speaker-kfold", "random-80-20", "random-70-15-15")


def make_splits(
    protocol: str, manifest: Manifest, n_val_speakers: int = 2, k: int = 5, seed: int = 0
) -> list[Split]:
    """Build the splits of a protocol by name (config files and the CLI name protocols)."""
    if protocol == "ravdess-emobox":
        return ravdess_emobox_folds(manifest, n_val_speakers, seed)
    if protocol == "loso":
        return leave_one_speaker_out(manifest, n_val_speakers, seed)
    if protocol == "speaker-kfold":
        return speaker_kfold(manifest, k, n_val_speakers, seed)
    if protocol == "random-80-20":
        return [stratified_split(manifest, 0.2, 0.0, seed)]
    if protocol == "random-70-15-15":
        return [stratified_split(manifest, 0.15, 0.15, seed)]
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

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emovox.corpora import Manifest, find_duplicates
from emovox.errors import ProtocolError
from emovox.protocols import (
    RAVDESS_EMOBOX_FOLDS,
    Split,
    check_split,
    make_splits,
    speaker_kfold,
    stratified_split,
)


def assert_no_speaker_overlap(manifest: Manifest, split: Split) -> None:
    speakers = split.speakers(manifest)
    assert not speakers["train"] & speakers["test"]
    assert not speakers["train"] & speakers["val"]
    assert not speakers["val"] & speakers["test"]
    covered = np.concatenate([split.train, split.val, split.test])
    assert len(covered) == len(set(covered.tolist())) == len(manifest)


def test_ravdess_emobox_folds(ravdess: Manifest) -> None:
    splits = make_splits("ravdess-emobox", ravdess, n_val_speakers=2)
    assert len(splits) == 6
    tested: list[str] = []
    for split, actors in zip(splits, RAVDESS_EMOBOX_FOLDS, strict=True):
        assert_no_speaker_overlap(ravdess, split)
        assert split.speakers(ravdess)["test"] == {f"ravdess/{a}" for a in actors}
        assert len(split.speakers(ravdess)["val"]) == 2
        assert {ravdess[int(i)].meta["gender"] for i in split.val} == {"male", "female"}
        assert (len(split.train), len(split.val), len(split.test)) == (1080, 120, 240)
        tested += actors
    assert sorted(tested) == [f"{a:02d}" for a in range(1, 25)]


def test_emodb_leave_one_speaker_out(emodb: Manifest) -> None:
    splits = make_splits("loso", emodb, n_val_speakers=1)
    assert len(splits) == 10
    for split in splits:
        assert_no_speaker_overlap(emodb, split)
        assert len(split.speakers(emodb)["test"]) == 1
    assert sum(len(s.test) for s in splits) == 535


def test_speaker_kfold_is_seeded_and_disjoint(emodb: Manifest) -> None:
    a = speaker_kfold(emodb, k=5, n_val_speakers=1, seed=3)
    b = speaker_kfold(emodb, k=5, n_val_speakers=1, seed=3)
    for x, y in zip(a, b, strict=True):
        assert_no_speaker_overlap(emodb, x)
        np.testing.assert_array_equal(x.test, y.test)
    with pytest.raises(ProtocolError):
        speaker_kfold(emodb, k=11)


@pytest.mark.parametrize(
    ("protocol", "sizes"), [("random-80-20", (0.8, 0, 0.2)), ("random-70-15-15", (0.7, 0.15, 0.15))]
)
def test_stratified_random_split(ravdess: Manifest, protocol: str, sizes) -> None:
    (split,) = make_splits(protocol, ravdess, seed=7)
    assert not split.speaker_independent
    for part, fraction in zip((split.train, split.val, split.test), sizes, strict=True):
        assert abs(len(part) - fraction * 1440) <= 2
    test_labels = [ravdess[int(i)].label for i in split.test]
    assert abs(test_labels.count("neutral") - 96 * sizes[2]) <= 1  # stratified
    (again,) = make_splits(protocol, ravdess, seed=7)
    np.testing.assert_array_equal(split.test, again.test)


def test_random_splits_keep_identical_recordings_together(ravdess: Manifest) -> None:
    (group,) = find_duplicates(ravdess)  # RAVDESS's Actor_07 pair
    assert {Path(ravdess[i].path).stem for i in group} == {"03-01-03-01-02-01-07", "03-01-03-01-02-02-07"}
    for seed in range(20):
        (split,) = make_splits("random-80-20", ravdess, seed=seed)
        sides = {part for part, idx in split.parts().items() for i in group if i in set(idx.tolist())}
        assert len(sides) == 1


def test_leaking_split_is_refused(emodb: Manifest) -> None:
    split = make_splits("loso", emodb, n_val_speakers=1)[0]
    leak = Split("leak", np.concatenate([split.train, split.test[:1]]), split.val, split.test)
    with pytest.raises(ProtocolError, match="in both train and test"):
        check_split(emodb, leak)


def test_bad_protocol_arguments(emodb: Manifest, ravdess: Manifest) -> None:
    with pytest.raises(ProtocolError, match="unknown protocol"):
        make_splits("random", emodb)
    with pytest.raises(ProtocolError, match="RAVDESS alone"):
        make_splits("ravdess-emobox", emodb)
    with pytest.raises(ProtocolError, match="LOSO needs more than 10 speakers"):
        make_splits("loso", emodb, n_val_speakers=9)
    with pytest.raises(ProtocolError, match="fractions"):
        stratified_split(ravdess, test_size=0.6, val_size=0.5)

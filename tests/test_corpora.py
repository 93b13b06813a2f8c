from __future__ import annotations

from pathlib import Path

import pytest
from conftest import corpus_root, write_clip

from emovox.corpora import (
    SHARED_LABELS,
    Manifest,
    common_labels,
    read_corpus,
    to_shared,
)
from emovox.corpora.generic import FolderReader
from emovox.errors import ConfigError, CorpusError


def test_ravdess_counts(ravdess: Manifest) -> None:
    assert len(ravdess) == 1440
    assert len(ravdess.speakers) == 24
    counts = ravdess.label_counts()
    assert len(counts) == 8
    assert counts["neutral"] == 96
    assert all(n == 192 for label, n in counts.items() if label != "neutral")
    assert ravdess.rejected == ()


def test_ravdess_metadata(ravdess: Manifest) -> None:
    u = next(u for u in ravdess if Path(u.path).stem == "03-01-05-02-01-01-01")
    assert (u.speaker, u.label) == ("01", "angry")
    assert u.meta["intensity"] == "strong" and u.meta["gender"] == "male"
    assert u.meta["statement"] == "Kids are talking by the door"
    genders = {u.speaker: u.meta["gender"] for u in ravdess}
    assert sorted(genders.values()).count("female") == 12


def test_emodb_counts(emodb: Manifest) -> None:
    assert len(emodb) == 535
    assert len(emodb.speakers) == 10
    assert set(emodb.label_order) == {
        "neutral", "happiness", "sadness", "anger", "fear", "disgust", "boredom",
    }  # fmt: skip
    assert emodb.label_counts()["anger"] == 127
    assert emodb.rejected == ()


def test_missing_and_empty_roots(tmp_path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus("ravdess", tmp_path / "missing")
    with pytest.raises(CorpusError, match="no audio files"):
        read_corpus("emodb", tmp_path)
    with pytest.raises(CorpusError, match="unknown corpus"):
        read_corpus("iemocap", tmp_path)


def test_unparsed_files_are_reported_not_dropped(tmp_path) -> None:
    write_clip(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")
    write_clip(tmp_path / "Actor_01" / "03-01-09-01-01-01-01.wav")  # emotion 09 does not exist
    write_clip(tmp_path / "Actor_01" / "notes.wav")
    write_clip(tmp_path / "Actor_02" / "03-01-05-01-01-01-01.wav")  # actor 01 filed under 02
    manifest = read_corpus("ravdess", tmp_path)
    assert len(manifest) == 1
    reasons = sorted(r.reason for r in manifest.rejected)
    assert len(reasons) == 3
    assert any("emotion code 09" in r for r in reasons)
    assert any("folder Actor_02" in r for r in reasons)
    with pytest.raises(CorpusError, match="3 of 4 files"):
        read_corpus("ravdess", tmp_path, strict=True)


def test_ravdess_song_is_opt_in(tmp_path) -> None:
    from emovox.corpora import RavdessReader

    write_clip(tmp_path / "Actor_03" / "03-02-04-01-02-01-03.wav")
    write_clip(tmp_path / "Actor_03" / "03-01-04-01-02-01-03.flac")
    assert len(read_corpus("ravdess", tmp_path)) == 1
    both = RavdessReader(channels=("speech", "song")).read(tmp_path)
    assert sorted(u.meta["vocal_channel"] for u in both) == ["song", "speech"]


def test_tess_fixture_tree(tmp_path) -> None:
    root = tmp_path / "TESS Toronto emotional speech set data"
    for folder, name in [
        ("OAF_angry", "OAF_back_angry.wav"),
        ("OAF_Pleasant_surprise", "OAF_bite_ps.wav"),
        ("OAF_neutral", "OA_bite_neutral.wav"),  # the original release's misnamed file
        ("YAF_fear", "YAF_chair_fear.wav"),
        ("YAF_sad", "YAF_chair_sad.wav"),
    ]:
        write_clip(root / folder / name)
    manifest = read_corpus("tess", root)
    assert manifest.summary()["clips"] == 5 and len(manifest.speakers) == 2
    by_name = {Path(u.path).name: u for u in manifest}
    assert by_name["OAF_bite_ps.wav"].label == "pleasant_surprise"
    assert by_name["OA_bite_neutral.wav"].speaker == "OAF"
    assert by_name["YAF_chair_fear.wav"].meta["word"] == "chair"


def test_cremad_fixture_tree_with_demographics(tmp_path) -> None:
    write_clip(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    write_clip(tmp_path / "AudioWAV" / "1002_IEO_HAP_HI.wav")
    write_clip(tmp_path / "AudioWAV" / "1002_IEO_XYZ_HI.wav")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    manifest = read_corpus("cremad", tmp_path / "AudioWAV")
    assert [u.label for u in manifest] == ["anger", "happy"]
    assert [u.meta["gender"] for u in manifest] == ["male", "female"]
    assert manifest[1].meta["level"] == "high"
    assert len(manifest.rejected) == 1 and "XYZ" in manifest.rejected[0].reason


@pytest.mark.parametrize("flat", [False, True], ids=["per-speaker-folders", "flat"])
def test_savee_fixture_tree(tmp_path, flat: bool) -> None:
    names = [("DC", "a01"), ("JE", "sa05"), ("JK", "su15"), ("KL", "n30")]
    for speaker, code in names:
        path = tmp_path / "ALL" / f"{speaker}_{code}.wav" if flat else tmp_path / speaker / f"{code}.wav"
        write_clip(path)
    manifest = read_corpus("savee", tmp_path)
    assert sorted(manifest.labels) == ["anger", "neutral", "sadness", "surprise"]
    assert len(manifest.speakers) == 4


def test_folder_reader_with_and_without_speakers(tmp_path) -> None:
    for label in ("happy", "sad"):
        for speaker in ("ann", "bob"):
            write_clip(tmp_path / label / speaker / "take1.wav")
    write_clip(tmp_path / "stray.wav")
    unknown = read_corpus("folder", tmp_path)
    assert len(unknown) == 4 and len(unknown.speakers) == 4
    assert unknown[0].meta["speaker_known"] == "false"
    assert len(unknown.rejected) == 1
    known = FolderReader(speaker_pattern=r"^[^/]+/(?P<speaker>[^/]+)/").read(tmp_path)
    assert sorted(known.speakers) == ["folder/ann", "folder/bob"]
    with pytest.raises(CorpusError, match="named group"):
        FolderReader(speaker_pattern=r"(\w+)")


def test_csv_reader(tmp_path) -> None:
    write_clip(tmp_path / "clips" / "a.wav")
    write_clip(tmp_path / "clips" / "b.wav")
    table = tmp_path / "mine.csv"
    table.write_text(
        "path,label,speaker,session\nclips/a.wav,happy,s1,1\nclips/b.wav,sad,s2,2\nclips/c.wav,sad,s2,2\n"
    )
    manifest = read_corpus("csv", table)
    assert manifest.labels == ["happy", "sad"]
    assert manifest[0].meta["session"] == "1" and manifest[0].corpus == "mine"
    assert "file not found" in manifest.rejected[0].reason
    (tmp_path / "bad.csv").write_text("file,emotion\nclips/a.wav,happy\n")
    with pytest.raises(CorpusError, match="missing column"):
        read_corpus("csv", tmp_path / "bad.csv")


def test_csv_rejections_say_which_row_and_why(tmp_path, capsys) -> None:
    from emovox.cli import main

    write_clip(tmp_path / "clips" / "a.wav")
    table = tmp_path / "my_clips.csv"
    table.write_text(
        "path,label,speaker\nclips/a.wav,happy,s1\nclips/gone.wav,sad,s2\n,sad,s2\nclips/a.wav,,s1\n"
    )
    rejected = read_corpus("csv", table).rejected
    assert [(r.path, r.reason) for r in rejected] == [
        ("clips/gone.wav", f"line 3: file not found ({tmp_path / 'clips' / 'gone.wav'})"),
        ("(no path)", "line 4: empty path"),
        ("clips/a.wav", "line 5: empty label"),
    ]
    assert main(["corpus", "summary", "csv", "--root", str(table)]) == 0
    out = capsys.readouterr().out
    assert "corpus    my_clips" in out and "rejected  3 file(s) or row(s), not used:" in out
    assert "did not parse" not in out
    with pytest.raises(CorpusError, match="3 row"):
        read_corpus("csv", table, strict=True)
    table.write_text("path,label\nclips/gone.wav,sad\n")
    with pytest.raises(
        CorpusError, match=r"no usable rows \(1 rejected: clips/gone.wav: line 2: file not found"
    ):
        read_corpus("csv", table)


def test_shared_labels(ravdess: Manifest, emodb: Manifest) -> None:
    shared = to_shared(emodb)
    assert set(shared.label_order) <= set(SHARED_LABELS)
    assert shared.label_counts()["angry"] == 127
    assert shared[0].meta["native_label"] in emodb.label_order
    common = common_labels(ravdess, emodb)
    assert common == ("neutral", "happy", "sad", "angry", "fearful", "disgust")
    both = to_shared(ravdess, common) + to_shared(emodb, common)
    assert both.label_order == common
    assert len(both.corpora) == 2
    assert len(both) + len(both.rejected) == 1440 + 535


def test_find_duplicates(tmp_path) -> None:
    from emovox.corpora import find_duplicates

    a = write_clip(tmp_path / "happy" / "a.wav")
    (tmp_path / "happy" / "b.wav").write_bytes(a.read_bytes())
    write_clip(tmp_path / "sad" / "c.wav", seconds=0.4)
    manifest = read_corpus("folder", tmp_path)
    assert [[Path(manifest[i].path).name for i in g] for g in find_duplicates(manifest)] == [
        ["a.wav", "b.wav"]
    ]


def test_manifest_csv_round_trip(tmp_path, emodb: Manifest) -> None:
    import csv

    emodb.to_csv(tmp_path / "m.csv")
    with open(tmp_path / "m.csv", newline="") as f:
        again = Manifest.from_rows(list(csv.DictReader(f)), emodb.label_order)
    assert again.utterances == emodb.utterances
    assert again.label_indices() == emodb.label_indices()


@pytest.mark.parametrize(
    ("name", "clips", "speakers", "languages"),
    [
        ("ased", 1257, 65, "am"),
        ("nemo", 636, 9, "pl"),
        ("emovo", 336, 6, "it"),
        ("kor", 180, 13, "ko"),
        ("turev", 1735, 6, "tr"),
    ],
)
def test_the_other_languages_read_in_full(
    name: str, clips: int, speakers: int, languages: str, capsys
) -> None:
    """`emovox corpus summary NAME --json` on the real folders; kor's speakers are its metadata's
    speaker column (13), not its folders (15)."""
    import json

    from emovox.cli import main

    root = corpus_root(name)
    assert main(["corpus", "summary", name, "--root", str(root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["clips"], summary["speakers"], summary["rejected"]) == (clips, speakers, [])
    manifest = read_corpus(name, root, strict=True)
    assert {u.meta["language"] for u in manifest} == {languages}
    shared = to_shared(manifest)
    assert len(shared) == clips and set(shared.label_order) <= set(SHARED_LABELS)


def test_the_other_languages_reject_misfiled_files_with_reasons(tmp_path) -> None:
    ased = tmp_path / "ased"
    write_clip(ased / "01Neutral" / "n1-01-01-01-29.wav")
    write_clip(ased / "01Neutral" / "a1-01-01-01-29.wav")  # an angry clip in the neutral folder
    write_clip(ased / "06Bored" / "b1-01-01-01-29.wav")
    manifest = read_corpus("ased", ased)
    assert len(manifest) == 1 and manifest[0].speaker == "29" and manifest[0].label == "neutral"
    assert sorted(r.reason for r in manifest.rejected) == [
        "folder '06Bored' is not one of 01Neutral, 02Fearful, 03Happy, 04Sad, 05Angry",
        "name says 'angry', folder says 'neutral'",
    ]
    with pytest.raises(CorpusError, match="2 of 3 files"):
        read_corpus("ased", ased, strict=True)

    turev = tmp_path / "turev"
    write_clip(turev / "Sad" / "1157_hl_acik.flac")
    write_clip(turev / "Calm" / "1157_kz_acik.flac")  # an angry word in the calm folder
    write_clip(turev / "Bored" / "1157_sk_acik.flac")
    assert sorted(r.reason for r in read_corpus("turev", turev).rejected) == [
        "folder 'Bored' is not one of Angry, Calm, Happy, Sad",
        "name says 'angry', folder says 'calm'",
    ]

    emovo = tmp_path / "emovo"
    write_clip(emovo / "f1" / "dis-f1-b1.wav")
    write_clip(emovo / "m1" / "gio-f2-b1.wav")  # f2's clip in m1's folder
    assert [r.reason for r in read_corpus("emovo", emovo).rejected] == [
        "in folder 'm1', but the name says speaker 'f2'"
    ]

    nemo = tmp_path / "nemo"
    write_clip(nemo / "samples" / "EB0_anger_1.wav")
    write_clip(nemo / "samples" / "EB0_fear_2.wav")  # data.tsv disagrees about it
    write_clip(nemo / "samples" / "EB0_joy_3.wav")
    rows = ["file_id\temotion\tspeaker_id\tgender\tage", "EB0_anger_1.wav\tanger\t  EB0\tfemale\t22",
            "EB0_fear_2.wav\tanger\tEB0\tfemale\t22"]  # fmt: skip
    (nemo / "data.tsv").write_text("\n".join(rows) + "\n")
    manifest = read_corpus("nemo", nemo)
    assert [(u.label, u.meta["gender"], u.meta["age"]) for u in manifest] == [("anger", "female", "22")]
    assert sorted(r.reason for r in manifest.rejected) == [
        "data.tsv says EB0 anger, the name EB0 fear",
        "emotion 'joy' is not one of neutral, anger, fear, happiness, sadness, surprised",
    ]

    kor = tmp_path / "kor"
    write_clip(kor / "plain-to-emotional" / "ema" / "wav" / "ema00201.flac")
    write_clip(kor / "emotional-to-emotional" / "nea" / "wav" / "nea00101.flac")
    write_clip(kor / "emotional-to-emotional" / "nea" / "wav" / "nea00999.flac")  # not in the metadata
    with pytest.raises(CorpusError, match=r"metadata\.csv is missing"):
        read_corpus("kor", kor)
    (kor / "metadata.csv").write_text("path,label,speaker,language,original_label\n"
                                      "plain-to-emotional/ema/wav/ema00201.wav,angry,A,ko,x\n"
                                      "emotional-to-emotional/nea/wav/nea00101.wav,sad,A,ko,y\n")  # fmt: skip
    manifest = read_corpus("kor", kor)
    assert [(u.speaker, u.label) for u in manifest] == [("A", "sad"), ("A", "angry")]
    assert [r.reason for r in manifest.rejected] == ["not listed in metadata.csv"]


def test_an_experiment_can_take_turevs_calm_as_neutral(tmp_path) -> None:
    """`data.relabel` maps one corpus's native label to another shared label (and only that)."""
    from emovox.evaluation import Experiment, load_manifest
    from emovox.evaluation.experiment import DataConfig

    turev = tmp_path / "turev"
    for folder, name in [("Calm", "1157_sk_acik"), ("Sad", "1157_hl_acik"), ("Calm", "1234_sk_kemik")]:
        write_clip(turev / folder / f"{name}.flac")
    manifest = read_corpus("turev", turev)
    assert [u.label for u in to_shared(manifest, None, {"turev/calm": "neutral"})] == [
        "neutral",
        "neutral",
        "sad",
    ]
    assert [u.label for u in to_shared(manifest, ("neutral", "sad"))] == ["sad"]  # calm stays calm otherwise
    with pytest.raises(CorpusError, match="not shared labels"):
        to_shared(manifest, None, {"turev/calm": "serene"})
    data = DataConfig(corpora=("turev",), roots={"turev": str(turev)}, labels="shared",
                      only_labels=("neutral", "sad"), relabel={"turev/calm": "neutral"})  # fmt: skip
    assert [u.label for u in load_manifest(Experiment(name="t", data=data))] == ["neutral", "neutral", "sad"]
    for relabel in ({"emodb/L": "neutral"}, {"calm": "neutral"}):
        with pytest.raises(ConfigError, match=r"data\.relabel"):
            DataConfig(corpora=("turev",), labels="shared", relabel=relabel)

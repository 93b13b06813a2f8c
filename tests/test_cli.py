from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT_EXAMPLES, corpus_root

from emovox.cli import main
from emovox.features import FeatureTable


def test_corpus_summary_json(capsys) -> None:
    assert main(["corpus", "summary", "ravdess", "--root", str(corpus_root("ravdess")), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {k: summary[k] for k in ("corpus", "clips", "speakers")} == {
        "corpus": "ravdess", "clips": 1440, "speakers": 24,
    }  # fmt: skip
    assert summary["labels"]["neutral"] == 96 and len(summary["labels"]) == 8
    assert len(summary["duplicates"]) == 1  # the release's identical Actor_07 pair


def test_corpus_summary_table(capsys) -> None:
    assert main(["corpus", "summary", "emodb", "--root", str(corpus_root("emodb"))]) == 0
    out = capsys.readouterr().out
    assert "clips     535" in out and "boredom" in out


def test_features_command_writes_arrays_names_and_manifest(tmp_path) -> None:
    out = tmp_path / "emodb.npz"
    code = main(
        ["features", "emodb", "--root", str(corpus_root("emodb")), "--set", "utterance110",
         "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    )  # fmt: skip
    assert code == 0
    table = FeatureTable.load(out)
    assert table.values.shape == (535, 110) and np.all(np.isfinite(table.values))
    assert table.feature_names[0] == "mfcc_mean_0"
    assert len(set(table.manifest.speakers)) == 10


def test_manifest_command(tmp_path) -> None:
    out = tmp_path / "m.csv"
    assert main(["corpus", "manifest", "emodb", "--root", str(corpus_root("emodb")), "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 536


def test_errors_exit_nonzero_with_a_message(tmp_path, capsys) -> None:
    assert main(["corpus", "summary", "ravdess", "--root", str(tmp_path / "none")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["features", "emodb", "--root", str(tmp_path), "--set", "nope", "--out", "x.npz"])


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emovox", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("emovox ")


def test_predict_reads_directories_and_reports_each_failure_once_on_stderr(tmp_path, capsys) -> None:
    """Good files are predicted whatever else fails; each failure is one plain line on stderr."""
    import shutil

    from conftest import ROOT_EXAMPLES

    clips = sorted(ROOT_EXAMPLES.glob("*.flac"))[:2]
    (tmp_path / "calls" / "monday").mkdir(parents=True)
    shutil.copy(clips[0], tmp_path / "calls" / "monday" / clips[0].name)
    shutil.copy(clips[1], tmp_path / "calls" / clips[1].name)
    (tmp_path / "calls" / "notes.txt").write_text("not audio")  # not an audio extension: not read
    (tmp_path / "empty").mkdir()
    (tmp_path / "t.txt").write_text("hello")
    argv = [str(tmp_path / "calls"), str(tmp_path / "t.txt"), "/dev/null", str(tmp_path / "empty")]
    assert main(["predict", *argv]) == 1
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert [row.split()[0] for row in rows] == [
        str(tmp_path / "calls" / clips[1].name),
        str(tmp_path / "calls" / "monday" / clips[0].name),
    ]
    errors = [line for line in captured.err.splitlines() if line.startswith("emovox:")]
    assert errors == [
        f"emovox: error: {tmp_path / 'empty'}: no audio files under this directory "
        "(.aif, .aiff, .au, .caf, .flac, .mp3, .oga, .ogg, .opus, .w64, .wav)",
        f"emovox: error: {tmp_path / 't.txt'}: not readable as audio (format not recognised)",
        "emovox: error: /dev/null: is a device, not a regular audio file",
    ]
    assert main(["predict", str(clips[0])]) == 0
    assert capsys.readouterr().err == ""  # one file: no progress bar


def test_predict_shows_whole_paths_and_notes_useless_adaptation(tmp_path, capsys, trained_models) -> None:
    import shutil

    from conftest import ROOT_EXAMPLES

    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "clip.flac"
    deep.parent.mkdir()
    shutil.copy(sorted(ROOT_EXAMPLES.glob("*.flac"))[0], deep)
    frames_only = str(trained_models["lstm_stream"])  # the bundled model adapts; this one cannot
    assert main(["predict", "--model", frames_only, "--adapt", "--quiet", str(deep), str(deep)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith(str(deep) + "  ")
    assert captured.err.startswith("emovox: note: adaptation changes nothing for this model")
    assert main(["predict", "--adapt", "--quiet", str(deep), str(deep)]) == 0
    assert "adaptation changes nothing" not in capsys.readouterr().err


def test_a_file_without_a_frame_of_sound_is_an_error_line_and_the_others_are_predicted(
    tmp_path, capsys
) -> None:
    from conftest import ROOT_EXAMPLES, click_in_zeros

    sf.write(tmp_path / "click.wav", click_in_zeros(), 16_000, subtype="PCM_16")
    good = [str(p) for p in sorted(ROOT_EXAMPLES.glob("*.flac"))[:2]]
    for backend in ("onnx", "torch"):
        assert (
            main(["predict", "--backend", backend, "--quiet", good[0], str(tmp_path / "click.wav"), good[1]])
            == 1
        )
        captured = capsys.readouterr()
        assert [row.split()[0] for row in captured.out.splitlines()] == good
        reason = "no sound to judge: every 25 ms frame is digital silence"
        assert captured.err == f"emovox: error: {tmp_path / 'click.wav'}: {reason}\n"


def test_card_attaches_evaluations_run_after_training_and_leaves_the_weights(
    tmp_path, capsys, trained_models
) -> None:
    import shutil

    from emovox.inference import EmotionPredictor

    model = tmp_path / "mlp"
    shutil.copytree(trained_models["mlp"], model)
    weights = (model / "weights.safetensors").read_bytes()
    assert "Speaker-independent cross-validation" not in (model / "MODEL_CARD.md").read_text()
    results = ROOT_EXAMPLES.parent / "results"
    assert main(["card", str(model), "--cv-report", str(results / "runs" / "default" / "report.json"),
                 "--cross-corpus-report", str(results / "benchmarks" / "seven_corpora.json"),
                 "--cross-corpus-recipe", "crops"]) == 0  # fmt: skip
    card = (model / "MODEL_CARD.md").read_text()
    assert "Speaker-independent cross-validation" in card and "first second" in card
    assert (model / "weights.safetensors").read_bytes() == weights
    clip = sorted(ROOT_EXAMPLES.glob("*.flac"))[0]
    before, after = (EmotionPredictor.load(m).predict(clip) for m in (trained_models["mlp"], model))
    assert after == before
    assert main(["card", str(model)]) == 1
    assert "name a report to attach" in capsys.readouterr().err

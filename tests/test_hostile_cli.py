"""The command line and `emovox batch` under careless and hostile input, each case reproduced as a
user would meet it: no traceback, a typed error naming what to fix, nothing of the user's lost or
overwritten, no job that hangs, no worker left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT_EXAMPLES, read_rows

from emovox.audio import load_audio
from emovox.batch.table import columns

ANGRY = ROOT_EXAMPLES / "03-01-05-02-01-01-24.flac"
LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def emovox(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "emovox.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


@pytest.fixture()
def tiny(tmp_path) -> Path:
    """The example clip x 1e-40 as a float WAV: not zero, but no sound (peak normalising it would
    overflow float32)."""
    path = tmp_path / "tiny.wav"
    sf.write(path, load_audio(ANGRY) * np.float32(1e-40), 16_000, subtype="FLOAT")
    return path


def test_audio_too_quiet_to_hold_sound_is_no_sound_and_the_good_files_are_still_predicted(
    tiny, tmp_path
) -> None:
    done = emovox("predict", str(ANGRY), str(tiny), str(ANGRY))
    assert done.returncode == 1
    assert done.stdout.count("angry") == 2
    assert f"emovox: error: {tiny}: audio holds no sound" in done.stderr
    out = tmp_path / "rows.jsonl"
    for _ in range(2):  # the job ends, and so does its resume (the file is one error row)
        done = emovox("batch", str(ANGRY), str(tiny), "--out", str(out), "--quiet", "--resume")
        assert done.returncode == 1
    rows = {Path(r["path"]).name: r for r in read_rows(out)}
    assert rows["tiny.wav"]["error"].endswith("below 24-bit audio's smallest step") and len(rows) == 2


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path) -> None:
    (tmp_path / "folder.jsonl").mkdir()
    done = emovox("batch", str(ANGRY), "--out", str(tmp_path / "folder.jsonl"), "--quiet")
    assert done.returncode == 1 and "is a directory" in done.stderr
    (tmp_path / "file").write_text("x")
    done = emovox("batch", str(ANGRY), "--out", str(tmp_path / "file" / "out.csv"), "--quiet")
    assert done.returncode == 1 and "cannot create its folder" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.jsonl"]  # no .tmp, no lock


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("garbage.jsonl", b"\x00\xff garbage\n", "not UTF-8"),
        ("list.jsonl", b"[1, 2, 3]\n", "line 1 is not a row"),
        ("other.jsonl", b'{"path": "a.wav", "error": ""}\n', "line 1 is not a row"),
        ("notes.csv", b"my notes\nline two\nlast line without newline", "header is not"),
        ("torn.parquet", b"PAR1\x00\x00\x00", "not a readable Parquet table"),
    ],
)
def test_resume_refuses_what_is_not_its_table_and_changes_nothing(tmp_path, name, content, why) -> None:
    out = tmp_path / name
    out.write_bytes(content)
    done = emovox("batch", str(ANGRY), "--out", str(out), "--resume", "--quiet")
    assert done.returncode == 1 and why in done.stderr and "nothing in it was changed" in done.stderr
    assert out.read_bytes() == content
    done = emovox("batch", str(ANGRY), "--out", str(out), "--quiet")  # nor replaced without --resume
    assert done.returncode == 1 and "is not an emovox batch table" in done.stderr
    assert out.read_bytes() == content


def test_a_manifest_is_never_its_own_output_and_bad_manifests_are_named(tmp_path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{ANGRY}\n")
    done = emovox("batch", str(manifest), "--out", str(manifest), "--quiet")
    assert done.returncode == 1 and "is one of the inputs" in done.stderr
    assert manifest.read_text() == f"path\n{ANGRY}\n"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("path,speaker\nclip.wav,Jos\xe9\n".encode("latin-1"))
    done = emovox("batch", str(latin), "--out", str(tmp_path / "o.jsonl"), "--quiet")
    assert done.returncode == 1 and "not UTF-8 text" in done.stderr
    huge = tmp_path / "huge.csv"
    huge.write_text("path,note\n" + f"{ANGRY}," + "x" * 200_000 + "\n")
    done = emovox("batch", str(huge), "--out", str(tmp_path / "o.jsonl"), "--quiet")
    assert done.returncode == 1 and "not a readable CSV manifest" in done.stderr
    done = emovox("batch", str(tmp_path / "nothing" / "*.wav"), "--out", str(tmp_path / "o.jsonl"), "--quiet")
    assert done.returncode == 1 and "nothing to predict" in done.stderr  # a glob that matched nothing
    done = emovox("batch", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.jsonl"), "--quiet")
    assert done.returncode == 1  # a missing path is an input: its row says so


def test_two_jobs_cannot_write_one_table(tmp_path) -> None:
    out = tmp_path / "rows.jsonl"
    inputs = [str(p) for p in sorted(ROOT_EXAMPLES.glob("*.flac"))] + [str(ROOT_EXAMPLES / "long")]
    command = [sys.executable, "-m", "emovox.cli", "batch", *inputs, "--out", str(out), "--workers", "1"]
    first = subprocess.Popen([*command, "--batch-size", "1", "--quiet"])
    deadline = time.monotonic() + 120
    while not (tmp_path / ".rows.jsonl.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = emovox("batch", *inputs, "--out", str(out), "--quiet")
    assert first.wait(timeout=300) == 0
    assert second.returncode == 1 and "another emovox batch job is writing it" in second.stderr
    assert len(read_rows(out)) == 7 and not (tmp_path / ".rows.jsonl.lock").exists()


def test_resume_keys_on_the_file_retries_failures_and_redoes_changed_files(tmp_path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(ANGRY, folder / "a.flac")
    out = tmp_path / "rows.csv"
    late = folder / "late.flac"  # named before it exists: a failed row, retried on resume
    assert (
        emovox("batch", "clips/a.flac", str(late), "--out", str(out), "--quiet", cwd=tmp_path).returncode == 1
    )
    shutil.copy(ANGRY, late)
    assert emovox("batch", str(folder / "a.flac"), str(late), "--out", str(out), "--resume", "--quiet",
                  cwd=tmp_path).returncode == 0  # fmt: skip
    rows = read_rows(out)
    assert [Path(r["path"]).name for r in rows] == ["a.flac", "late.flac"] and not any(
        r["error"] for r in rows
    )
    sf.write(folder / "a.flac", load_audio(ROOT_EXAMPLES / "03-01-01-01-01-01-23.flac"), 16_000)  # replaced
    os.utime(folder / "a.flac", (time.time() + 10, time.time() + 10))
    assert emovox("batch", "clips/a.flac", str(late), "--out", str(out), "--resume", "--quiet",
                  cwd=tmp_path).returncode == 0  # fmt: skip
    rows = read_rows(out)
    assert [Path(r["path"]).name for r in rows] == ["late.flac", "a.flac"]
    assert rows[1]["label"] == "neutral"  # predicted again: the new recording's answer
    timeline = tmp_path / "t.jsonl"
    assert emovox("batch", str(ANGRY), "--out", str(out), "--timeline", "--resume", "--quiet").returncode == 1
    assert emovox("batch", str(folder), "--out", str(timeline), "--timeline", "--quiet").returncode == 0
    assert list(read_rows(timeline)[0]) == columns(LABELS, timeline=True)


def test_a_timeline_without_speech_is_one_row_and_done(tmp_path) -> None:
    quiet = tmp_path / "noise.wav"
    sf.write(quiet, np.random.default_rng(0).normal(0, 0.1, 48_000).astype(np.float32), 16_000)
    out = tmp_path / "t.jsonl"
    assert emovox("batch", str(quiet), "--out", str(out), "--timeline", "--quiet").returncode == 0
    done = emovox("batch", str(quiet), "--out", str(out), "--timeline", "--resume", "--quiet")
    assert done.returncode == 0 and "(0 now, 0 failed)" in done.stderr  # not predicted again
    (row,) = read_rows(out)
    assert row["label"] is None and row["start"] is None and not row["error"]


def test_cells_a_spreadsheet_would_run_are_escaped_and_read_back(tmp_path) -> None:
    """A file named like a formula, with a newline in it: its CSV cell starts with `'`, the table
    stays one row per file, resume reads it back as the same file, and predict prints one line."""
    name = "=HYPERLINK(1)\nsecond line.flac"
    shutil.copy(ANGRY, tmp_path / name)
    out = tmp_path / "rows.csv"
    assert emovox("batch", name, "--out", str(out), "--quiet", cwd=tmp_path).returncode == 0
    (row,) = read_rows(out)
    assert row["path"] == "'" + name and row["label"] == "angry"
    done = emovox("batch", name, "--out", str(out), "--resume", "--quiet", cwd=tmp_path)
    assert done.returncode == 0 and "(0 now, 0 failed)" in done.stderr
    done = emovox("predict", name, cwd=tmp_path)
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("=HYPERLINK(1)\\nsecond line.flac")


def test_workers_are_capped_and_end_with_their_job(tmp_path) -> None:
    done = emovox("batch", str(ANGRY), "--out", str(tmp_path / "o.jsonl"), "--workers", "1000")
    assert done.returncode == 1 and "at most" in done.stderr
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(200):
        (clips / f"{i:03d}.flac").symlink_to(ANGRY)
    for how in (signal.SIGTERM, signal.SIGKILL):
        out = tmp_path / f"o{how}.jsonl"
        command = [
            sys.executable,
            "-m",
            "emovox.cli",
            "batch",
            str(clips),
            "--out",
            str(out),
            "--workers",
            "2",
        ]
        job = subprocess.Popen([*command, "--batch-size", "4", "--quiet"], start_new_session=True)
        deadline = time.monotonic() + 120
        while not (out.is_file() and out.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(job.pid, how)
        job.wait(timeout=30)
        deadline = time.monotonic() + 15
        while session_processes(job.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_processes(job.pid) == [], how


def session_processes(session: int) -> list[int]:
    """Live processes of a session (the job started its own), zombies aside."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # fields: state ppid pgrp session ...
            alive.append(int(entry.name))
    return alive


def test_serve_refuses_impossible_settings_in_plain_words() -> None:
    done = emovox("serve", "--port", "99999")
    assert done.returncode == 2 and "a port is 1 to 65535" in done.stderr
    for flag in ("--max-audio-seconds", "--idle-timeout"):
        for value in ("nan", "inf"):
            done = emovox("serve", flag, value)
            assert done.returncode == 1 and "must be a finite number" in done.stderr, (flag, value)


def test_the_bundled_model_exports_to_onnx_with_its_probabilities(tmp_path) -> None:
    import onnxruntime

    from emovox.inference import EmotionPredictor

    out = tmp_path / "default.onnx"
    done = emovox("export", "default", "--format", "onnx", "--out", str(out))
    assert done.returncode == 0 and out.stat().st_size > 100_000
    predictor = EmotionPredictor.load()
    features = predictor.features(load_audio(ANGRY))["whisper+speaker"]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    graph = session.run(None, {"features": features[None]})[0][0]
    np.testing.assert_allclose(graph, predictor.members[0].backend.clip(features), atol=1e-5)


def test_adapting_to_one_clip_is_not_done_and_says_so() -> None:
    done = emovox("predict", "--adapt", str(ANGRY))
    plain = emovox("predict", str(ANGRY))
    assert done.stdout == plain.stdout and "adaptation needs at least 2 clips" in done.stderr


def test_an_mp3_decodes_without_decoder_noise(tmp_path) -> None:
    mp3 = tmp_path / "clip.mp3"
    sf.write(mp3, load_audio(ANGRY), 16_000, format="MP3")
    done = emovox("predict", str(mp3))
    assert done.returncode == 0 and "angry" in done.stdout and done.stderr == ""


def test_weights_asking_for_a_huge_tensor_are_refused_before_any_allocation(tmp_path) -> None:
    """A 3 GB tensor declared in a tiny sparse file: refused from its header, in well under the
    time and memory reading it would take; audio settings the features were not made for too."""
    import resource

    from emovox.artifact import ArtifactError, load_model
    from emovox.inference.predictor import bundled_path

    model = tmp_path / "model"
    shutil.copytree(bundled_path("default"), model)
    huge = 7 * 54_000_000 * 8
    header = json.dumps(
        {
            "coef": {"dtype": "F64", "shape": [7, 54_000_000], "data_offsets": [0, huge]},
            "intercept": {"dtype": "F64", "shape": [7], "data_offsets": [0, 56]},
        }
    ).encode()
    with open(model / "weights.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + huge)  # sparse: takes no disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ArtifactError, match="over the limit"):
        load_model(model)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB
    shutil.copy(bundled_path("default") / "weights.safetensors", model / "weights.safetensors")
    config = json.loads((model / "config.json").read_text())
    for change, why in (
        ({"sample_rate": 8000}, "computed at 16000 Hz"),
        ({"max_seconds": None}, "max_seconds"),
    ):
        (model / "config.json").write_text(json.dumps(config | {"audio": config["audio"] | change}))
        with pytest.raises(ArtifactError, match=why):
            load_model(model)

"""`emovox batch` on real clips and bad files: the table's rows equal `emovox predict --json`, in
every output format; inputs from directories, globs and manifests; resume after a kill gives
the uninterrupted table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import ROOT_EXAMPLES, read_rows

from emovox.batch import expand_inputs, open_output
from emovox.batch.table import columns
from emovox.cli import main

LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]  # the bundled model's


@pytest.fixture(scope="module")
def collection(tmp_path_factory, ravdess) -> tuple[Path, list[str]]:
    """96 real RAVDESS clips (as links in two folders) and four bad files; the paths in order."""
    root = tmp_path_factory.mktemp("collection")
    for i, utterance in enumerate(ravdess[:: len(ravdess) // 96][:96]):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        (folder / Path(utterance.path).name).symlink_to(utterance.path)
    (root / "a" / "empty.wav").write_bytes(b"")
    (root / "a" / "text.flac").write_text("not audio")
    (root / "b" / "zeros.wav").write_bytes(b"RIFF" + b"\x00" * 100)
    (root / "b" / "truncated.flac").write_bytes(
        (ROOT_EXAMPLES / "03-01-05-02-01-01-24.flac").read_bytes()[:300]
    )
    return root, list(expand_inputs([str(root)]))


def test_inputs_expand_directories_globs_and_manifests(tmp_path, collection) -> None:
    root, paths = collection
    assert len(paths) == 100 and paths == sorted(paths)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "".join(f"{os.path.relpath(p, tmp_path)},x\n" for p in paths[:3]))
    got = list(
        expand_inputs([str(manifest), str(root / "a" / "*.wav"), paths[0], str(tmp_path / "gone.wav")])
    )
    assert got[:3] == paths[:3]  # the manifest's relative paths, from its folder
    assert got[3:-1] == [str(root / "a" / "empty.wav")]  # the glob; paths[0] again is not repeated
    assert got[-1] == str(tmp_path / "gone.wav")  # a missing file is kept: its row says so


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_rows_equal_predict_json_and_bad_files_are_rows(tmp_path, collection, capsys, fmt) -> None:
    root, paths = collection
    out = tmp_path / f"out.{fmt}"
    assert (
        main(["batch", str(root), "--out", str(out), "--workers", "2", "--batch-size", "16", "--quiet"]) == 1
    )
    rows = read_rows(out)
    assert [r["path"] for r in rows] == paths
    assert list(rows[0]) == columns(LABELS, timeline=False)
    capsys.readouterr()
    assert main(["predict", "--json", *paths]) == 1
    expected = {json.loads(line)["path"]: json.loads(line) for line in capsys.readouterr().out.splitlines()}
    failed = [r for r in rows if r["error"]]
    assert {Path(r["path"]).name for r in failed} == {"empty.wav", "text.flac", "zeros.wav", "truncated.flac"}
    for row in rows:
        if row["error"]:
            assert row["label"] is None and row["path"] not in expected
            continue
        want = expected[row["path"]]
        assert row["label"] == want["label"] and float(row["duration_s"]) > 2
        probabilities = [float(row[f"prob_{label}"]) for label in LABELS]
        np.testing.assert_allclose(probabilities, want["confidence"], atol=1e-6)
        assert float(row["confidence"]) == pytest.approx(max(want["confidence"]))
        assert str(row["uncertain"]).lower() == str(want["uncertain"]).lower()
    if fmt == "parquet":
        schema = pq.read_schema(out)
        assert [(f.name, str(f.type)) for f in schema][:5] == [
            ("path", "string"),
            ("label", "string"),
            ("confidence", "double"),
            ("uncertain", "bool"),
            ("prob_neutral", "double"),
        ]
        assert str(schema.field("error").type) == "string" and not out.with_name(out.name + ".parts").exists()


def test_manifest_rows_naming_no_regular_file_are_error_rows_at_once(tmp_path) -> None:
    """A FIFO (opening it would wait for a writer forever), a device, a socket and a directory,
    named by a manifest beside a good clip: one error row each within seconds, the clip predicted."""
    import socket

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "socket.wav"))
    (tmp_path / "folder.wav").mkdir()
    good = ROOT_EXAMPLES / "03-01-05-02-01-01-24.flac"
    manifest = tmp_path / "m.csv"
    named = [str(fifo), "/dev/zero", str(tmp_path / "socket.wav"), str(tmp_path / "folder.wav"), str(good)]
    manifest.write_text("path\n" + "".join(f"{p}\n" for p in named))
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "emovox.cli",
        "batch",
        str(manifest),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    job = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=120)
    sock.close()
    assert job.returncode == 1 and time.monotonic() - started < 60
    rows = {row["path"]: row for row in read_rows(out)}
    assert list(rows) == named
    for path, kind in zip(named, ["a FIFO", "a device", "a socket", "a directory"], strict=False):
        assert rows[path]["error"].startswith(f"{path}: is {kind}") and rows[path]["label"] is None
    assert rows[str(good)]["label"] == "angry" and not rows[str(good)]["error"]


def test_two_workers_on_an_empty_cache_give_the_predictions_of_a_warm_run(tmp_path) -> None:
    """A fresh machine (empty home and cache, no PyTorch): two worker processes start together
    on the example clips; their rows are `emovox predict --json`'s, run warm afterwards (to float32
    rounding: one thread per worker against the machine's threads split the encoders' sums
    differently, which changes the last bits on some CPUs)."""
    from conftest import WITHOUT_TORCH, cold_env

    env = cold_env(tmp_path / "home")
    out = tmp_path / "rows.jsonl"
    examples = [str(p) for p in sorted(ROOT_EXAMPLES.glob("*.flac"))]
    job = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "batch", *examples, "--out", str(out),
                          "--workers", "2", "--batch-size", "1", "--quiet"], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert job.returncode == 0, job.stderr[-2000:]
    warm = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "predict", "--json", *examples], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    expected = [json.loads(line) for line in warm.stdout.splitlines()]
    rows = read_rows(out)
    assert [r["path"] for r in rows] == examples == [e["path"] for e in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row["label"] == want["label"] and not row["error"]
        assert [row[f"prob_{label}"] for label in LABELS] == pytest.approx(want["confidence"], abs=1e-6)


def test_timeline_rows_carry_segment_times(tmp_path) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["batch", str(ROOT_EXAMPLES / "long"), "--out", str(out), "--timeline", "--quiet"]) == 0
    rows = read_rows(out)
    assert len(rows) == 6 and [r["label"] for r in rows][3] == "angry"
    assert all(r["start"] < r["end"] <= r["duration_s"] for r in rows)
    four = tmp_path / "four.jsonl"  # a task of four classes: the table has their columns only
    labels = ["--labels", "neutral,happy,sad,angry"]
    assert (
        main(["batch", str(ROOT_EXAMPLES / "long"), "--out", str(four), "--timeline", "--quiet", *labels])
        == 0
    )
    restricted = read_rows(four)
    assert [r["label"] for r in restricted][3] == "angry"
    assert {k for k in restricted[0] if k.startswith("prob_")} == {
        f"prob_{x}" for x in ("neutral", "happy", "sad", "angry")
    }


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_killed_job_resumed_gives_the_uninterrupted_table(tmp_path, collection, fmt) -> None:
    root, _ = collection
    full, cut = tmp_path / f"full.{fmt}", tmp_path / f"cut.{fmt}"
    assert (
        main(["batch", str(root), "--out", str(full), "--workers", "2", "--batch-size", "8", "--quiet"]) == 1
    )
    command = [sys.executable, "-m", "emovox", "batch", str(root), "--out", str(cut), "--workers", "2",
               "--batch-size", "8", "--quiet"]  # fmt: skip
    job = subprocess.Popen(command, start_new_session=True)
    parts = cut.with_name(cut.name + ".parts")
    deadline = time.time() + 120
    while time.time() < deadline and not (len(list(parts.glob("*.parquet"))) >= 2 if fmt == "parquet"
                                          else cut.is_file() and cut.stat().st_size > 2000):  # fmt: skip
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # the job and its workers, mid-run
    job.wait()
    kept = (
        len(read_rows(cut))
        if fmt == "jsonl"
        else sum(pq.read_table(p).num_rows for p in parts.glob("*.parquet"))
    )
    assert 0 < kept < 100
    assert (
        main(
            [
                "batch",
                str(root),
                "--out",
                str(cut),
                "--workers",
                "2",
                "--batch-size",
                "8",
                "--resume",
                "--quiet",
            ]
        )
        == 1
    )
    assert read_rows(cut) == read_rows(full)


def test_resume_cuts_a_torn_last_line(tmp_path, collection) -> None:
    from emovox.batch.table import file_key, modified

    _, paths = collection
    out = tmp_path / "o.csv"
    writer = open_output(out, LABELS)
    writer.write([{"path": paths[0], "label": "sad", "confidence": 0.5, "duration_s": 1.0,
                   "modified": modified(paths[0]), "error": ""}])  # fmt: skip
    writer.close()
    with open(out, "a") as f:
        f.write(f"{paths[1]},hap")  # killed mid-line
    again = open_output(out, LABELS, resume=True)
    assert again.done == {file_key(paths[0])} and out.read_text().endswith("\n")
    again.close()


def test_the_ray_engine_gives_the_local_engines_rows(tmp_path, collection) -> None:
    """Ray Data on a local Ray with 2 CPUs, started for the job: the same table, row for row."""
    root, _ = collection
    local, ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    common = ["--workers", "2", "--batch-size", "16", "--quiet"]
    assert main(["batch", str(root), "--out", str(local), *common]) == 1
    assert main(["batch", str(root), "--out", str(ray), "--engine", "ray", *common]) == 1
    assert read_rows(ray) == read_rows(local)


def test_the_ray_engine_says_how_to_install_ray(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["batch", str(ROOT_EXAMPLES), "--out", str(tmp_path / "o.csv"), "--engine", "ray"]) == 1
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err


def adapted_api(paths: list[str]) -> dict[str, list[float]]:
    """The API's answer for clips taken as one speaker or set-up: `predict_many(adapt=True)`."""
    from emovox.inference import EmotionPredictor

    results = EmotionPredictor.load().predict_many(paths, progress=False, errors="return", adapt=True)
    pairs = zip(paths, results, strict=True)
    return {p: list(r.confidence) for p, r in pairs if not isinstance(r, Exception)}


def probabilities_by_path(out: Path) -> dict[str, list[float]]:
    rows = [r for r in read_rows(out) if not r["error"]]
    return {r["path"]: [float(r[f"prob_{label}"]) for label in LABELS] for r in rows}


def test_adapt_by_folder_speaker_and_all_equal_the_api_adapting_each_group(tmp_path, collection) -> None:
    """Statistics gathered by two workers over batches of 8 equal those of the group's files
    together; bad files are rows with their error and stay out of the statistics."""
    root, paths = collection
    common = ["--workers", "2", "--batch-size", "8", "--quiet"]
    by_folder = tmp_path / "folder.csv"
    assert main(["batch", str(root), "--out", str(by_folder), "--adapt-by", "folder", *common]) == 1
    got = probabilities_by_path(by_folder)
    want = {**adapted_api([p for p in paths if "/a/" in p]), **adapted_api([p for p in paths if "/b/" in p])}
    assert sorted(got) == sorted(want) and len(got) == 96
    for path in got:
        np.testing.assert_allclose(got[path], want[path], atol=1e-5)

    good = sorted(got)
    actor = {p: Path(p).stem.split("-")[-1] for p in good}
    manifest = tmp_path / "speakers.csv"
    manifest.write_text("path,speaker\n" + "".join(f"{p},{actor[p]}\n" for p in good))
    by_speaker = tmp_path / "speaker.csv"
    assert main(["batch", str(manifest), "--out", str(by_speaker), "--adapt-by", "speaker", *common]) == 0
    got = probabilities_by_path(by_speaker)
    for speaker in set(actor.values()):
        mine = [p for p in good if actor[p] == speaker]
        for path, want_p in adapted_api(mine).items():
            np.testing.assert_allclose(got[path], want_p, atol=1e-5)

    everything = tmp_path / "all.csv"
    plain = tmp_path / "plain.csv"
    assert main(["batch", str(manifest), "--out", str(everything), "--adapt-by", "all", *common]) == 0
    assert main(["batch", str(manifest), "--out", str(plain), *common]) == 0
    got, unadapted, want = probabilities_by_path(everything), probabilities_by_path(plain), adapted_api(good)
    for path in good:
        np.testing.assert_allclose(got[path], want[path], atol=1e-5)
    assert any(not np.allclose(got[p], unadapted[p], atol=1e-3) for p in good)  # adaptation moved them


def test_adapt_by_refuses_what_it_cannot_do(tmp_path, collection, capsys) -> None:
    root, paths = collection
    out = str(tmp_path / "o.csv")
    assert main(["batch", str(root), "--out", out, "--adapt-by", "speaker", "--quiet"]) == 1
    assert "no speaker" in capsys.readouterr().err and not Path(out).exists()
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{paths[0]}\n")
    assert main(["batch", str(manifest), "--out", out, "--adapt-by", "speaker", "--quiet"]) == 1
    assert "a manifest needs a 'speaker' column" in capsys.readouterr().err
    assert main(["batch", str(root), "--out", out, "--adapt-by", "folder", "--timeline", "--quiet"]) == 1
    assert "a timeline adapts within its recording" in capsys.readouterr().err
    # one file in its group: said on stderr, predicted as without adaptation
    alone, plain = tmp_path / "alone.csv", tmp_path / "plain.csv"
    assert main(["batch", str(manifest), "--out", str(alone), "--adapt-by", "all", "--quiet"]) == 0
    assert "fewer than 2 readable files" in capsys.readouterr().err
    assert main(["batch", str(manifest), "--out", str(plain), "--quiet"]) == 0
    assert probabilities_by_path(alone) == probabilities_by_path(plain)

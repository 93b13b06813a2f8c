from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DATA, corpus_root

from emovox.cli import main
from emovox.errors import ConfigError, ProtocolError
from emovox.evaluation import load_experiment
from emovox.evaluation.ensemble import forward_selection, validated_ensemble

TINY = """
name = "tiny"
[data]
corpora = ["emodb"]
data_dir = "{data}"
protocol = "loso"
n_val_speakers = 1
every = 5
[model]
name = "{model}"
{params}
[train]
epochs = 2
batch_size = 16
"""


def write_config(tmp_path, model: str, params: str = "") -> str:
    corpus_root("emodb")
    path = tmp_path / f"{model}.toml"
    path.write_text(TINY.format(data=DATA, model=model, params=params))
    return str(path)


@pytest.mark.parametrize(
    ("model", "params"),
    [("lstm_feat", "[model.params]\nhidden_sizes = [16, 8]\ndense = 8"), ("svm", "")],
)
def test_cv_command_end_to_end(tmp_path, monkeypatch, model: str, params: str) -> None:
    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["cv", write_config(tmp_path, model, params), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {
        "protocol",
        "corpus",
        "model",
        "folds",
        "uar_mean",
        "uar_std",
        "wa_mean",
        "wa_std",
        "seconds",
    } <= set(report)
    assert report["protocol"] == "loso" and report["speaker_independent"] is True
    assert len(report["folds"]) == 10
    assert all({"fold", "uar", "wa", "f1"} <= set(f) for f in report["folds"])
    assert 0 <= report["uar_mean"] <= 1
    for detail in report["fold_details"]:  # each fold tested one unseen speaker
        assert len(detail["test_speakers"]) == 1
    assert (out / "report.md").read_text().startswith("# tiny")
    assert (out / "confusion.png").stat().st_size > 1000
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 107  # every clip of the subset is tested exactly once
    tested = {(r["fold"], r["speaker"]) for r in map(json.loads, lines)}
    validated = [json.loads(line) for line in (out / "val_predictions.jsonl").read_text().splitlines()]
    assert validated and all(len(r["probabilities"]) == 7 for r in validated)
    for fold in {r["fold"] for r in validated}:  # validation speakers: one per fold, never the tested one
        speakers = {r["speaker"] for r in validated if r["fold"] == fold}
        assert len(speakers) == 1 and not speakers & {s for f, s in tested if f == fold}
    if model != "svm":
        assert (out / "curves.png").exists()
        assert (out / "speaker-03" / "last.pt").exists()


def test_overrides_and_config_errors(tmp_path) -> None:
    path = write_config(tmp_path, "cnn")
    experiment = load_experiment(
        path, ["train.epochs=7", "model.params.channels=[8, 16]", "data.protocol=loso"]
    )
    assert experiment.train.epochs == 7 and experiment.model.params["channels"] == [8, 16]
    assert experiment.features == "enhanced392"
    with pytest.raises(ConfigError, match="unknown key"):
        load_experiment(path, ["train.epoch=7"])
    with pytest.raises(ConfigError, match="unknown parameter"):
        load_experiment(path, ["model.params.width=3"])
    with pytest.raises(ConfigError, match="protocol"):
        load_experiment(path, ["data.protocol=random"])
    with pytest.raises(ConfigError, match="labels"):
        load_experiment(path, ['data.corpora=["emodb", "ravdess"]'])
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="only_labels"):
        load_experiment(path, ["data.only_labels=['happy']"])


def test_label_subsets_and_held_out_speakers(tmp_path) -> None:
    from emovox.evaluation.cv import load_manifest

    path = write_config(tmp_path, "mlp")
    experiment = load_experiment(
        path,
        ['data.corpora=["emodb"]', "data.labels=shared", "data.only_labels=['sad', 'angry', 'happy']",
         "data.exclude_speakers=['emodb/03', 'emodb/16']", "data.every=1"],
    )  # fmt: skip
    manifest = load_manifest(experiment)
    assert manifest.label_order == ("happy", "sad", "angry")  # the shared order
    assert {u.label for u in manifest} == {"happy", "sad", "angry"}
    assert "emodb/03" not in manifest.speakers and len(manifest.speakers) == 8
    with pytest.raises(ConfigError, match="no such speakers"):
        load_manifest(load_experiment(path, ["data.exclude_speakers=['emodb/99']"]))


def test_train_then_evaluate_commands(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path / "cache"))
    config = write_config(tmp_path, "lstm_feat", "[model.params]\nhidden_sizes = [16, 8]\ndense = 8")
    model_dir = tmp_path / "model"
    assert (
        main(["train", config, "--out", str(model_dir), "--quiet", "--checkpoints", str(tmp_path / "ck")])
        == 0
    )
    assert (model_dir / "MODEL_CARD.md").exists() and (tmp_path / "ck" / "last.pt").exists()
    weights = (model_dir / "weights.safetensors").read_bytes()
    again = ["train", config, "--out", str(tmp_path / "again"), "--quiet", "--resume"]
    assert main(again) == 1  # resuming without the interrupted run's checkpoints
    assert "checkpoint folder" in capsys.readouterr().err
    assert main([*again, "--checkpoints", str(tmp_path / "ck")]) == 0  # it had finished: nothing to train
    assert (tmp_path / "again" / "weights.safetensors").read_bytes() == weights
    capsys.readouterr()
    assert (
        main(["evaluate", str(model_dir), "--corpus", "emodb", "--root", str(corpus_root("emodb")), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 535 and 0 <= report["uar"] <= 1
    assert sum(sum(row) for row in report["confusion"]) == 535


def test_speaker_normalisation_uses_each_speakers_own_statistics(emodb) -> None:
    import numpy as np

    from emovox.evaluation.cv import speaker_normalised
    from emovox.features import extract

    subset = emodb[::5]
    table = extract(subset, ["utterance110"], cache_dir=None, progress=False)["utterance110"]
    normalised = speaker_normalised(table)
    for speaker in subset.speakers:
        rows = [i for i, u in enumerate(subset) if u.speaker_id == speaker]
        np.testing.assert_allclose(normalised.values[rows].mean(axis=0), 0, atol=1e-4)


@pytest.mark.parametrize("model", ["mlp", "logreg"])
def test_augmented_copies_of_held_out_clips_never_reach_training(tmp_path, emodb, model: str) -> None:
    """Augmented copies of the clips a model may not train on are poisoned with NaN: a fit that
    touched one would fail (scikit-learn refuses NaN) or come out non-finite (a network's
    weights). Networks train on training clips only; classical models on training and
    validation speakers (their C is chosen by grouped CV over both); test clips never."""
    import dataclasses

    import numpy as np
    import torch

    from emovox.evaluation.cv import fit_model
    from emovox.features.extract import FeatureTable

    subset = emodb[::4]
    speakers = np.array([u.speaker_id for u in subset])
    train_idx = np.flatnonzero(~np.isin(speakers, ["emodb/03", "emodb/08"]))
    val_idx = np.flatnonzero(speakers == "emodb/03")
    labels = np.asarray(subset.label_indices())
    values = np.random.default_rng(0).normal(size=(len(subset), 3)) + labels[:, None]
    table = FeatureTable("toy", ("a", "b", "c"), subset, values)
    allowed = train_idx if model == "mlp" else np.concatenate([train_idx, val_idx])
    poisoned = values + 0.1
    poisoned[np.setdiff1d(np.arange(len(subset)), allowed)] = np.nan
    copy = dataclasses.replace(table, values=poisoned)
    experiment = load_experiment(write_config(tmp_path, model), ["train.epochs=2"])
    fitted = fit_model(experiment, table, train_idx, val_idx, None, False, [copy])
    if model == "mlp":
        assert all(torch.isfinite(p).all() for p in fitted.model.parameters())
    else:
        assert np.isfinite(fitted.model.predict_proba(values[:5])).all()


def test_cv_resumed_after_a_crash_equals_the_uninterrupted_run(tmp_path, monkeypatch) -> None:
    """The power goes in the third fold's third epoch; `--resume` finishes the run from the
    folds' checkpoints (two finished folds, one at its epoch-2 checkpoint, one not started). One
    fit per fold (no validation predictions), so that the epochs counted are the test models'."""
    from emovox.training.data import VectorData

    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path / "cache"))
    config = write_config(tmp_path, "lstm_feat", "[model.params]\nhidden_sizes = [16, 8]\ndense = 8")
    held_out = (
        "data.exclude_speakers=['emodb/08', 'emodb/09', 'emodb/10', 'emodb/11', 'emodb/12', 'emodb/13']"
    )
    settings = ["--set", held_out, "--set", "train.epochs=4", "--set", "train.checkpoint_every=2",
                "--set", "train.patience=50", "--quiet", "--no-val-predictions"]  # fmt: skip
    assert main(["cv", config, "--out", str(tmp_path / "full"), *settings]) == 0

    class PowerCut(Exception):
        pass

    epochs, draw = [0], VectorData.batches

    def cut_in_epoch_11(self, batch_size, generator=None, train=False):
        epochs[0] += train
        if epochs[0] == 11:
            raise PowerCut
        return draw(self, batch_size, generator, train)

    with monkeypatch.context() as patch:
        patch.setattr(VectorData, "batches", cut_in_epoch_11)
        with pytest.raises(PowerCut):
            main(["cv", config, "--out", str(tmp_path / "cut"), *settings])
    assert not (tmp_path / "cut" / "report.json").exists()
    epochs[0] = 0
    with monkeypatch.context() as patch:
        patch.setattr(VectorData, "batches", cut_in_epoch_11)  # no epoch 11 this time: it only counts
        assert main(["cv", config, "--out", str(tmp_path / "cut"), "--resume", *settings]) == 0
    assert epochs[0] == 2 + 4  # the third fold's epochs 3-4, the fourth fold's 1-4
    full, resumed = (json.loads((tmp_path / run / "report.json").read_text()) for run in ("full", "cut"))
    assert len(full["folds"]) == 4 and resumed["folds"] == full["folds"]
    assert resumed["resumed"] and not full["resumed"]
    assert [f["resumed_from_epoch"] for f in resumed["fold_details"]] == [4, 4, 2, 0]
    assert "resumed from checkpoints" in (tmp_path / "cut" / "report.md").read_text()
    assert (tmp_path / "cut" / "predictions.jsonl").read_text() == (
        tmp_path / "full" / "predictions.jsonl"
    ).read_text()


def test_ensemble_selection_clips_are_never_those_a_candidate_stopped_on() -> None:
    """The validation speakers are cut in two by sorted id before any fit (four speakers: the first
    two stop a network's training, the other two choose ensemble members); one speaker's clips are
    halved, each label on both sides; every clip is in exactly one part."""
    from emovox.corpora import Manifest, Utterance
    from emovox.evaluation.cv import selection_parts

    clips = [Utterance(f"{s}-{i}.wav", "c", s, "ab"[i % 2]) for s in ("d", "b", "c", "a") for i in range(6)]
    manifest = Manifest(tuple(clips))
    y = np.array(manifest.label_indices())
    val = np.arange(len(clips))
    stop, select = selection_parts(val, manifest, y, seed=0)
    assert {clips[i].speaker for i in stop} == {"a", "b"} and {clips[i].speaker for i in select} == {"c", "d"}
    one = np.arange(6)  # speaker d alone
    stop, select = selection_parts(one, manifest, y, seed=0)
    assert len(stop) == len(select) == 3 and sorted([*stop, *select]) == list(one)
    assert set(y[stop]) == set(y[select]) == {0, 1}
    assert selection_parts(one, manifest, y, seed=0)[1].tolist() == select.tolist()  # fixed, not drawn


def test_classical_folds_are_saved_so_a_resumed_run_does_not_refit_them(tmp_path, monkeypatch) -> None:
    """A logistic regression's folds are written as they finish; `--resume` reads them back (no
    fit at all when every fold finished) and reports what the uninterrupted run did, while a run
    with other settings never takes another's folds. `--no-val-predictions` fits each fold once."""
    import emovox.evaluation.cv as cv

    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path / "cache"))
    config = write_config(tmp_path, "logreg")
    held_out = "data.exclude_speakers=['emodb/08', 'emodb/09', 'emodb/10', 'emodb/11', 'emodb/12']"
    fits, fit = [0], cv.fit_model

    def counted(*args, **kwargs):
        fits[0] += 1
        return fit(*args, **kwargs)

    monkeypatch.setattr(cv, "fit_model", counted)
    out, settings = tmp_path / "run", ["--set", held_out, "--quiet", "--no-val-predictions"]
    assert main(["cv", config, "--out", str(out), *settings]) == 0
    assert fits[0] == 5 and len(list((out / "folds").glob("*.json"))) == 5  # one fit per fold
    assert not (out / "val_predictions.jsonl").exists()
    first = json.loads((out / "report.json").read_text())
    assert main(["cv", config, "--out", str(out), "--resume", *settings]) == 0
    assert fits[0] == 5 and json.loads((out / "report.json").read_text())["folds"] == first["folds"]
    assert main(["cv", config, "--out", str(out), "--resume", "--set", held_out, "--quiet"]) == 0
    assert fits[0] == 5 + 10  # with validation predictions the saved folds are another run's
    assert (out / "val_predictions.jsonl").exists()


def write_run(
    folder, folds: dict[str, tuple[list[int], list[list[float]], list[int], list[list[float]]]]
) -> None:
    """A cross-validation run's per-clip predictions: per fold (val labels, val probs, test ...)."""
    folder.mkdir(parents=True)
    for name, part in (("val_predictions", 0), ("predictions", 2)):
        rows = [{"path": f"{fold}-{name}-{i}", "speaker": "s", "fold": fold, "label": label,
                 "probabilities": p}
                for fold, parts in folds.items()
                for i, (label, p) in enumerate(zip(parts[part], parts[part + 1], strict=True))]  # fmt: skip
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_ensemble_members_are_chosen_on_validation_only(tmp_path) -> None:
    """`a` is right on validation and wrong on test, `b` the reverse: each fold keeps `a` (the
    validation winner) alone, so the test score is a's, however good b would have been."""
    labels = [0, 1, 0, 1]
    right = [[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]]
    wrong = [[0.2, 0.8], [0.8, 0.2], [0.2, 0.8], [0.8, 0.2]]
    write_run(tmp_path / "a", {"f1": (labels, right, labels, wrong)})
    write_run(tmp_path / "b", {"f1": (labels, wrong, labels, right)})
    result = validated_ensemble({"a": tmp_path / "a", "b": tmp_path / "b"}, ["x", "y"])
    assert result["folds"][0]["members"] == ["a"] and result["uar"] == [0.0]

    half = [[0.9, 0.1], [0.6, 0.4], [0.9, 0.1], [0.6, 0.4]]  # right on class 0 only
    other = [[0.4, 0.6], [0.1, 0.9], [0.4, 0.6], [0.1, 0.9]]  # right on class 1 only
    assert forward_selection({"half": np.array(half), "other": np.array(other)}, np.array(labels)) == [
        "half", "other"]  # together they are right on both: the vote keeps both  # fmt: skip
    write_run(tmp_path / "c", {"f2": (labels, right, labels, right)})
    with pytest.raises(ProtocolError, match="other clips"):
        validated_ensemble({"a": tmp_path / "a", "c": tmp_path / "c"}, ["x", "y"])

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emovox.artifact import ArtifactError, ModelArtifact, load_model
from emovox.audio import AudioConfig
from emovox.cli import main
from emovox.features import get_extractor
from emovox.models.registry import build_model
from emovox.training.scaler import Standardizer


def make_artifact(
    name: str = "cnn_lstm",
    features: str = "utterance110",
    params: dict | None = None,
    labels: tuple[str, ...] = ("a", "b", "c"),
) -> ModelArtifact:
    torch.manual_seed(0)
    extractor = get_extractor(features)
    rng = np.random.default_rng(0)
    scaler = Standardizer.fit(rng.standard_normal((50, extractor.dim)).astype(np.float32))
    if params is None:
        params = {"hidden_size": 16} if name == "lstm_stream" else {}
    model = build_model(name, extractor.dim, len(labels), params).eval()
    return ModelArtifact(model, name, params, extractor, AudioConfig(), scaler, labels, {"seed": 0})


@pytest.mark.parametrize(("name", "features"), [("cnn_lstm", "utterance110"), ("lstm_stream", "mfcc")])
def test_round_trip_gives_the_same_probabilities(tmp_path, name: str, features: str) -> None:
    artifact = make_artifact(name, features)
    artifact.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    x = (
        np.random.default_rng(1)
        .standard_normal((40, 13) if features == "mfcc" else (110,))
        .astype(np.float32)
    )
    np.testing.assert_allclose(again.predict_proba_features(x), artifact.predict_proba_features(x), rtol=1e-6)
    assert again.labels == ("a", "b", "c")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        "weights.safetensors", "scaler.safetensors", "config.json", "metadata.json", "MODEL_CARD.md",
    }  # fmt: skip
    assert json.loads((tmp_path / "m" / "metadata.json").read_text())["versions"]["torch"].startswith("2.13")


def test_broken_directories_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="no such model directory"):
        load_model(tmp_path / "none")
    make_artifact().save(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())

    def broken(**changes: object) -> None:
        config_path.write_text(json.dumps({**config, **changes}))

    broken(format_version=99)
    with pytest.raises(ArtifactError, match="format version 99"):
        load_model(tmp_path / "m")
    broken(labels=["a", "b"])  # the head has 3 outputs
    with pytest.raises(ArtifactError, match="weights do not fit"):
        load_model(tmp_path / "m")
    broken(input_dim=111)
    with pytest.raises(ArtifactError, match="input_dim"):
        load_model(tmp_path / "m")
    broken()
    (tmp_path / "m" / "weights.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ArtifactError, match="cannot read"):
        load_model(tmp_path / "m")
    config_path.write_text("{")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(tmp_path / "m")
    broken()
    metadata_path = tmp_path / "m" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    for entry in ({"temperature": -1}, {"temperature": "warm"}, 3):
        metadata_path.write_text(json.dumps({**metadata, "calibration": entry}))
        with pytest.raises(ArtifactError, match=r"metadata\.json: .*calibration"):
            load_model(tmp_path / "m")


def test_wrong_feature_shape_is_refused() -> None:
    from emovox.errors import FeatureError

    with pytest.raises(FeatureError):
        make_artifact().predict_proba_features(np.zeros(392, dtype=np.float32))


def test_ensemble_is_the_mean_of_its_members(tmp_path) -> None:
    from conftest import voiced_signal

    from emovox.artifact import EnsembleArtifact, load_any
    from emovox.audio import prepare_signal

    members = [make_artifact("cnn_lstm", "utterance110"), make_artifact("lstm_stream", "mfcc")]
    for i, member in enumerate(members):
        member.save(tmp_path / f"m{i}")
    assert main(["ensemble", str(tmp_path / "m0"), str(tmp_path / "m1"), "--out", str(tmp_path / "ens")]) == 0
    ensemble = load_any(tmp_path / "ens")
    assert isinstance(ensemble, EnsembleArtifact) and ensemble.labels == ("a", "b", "c")
    signal = prepare_signal(voiced_signal(0.5), 16_000)
    expected = np.mean([m.predict_proba_signal(signal) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba_signal(signal), expected, rtol=1e-5)
    other = make_artifact()
    other.labels = ("x", "y", "z")
    with pytest.raises(ArtifactError, match="disagree on labels"):
        EnsembleArtifact([members[0], other])


@pytest.mark.parametrize("name", ["svm", "logreg"])
def test_classical_models_are_stored_as_arrays(tmp_path, name: str) -> None:
    from emovox.models.classical import fit_classical, to_arrays

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 88)).astype(np.float32)
    y = np.arange(200) % 3
    x[np.arange(200), y] += 2.0
    fitted = fit_classical(name, x[:150], y[:150], groups=np.arange(150) % 5)
    scaler = Standardizer(np.zeros(88, dtype=np.float32), np.ones(88, dtype=np.float32))
    egemaps = get_extractor("egemaps")
    artifact = ModelArtifact(
        to_arrays(fitted.model), name, {}, egemaps, AudioConfig(), scaler, ("a", "b", "c"), {}
    )
    artifact.save(tmp_path / name)
    again = load_model(tmp_path / name)
    np.testing.assert_allclose(
        again.predict_proba_many(list(x[:20])), fitted.model.predict_proba(x[:20]), atol=1e-6
    )
    broken = json.loads((tmp_path / name / "config.json").read_text())
    (tmp_path / name / "config.json").write_text(json.dumps({**broken, "labels": ["a", "b"]}))
    with pytest.raises(ArtifactError, match="weights do not fit"):
        load_model(tmp_path / name)


def test_model_card_says_only_what_is_known_of_the_training_data() -> None:
    from emovox.artifact.store import model_card

    config = {"model": {"name": "mlp"}, "features": {"set": "enhanced392"}, "labels": ["happy", "sad"]}
    own = model_card(config, {"corpora": ["my_clips"], "train_speakers": ["a", "b"], "val_speakers": ["c"]})
    assert "Your own data: my_clips" in own
    for claim in ("acted", "unknown", "studio", "professional actors", "Only "):
        assert claim not in own, claim
    known = model_card(config, {"corpora": ["ravdess", "emodb"], "train_speakers": [], "val_speakers": []})
    assert "ravdess: English (North American); CC BY-NC-SA 4.0" in known and "emodb: German" in known
    assert "non-commercial research use only" in known
    assert "acted or read emotional speech" in known and "Your own data" not in known


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("labels"), "missing field 'labels'"),
        (lambda c: c.pop("features"), "missing field 'features'"),
        (lambda c: c.update(extra=1), r"unknown field\(s\) \['extra'\]"),
        (lambda c: c.update(input_dim="110"), "field 'input_dim' must be a int"),
        (lambda c: c.update(labels=["a", "a", "b"]), "duplicate labels"),
        (lambda c: c.update(labels=["a", 3, "c"]), "labels must be two or more names"),
        (lambda c: c["model"]["params"].update(dropout=5), "parameter dropout must be a number in"),
        (lambda c: c["model"]["params"].update(hidden_size=10**6), r"hidden_size must be in \[1, 8192\]"),
        (lambda c: c["model"]["params"].update(typo=1), "unknown parameter"),
        (lambda c: c["features"].update(version=99), "features.version 99"),
        (lambda c: c["audio"].update(sample_rate=-1), "sample_rate must be in"),
        (lambda c: c["audio"].update(mystery=1), "unexpected keyword"),
    ],
    ids=[
        "no-labels",
        "no-features",
        "unknown-key",
        "wrong-type",
        "duplicate-labels",
        "label-type",
        "dropout-5",
        "absurd-size",
        "unknown-param",
        "feature-version",
        "audio-range",
        "audio-key",
    ],
)
def test_every_config_field_is_checked(tmp_path, change, message) -> None:
    make_artifact().save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=message) as caught:
        load_model(tmp_path / "m")
    assert str(tmp_path / "m") in str(caught.value)


def test_unreadable_configs_and_bad_arrays_name_the_file(tmp_path) -> None:
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import load_file, save_file

    make_artifact().save(tmp_path / "m")
    config, scaler, weights = (
        tmp_path / "m" / n for n in ("config.json", "scaler.safetensors", "weights.safetensors")
    )
    original = config.read_bytes()
    for text, message in ((b"[1, 2]", "must be a JSON object"), (b"\xff\xfe{}", "not UTF-8"),
                          (b"[" * 100_000, "not valid JSON")):  # fmt: skip
        config.write_bytes(text)
        with pytest.raises(ArtifactError, match=message):
            load_model(tmp_path / "m")
    config.write_bytes(original)
    mean = np.zeros(110, np.float32)
    broken_scalers = [
        ({"mean": mean}, "no 'std' array"),
        ({"mean": mean, "std": np.zeros(110, np.float32)}, "must be > 0"),
        ({"mean": mean, "std": np.full(110, np.nan, np.float32)}, "NaN"),
    ]
    for arrays, message in broken_scalers:
        save_numpy(arrays, scaler)
        with pytest.raises(ArtifactError, match=message) as caught:
            load_model(tmp_path / "m")
        assert "scaler.safetensors" in str(caught.value)
    make_artifact().save(tmp_path / "m")
    tensors = load_file(weights)
    first = next(iter(tensors))
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, weights)
    with pytest.raises(ArtifactError, match=f"weights.safetensors: '{first}' holds NaN"):
        load_model(tmp_path / "m")

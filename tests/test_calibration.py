"""Honest confidence: temperature scaling, calibration error, the `uncertain` flag, and the
multi-corpus training choices (corpus- and class-balanced weights, C chosen by corpus)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emovox.errors import ConfigError
from emovox.evaluation.experiment import DataConfig
from emovox.inference import EmotionPredictor
from emovox.inference.result import Prediction
from emovox.models.classical import CORPUS_GRIDS, among_present, balance_weights, fit_classical
from emovox.training.calibration import (
    UNCERTAIN_BELOW,
    Calibration,
    expected_calibration_error,
    fit_temperature,
    reliability,
    with_temperature,
)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sampled(n: int = 4000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z): softmax(z) is calibrated for them by construction."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, classes))
    p = softmax(z)
    y = np.array([rng.choice(classes, p=row) for row in p])
    return z, y


def test_temperature_undoes_overconfidence_and_keeps_every_decision() -> None:
    z, y = sampled()
    overconfident = softmax(3 * z)  # logits three times too large
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(3, rel=0.15)
    fixed = with_temperature(overconfident, t)
    np.testing.assert_array_equal(fixed.argmax(1), overconfident.argmax(1))
    assert expected_calibration_error(overconfident, y) > 0.1
    assert expected_calibration_error(fixed, y) < 0.03
    assert expected_calibration_error(softmax(z), y) < 0.03
    np.testing.assert_allclose(with_temperature(softmax(z), 2.0), softmax(z / 2), atol=1e-9)
    np.testing.assert_array_equal(with_temperature(fixed, 1.0), fixed)
    per_row = np.where(np.arange(len(z)) % 2, 2.0, 0.5)  # one temperature per row
    expected = softmax(z / per_row[:, None])
    np.testing.assert_allclose(with_temperature(softmax(z), per_row), expected, atol=1e-9)


def test_reliability_bins_add_up() -> None:
    z, y = sampled(500)
    table = reliability(softmax(z), y, bins=10)
    assert len(table["share"]) == 10 and sum(table["share"]) == pytest.approx(1)
    filled = [c for c, s in zip(table["confidence"], table["share"], strict=True) if s > 0]
    assert all(lo <= c < lo + 0.1 + 1e-9 for lo, c in zip(table["lower"], table["confidence"], strict=True)
               if not np.isnan(c)) and filled  # fmt: skip


def test_bad_calibration_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        fit_temperature(np.ones((3, 2)) / 2, np.array([0, 1]))
    with pytest.raises(ConfigError):
        Calibration(temperature=0)
    with pytest.raises(ConfigError):
        Calibration(uncertain_below=1.5)
    with pytest.raises(ConfigError):
        Calibration.from_metadata({"calibration": {"temperature": "warm"}})
    assert Calibration.from_metadata({}) == Calibration(1.0, UNCERTAIN_BELOW)


def test_prediction_is_uncertain_below_the_threshold() -> None:
    labels = ("happy", "sad", "angry")
    sure = Prediction.from_probabilities(np.array([0.1, 0.7, 0.2]), labels, 0.5)
    guess = Prediction.from_probabilities(np.array([0.35, 0.4, 0.25]), labels, 0.5)
    assert not sure.uncertain and sure.to_dict()["uncertain"] is False
    assert guess.uncertain and guess.label == "sad" and guess["uncertain"] is True
    assert not Prediction.from_probabilities(np.array([0.35, 0.4, 0.25]), labels).uncertain


def test_corpus_class_weights_balance_classes_and_corpora_inside_them() -> None:
    y = np.array([0] * 60 + [1] * 20 + [0] * 10 + [1] * 10 + [2] * 5)
    corpora = np.array(["big"] * 80 + ["small"] * 25)
    w = balance_weights(y, corpora, "corpus_class")
    assert w.sum() == pytest.approx(len(y))
    totals = {k: w[y == k].sum() for k in range(3)}
    assert totals[0] == pytest.approx(totals[1]) == pytest.approx(totals[2])
    for k in (0, 1):
        big, small = (y == k) & (corpora == "big"), (y == k) & (corpora == "small")
        assert w[big].sum() == pytest.approx(w[small].sum())
    assert balance_weights(y, corpora, "class") is None
    with pytest.raises(ConfigError):
        balance_weights(y, corpora, "speaker")
    with pytest.raises(ConfigError):
        balance_weights(y, None, "corpus_class")


def test_among_present_judges_a_corpus_among_its_own_labels() -> None:
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    out = among_present(p, np.array([1, 2]))
    np.testing.assert_allclose(out, [[0, 0.6, 0.4], [0, 2 / 9, 7 / 9]])


def test_c_chosen_leaving_corpora_out_gives_a_temperature() -> None:
    rng = np.random.default_rng(1)
    corpora = np.repeat(["a", "b", "c"], 60)
    y = np.tile(np.arange(3), 60)
    x = rng.normal(0, 1, (180, 8)) + np.eye(3, 8)[y] * 2 + (corpora == "b")[:, None] * 0.5
    speakers = np.char.add(corpora, "/s")
    result = fit_classical("logreg", x, y, speakers, corpora=corpora, balance="corpus_class", by_corpus=True)
    assert set(result.cv_uar_by_c) == set(CORPUS_GRIDS["logreg"]) and result.chosen_c in result.cv_uar_by_c
    assert min(result.cv_uar_by_c.values()) > 0.6 and result.temperature > 0
    assert result.calibration["ece_after"] <= result.calibration["ece_before"] + 1e-6
    with pytest.raises(ConfigError, match="3 training corpora"):
        fit_classical("logreg", x[:120], y[:120], corpora[:120], corpora=corpora[:120], by_corpus=True)
    given = fit_classical("logreg", x, y, speakers, corpora=corpora, balance="corpus_class", by_corpus=True,
                          grid=(result.chosen_c,))  # fmt: skip
    assert list(given.cv_uar_by_c) == [result.chosen_c]
    assert given.temperature == pytest.approx(result.temperature)
    held = given.held_out_probabilities  # each corpus's rows predicted by a model that did not see it
    assert held.shape == (180, 3) and np.allclose(held.sum(axis=1), 1)
    assert given.temperature == pytest.approx(fit_temperature(held, y), rel=1e-3)
    for bad in ((), (0.0,), (1.0, -1.0)):
        with pytest.raises(ConfigError, match="positive C"):
            fit_classical("logreg", x, y, speakers, corpora=corpora, by_corpus=True, grid=bad)


def test_multi_corpus_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="balance"):
        DataConfig(balance="speakers")
    with pytest.raises(ConfigError, match="choose_c_by"):
        DataConfig(choose_c_by="fold")
    with pytest.raises(ConfigError, match="3 corpora"):
        DataConfig(corpora=("ravdess", "emodb"), labels="shared", choose_c_by="corpus")


def test_a_model_s_temperature_and_threshold_reach_every_prediction(trained_models, tmp_path, ravdess_clip):
    plain = EmotionPredictor.load(trained_models["mlp"])
    folder = tmp_path / "calibrated"
    shutil.copytree(trained_models["mlp"], folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["calibration"] = {"temperature": 2.5, "uncertain_below": 0.99}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    calibrated = EmotionPredictor.load(folder)
    raw = plain.classify(plain.clip_features(ravdess_clip))
    softened = calibrated.classify(calibrated.clip_features(ravdess_clip))
    np.testing.assert_allclose(softened, with_temperature(raw, 2.5), atol=1e-6)
    prediction = calibrated.predict(ravdess_clip)
    assert prediction.uncertain and prediction.label == plain.predict(ravdess_clip).label
    update = calibrated.stream(emit_every_ms=500).push(calibrated.signal(ravdess_clip))[-1]
    assert update.to_dict()["uncertain"] is True and update.to_dict()["utterance"]["uncertain"] is True

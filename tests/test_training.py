from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emovox.errors import ConfigError
from emovox.models.registry import build_model
from emovox.training.data import SequenceAugment, SequenceData, VectorData
from emovox.training.metrics import classification_report
from emovox.training.scaler import Standardizer
from emovox.training.trainer import TrainConfig, Trainer, predict_proba


def toy_vectors(
    n: int = 160, dim: int = 20, classes: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x[np.arange(n), y] += 4.0
    return x, y


def test_metrics_on_a_known_confusion() -> None:
    report = classification_report([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0], ["a", "b"])
    assert report["wa"] == pytest.approx(4 / 6)
    assert report["uar"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert report["confusion"] == [[3, 1], [1, 1]]
    assert report["per_class"]["a"]["support"] == 4


def test_standardizer_is_fitted_on_what_it_is_given() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    scaler = Standardizer.fit(x)
    np.testing.assert_allclose(scaler(x), [[-1.0, 0.0], [1.0, 0.0]])  # a constant dim stays finite
    sequences = Standardizer.fit([x, x + 2])
    np.testing.assert_allclose(sequences.mean, [3.0, 6.0])  # all four frames pooled


def test_training_learns_a_separable_problem() -> None:
    x, y = toy_vectors()
    torch.manual_seed(0)
    model = build_model("cnn", 20, 4, {"channels": [16, 32], "dense": [32]})
    result = Trainer(TrainConfig(epochs=30, lr=3e-3, patience=30), progress=False).fit(
        model, VectorData(x[:120], y[:120]), VectorData(x[120:], y[120:]), 4
    )
    model.load_state_dict(result.best_state)
    assert result.best_val_uar > 0.8
    assert (predict_proba(model, VectorData(x[120:], y[120:])).argmax(1) == y[120:]).mean() == pytest.approx(
        result.best_val_uar, abs=0.1
    )


class PowerCut(Exception):
    """Stands for a crash or Ctrl-C (a real KeyboardInterrupt would stop pytest itself)."""


class Interrupted(VectorData):
    """Training data that cuts the power when epoch `at` starts drawing batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, at: int) -> None:
        super().__init__(x, y)
        self.at, self.epochs = at, 0

    def batches(self, batch_size, generator=None, train=False):
        if train:
            self.epochs += 1
            if self.epochs == self.at:
                raise PowerCut
        return super().batches(batch_size, generator, train)


def tiny_lstm() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("lstm_feat", 20, 4, {"hidden_sizes": [16, 8], "dense": 8})


def test_resume_reproduces_the_uninterrupted_run(tmp_path) -> None:
    x, y = toy_vectors()
    train, val = VectorData(x[:120], y[:120]), VectorData(x[120:], y[120:])
    config = TrainConfig(epochs=6, checkpoint_every=3, patience=50, mixup_alpha=0.2, seed=3)
    full = Trainer(config, tmp_path / "full", progress=False).fit(tiny_lstm(), train, val, 4)
    # the power goes in epoch 6: epochs 4 and 5 ran after the last checkpoint (epoch 3) and are redone
    with pytest.raises(PowerCut):
        Trainer(config, tmp_path / "cut", progress=False).fit(
            tiny_lstm(), Interrupted(x[:120], y[:120], 6), val, 4
        )
    saved = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert json.loads(saved["state"])["epoch"] == 3
    resumed = Trainer(config, tmp_path / "cut", progress=False).fit(tiny_lstm(), train, val, 4, resume=True)
    assert [h["val_uar"] for h in resumed.history] == [h["val_uar"] for h in full.history]
    for key, value in full.best_state.items():
        torch.testing.assert_close(resumed.best_state[key], value, rtol=0, atol=0)
    # the epoch log holds each epoch once, as the uninterrupted run's does
    log = [json.loads(line) for line in (tmp_path / "cut" / "epochs.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert [r["val_uar"] for r in log] == [h["val_uar"] for h in full.history]


def test_resuming_a_finished_run_trains_nothing_and_a_fresh_run_starts_a_new_log(tmp_path) -> None:
    x, y = toy_vectors()
    train, val = VectorData(x[:120], y[:120]), VectorData(x[120:], y[120:])
    config = TrainConfig(epochs=40, patience=2, seed=3)
    done = Trainer(config, tmp_path, progress=False).fit(tiny_lstm(), train, val, 4)
    assert len(done.history) < 40  # it stopped early
    never = Interrupted(x[:120], y[:120], 1)  # any epoch would raise
    again = Trainer(config, tmp_path, progress=False).fit(tiny_lstm(), never, val, 4, resume=True)
    assert again.best_epoch == done.best_epoch and again.history == done.history
    Trainer(TrainConfig(epochs=2, patience=2, seed=3), tmp_path, progress=False).fit(
        tiny_lstm(), train, val, 4
    )
    assert len((tmp_path / "epochs.jsonl").read_text().splitlines()) == 2


def test_resume_refuses_a_checkpoint_of_other_settings_or_another_model(tmp_path) -> None:
    x, y = toy_vectors()
    train, val = VectorData(x[:120], y[:120]), VectorData(x[120:], y[120:])
    Trainer(TrainConfig(epochs=1, seed=3), tmp_path, progress=False).fit(tiny_lstm(), train, val, 4)
    with pytest.raises(ConfigError, match=r"other training settings \(lr\)"):
        Trainer(TrainConfig(epochs=1, seed=3, lr=0.1), tmp_path, progress=False).fit(
            tiny_lstm(), train, val, 4, resume=True
        )
    other = build_model("lstm_feat", 20, 4, {"hidden_sizes": [8, 8], "dense": 8})
    with pytest.raises(ConfigError, match="another model"):
        Trainer(TrainConfig(epochs=1, seed=3), tmp_path, progress=False).fit(
            other, train, val, 4, resume=True
        )


def test_sequence_batches_crop_and_mask_only_in_training() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 13)).astype(np.float32) for n in (30, 80, 200)]
    data = SequenceData(seqs, [0, 1, 2], SequenceAugment(crop_frames=50, time_masks=1, feature_masks=1))
    (train_batch,) = data.batches(8, torch.Generator().manual_seed(0), train=True)
    assert sorted(train_batch.lengths.tolist()) == [30, 50, 50]
    (eval_batch,) = data.batches(8)
    assert eval_batch.lengths.tolist() == [30, 80, 200]
    torch.testing.assert_close(eval_batch.x[2, :200], torch.from_numpy(seqs[2]))


def test_bad_train_config() -> None:
    with pytest.raises(ConfigError):
        TrainConfig(scheduler="step")
    with pytest.raises(ConfigError):
        TrainConfig(epochs=0)


def test_no_training_batch_of_one() -> None:
    from emovox.training.data import batch_slices

    assert [s.stop - s.start for s in batch_slices(65, 32)] == [32, 33]
    assert [s.stop - s.start for s in batch_slices(64, 32)] == [32, 32]
    assert [s.stop - s.start for s in batch_slices(1, 32)] == [1]
    x, y = toy_vectors(n=33)
    model = build_model("mlp", 20, 4)  # batch norm: a batch of one would fail
    Trainer(TrainConfig(epochs=1), progress=False).fit(model, VectorData(x, y), VectorData(x, y), 4)


def test_an_empty_part_is_a_clear_error() -> None:
    from emovox.training.data import batch_slices

    assert batch_slices(0, 32) == []
    x, y = toy_vectors(n=32)
    empty = VectorData(x[:0], y[:0])
    trainer = Trainer(TrainConfig(epochs=1), progress=False)
    for train, val, part in ((empty, VectorData(x, y), "training"), (VectorData(x, y), empty, "validation")):
        with pytest.raises(ConfigError, match=f"the {part} part is empty"):
            trainer.fit(build_model("mlp", 20, 4), train, val, 4)


def test_resume_refuses_a_truncated_or_foreign_checkpoint_without_running_it(tmp_path) -> None:
    """`last.pt` cut short, or a pickle that would run code: a ConfigError naming the file."""
    import os
    import pickle

    x, y = toy_vectors()
    train, val = VectorData(x[:120], y[:120]), VectorData(x[120:], y[120:])
    Trainer(TrainConfig(epochs=1, seed=3), tmp_path, progress=False).fit(tiny_lstm(), train, val, 4)
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:200])

    class Planted:
        def __reduce__(self):
            return (os.system, ("touch planted",))

    for content in (last.read_bytes(), pickle.dumps(Planted()), b""):
        last.write_bytes(content)
        with pytest.raises(ConfigError, match=f"{last}: not a readable emovox checkpoint"):
            Trainer(TrainConfig(epochs=1, seed=3), tmp_path, progress=False).fit(
                tiny_lstm(), train, val, 4, resume=True
            )
    assert not (tmp_path / "planted").exists() and not os.path.exists("planted")


def test_the_model_card_quotes_the_leave_one_corpus_out_rows_of_its_own_recipe() -> None:
    from pathlib import Path

    from emovox.recipes.train import leave_one_corpus_out_summary

    report = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "seven_corpora.json"
    runs = [r for r in json.loads(report.read_text()) if r["recipe"] == "crops"]
    summary = leave_one_corpus_out_summary(report, "crops")
    assert [r["corpus"] for r in summary["corpora"]] == [r["held_out"] for r in runs] and len(runs) == 7
    assert summary["uar_mean"] == pytest.approx(np.mean([r["whole"]["uar"] for r in runs]))
    assert summary["adapted_uar_mean"] == pytest.approx(np.mean([r["adapted"]["uar"] for r in runs]))
    six = leave_one_corpus_out_summary(report.with_name("multicorpus.json"))  # its chosen settings
    assert len(six["corpora"]) == 6 and "first_second_uar_mean" not in six and six["adapted_uar_mean"] > 0
    with pytest.raises(ConfigError, match="holds no recipes"):
        leave_one_corpus_out_summary(report.with_name("multicorpus.json"), "crops")
    with pytest.raises(ConfigError, match=r"results of recipe 'none'; it holds bundled, crops"):
        leave_one_corpus_out_summary(report, "none")

"""Run an experiment's protocol end to end: features, one model per fold, honest test scores.

Per fold: the scaler is fitted on the training part only, the epoch (neural) or C
(classical) is chosen on validation speakers, and the test speakers are touched once, at the
end. Where a protocol has no validation speakers (the random split), 10% of the training part
is held out, stratified.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from emovox.corpora import Manifest, common_labels, read_corpus, to_shared
from emovox.evaluation.experiment import Experiment
from emovox.evaluation.report import write_report
from emovox.features import FeatureTable, extract
from emovox.models import build_model
from emovox.models.classical import fit_classical
from emovox.protocols import Split, make_splits
from emovox.training.data import SequenceData, VectorData
from emovox.training.metrics import classification_report
from emovox.training.scaler import Standardizer
from emovox.training.trainer import Trainer, predict_proba


def load_manifest(experiment: Experiment) -> Manifest:
    """The experiment's corpora, labelled as it asks (native, shared, or the common labels)."""
    data = experiment.data
    manifests = [read_corpus(name, data.root(name)) for name in data.corpora]
    if data.labels == "native":
        manifest = manifests[0]
    else:
        keep = common_labels(*manifests) if data.labels == "common" else None
        parts = [to_shared(m, keep) for m in manifests]
        manifest = parts[0]
        for part in parts[1:]:
            manifest = manifest + part
    return manifest[:: data.every] if data.every > 1 else manifest


def validation_part(split: Split, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(split.val):
        return split.train, split.val
    train, val = train_test_split(split.train, test_size=0.1, random_state=seed, stratify=y[split.train])
    return np.sort(train), np.sort(val)


@dataclass
class FoldOutcome:
    report: dict[str, Any]
    probabilities: np.ndarray  # (test clips, classes)
    info: dict[str, Any]


def run_fold(
    experiment: Experiment, table: FeatureTable, split: Split, fold_dir: Path | None, progress: bool
) -> FoldOutcome:
    manifest = table.manifest
    y = np.asarray(manifest.label_indices())
    labels = manifest.label_order
    train_idx, val_idx = validation_part(split, y, experiment.train.seed)
    frames = table.offsets is not None
    if frames:
        sequences = [table[i] for i in range(len(table))]
        scaler = Standardizer.fit([sequences[i] for i in train_idx])

        def part(idx: np.ndarray, augment: bool = False) -> SequenceData:
            return SequenceData(
                [scaler(sequences[i]) for i in idx], y[idx], experiment.augment if augment else None
            )

    else:
        scaler = Standardizer.fit(table.values[train_idx])

        def part(idx: np.ndarray, augment: bool = False) -> VectorData:
            return VectorData(scaler(table.values[idx]), y[idx])

    started = time.perf_counter()
    if experiment.model.is_classical:
        result = fit_classical(
            experiment.model.name, scaler(table.values[train_idx]), y[train_idx],
            scaler(table.values[val_idx]), y[val_idx], seed=experiment.train.seed,
        )  # fmt: skip
        probabilities = result.model.predict_proba(scaler(table.values[split.test]))
        info = {
            "chosen_c": result.chosen_c,
            "val_uar_by_c": {str(k): v for k, v in result.val_uar_by_c.items()},
        }
    else:
        torch.manual_seed(experiment.train.seed)
        model = build_model(
            experiment.model.name, table.values.shape[1], len(labels), experiment.model.params
        )
        trainer = Trainer(experiment.train, checkpoint_dir=fold_dir, progress=progress)
        result = trainer.fit(model, part(train_idx, augment=True), part(val_idx), len(labels))
        model.load_state_dict(result.best_state)
        probabilities = predict_proba(model, part(split.test))
        info = {"best_epoch": result.best_epoch, "best_val_uar": result.best_val_uar,
                "epochs_run": len(result.history), "history": result.history}  # fmt: skip
    info["seconds"] = time.perf_counter() - started
    report = classification_report(y[split.test], probabilities.argmax(axis=1), labels)
    return FoldOutcome(report, probabilities, info)


def run_cv(
    experiment: Experiment,
    out_dir: str | Path,
    progress: bool = True,
    jobs: int | None = None,
    cache_dir: str | Path | None = "default",
) -> dict[str, Any]:
    """Run every fold, write `report.json`, `report.md`, plots and per-clip test predictions."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = load_manifest(experiment)
    table = extract(manifest, [experiment.features], jobs=jobs, cache_dir=cache_dir, progress=progress)[
        experiment.features
    ]
    d = experiment.data
    splits = make_splits(d.protocol, manifest, d.n_val_speakers, d.k, experiment.train.seed)
    folds, predictions = [], []
    y = manifest.label_indices()
    for split in splits:
        fold_dir = out / split.name if not experiment.model.is_classical else None
        outcome = run_fold(experiment, table, split, fold_dir, progress)
        folds.append({"fold": split.name, **outcome.report, **outcome.info,
                      "test_speakers": split.info.get("test_speakers", [])})  # fmt: skip
        for i, p in zip(split.test, outcome.probabilities, strict=True):
            u = manifest[int(i)]
            predictions.append({"path": u.path, "speaker": u.speaker_id, "fold": split.name,
                                "label": y[int(i)], "probabilities": p.tolist()})  # fmt: skip
        if progress:
            scores = outcome.report
            print(f"{experiment.name} {split.name}: UAR {scores['uar']:.3f}  WA {scores['wa']:.3f}")
    with open(out / "predictions.jsonl", "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in predictions)
    return write_report(
        experiment, manifest, folds, time.perf_counter() - started, out, splits[0].speaker_independent
    )

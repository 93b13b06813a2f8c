"""Run an experiment's protocol end to end: features, one model per fold, honest test scores.

Per fold: the scaler is fitted on the training part only; a network's epoch is chosen on the
validation speakers, a classical model's C by speaker-grouped CV inside the training speakers;
the test speakers are touched once, at the end. Where a protocol has no validation speakers
(the random split), 10% of the training part is held out, stratified.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from emovox.augment import AugmentedCopy
from emovox.corpora import SHARED_LABELS, Manifest, common_labels, read_corpus, to_shared
from emovox.errors import ConfigError
from emovox.evaluation.experiment import Experiment
from emovox.evaluation.report import write_report
from emovox.features import FeatureTable, extract
from emovox.models.classical import fit_classical
from emovox.models.registry import build_model
from emovox.protocols import Split, make_splits
from emovox.training.data import SequenceAugment, SequenceData, VectorData
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
        if data.only_labels:
            keep = tuple(label for label in (keep or SHARED_LABELS) if label in data.only_labels)
        parts = [to_shared(m, keep, data.relabel) for m in manifests]
        manifest = parts[0]
        for part in parts[1:]:
            manifest = manifest + part
    if data.exclude_speakers:
        unknown = set(data.exclude_speakers) - set(manifest.speakers)
        if unknown:
            raise ConfigError(f"data.exclude_speakers: no such speakers {sorted(unknown)}")
        manifest = manifest.subset(
            [i for i, u in enumerate(manifest) if u.speaker_id not in data.exclude_speakers]
        )
    return manifest[:: data.every] if data.every > 1 else manifest


def validation_part(split: Split, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(split.val):
        return split.train, split.val
    train, val = train_test_split(split.train, test_size=0.1, random_state=seed, stratify=y[split.train])
    return np.sort(train), np.sort(val)


def selection_parts(
    val_idx: np.ndarray, manifest: Manifest, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fold's validation clips cut in two, by a rule fixed before anything is fitted: an
    early-stopping part (the first half of its speakers, sorted by id) and a selection part (the
    others), so that ensemble members are chosen on clips that no part of their training, the
    stopping included, has seen. With one validation speaker, or clips held out of the training
    part, the clips are halved instead, stratified by label where every label has two."""
    speakers = np.array([manifest[int(i)].speaker_id for i in val_idx])
    names = sorted(set(speakers))
    if len(names) >= 2:
        stop = np.isin(speakers, names[: len(names) // 2])
        return val_idx[stop], val_idx[~stop]
    if len(val_idx) < 2:
        return val_idx, val_idx[:0]
    counts = np.unique(y[val_idx], return_counts=True)[1]
    stop, select = train_test_split(val_idx, test_size=0.5, random_state=seed,
                                    stratify=y[val_idx] if counts.min() >= 2 else None)  # fmt: skip
    return np.sort(stop), np.sort(select)


@dataclass
class Fitted:
    """A model fitted on one training part, with its scaler and how training went."""

    model: Any  # an nn.Module, or a scikit-learn classifier
    scaler: Standardizer
    info: dict[str, Any]

    def predict_proba(self, table: FeatureTable, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
        if isinstance(self.model, torch.nn.Module):
            return predict_proba(self.model, _data([table], idx, y, self.scaler, None))
        return self.model.predict_proba(self.scaler(table.values[idx]))


def _data(
    tables: Sequence[FeatureTable],
    idx: np.ndarray,
    y: np.ndarray,
    scaler: Standardizer,
    augment: SequenceAugment | None,
) -> SequenceData | VectorData:
    """The rows `idx` of each table (the clean one, then augmented copies of the same clips)."""
    labels = np.concatenate([y[idx]] * len(tables))
    if tables[0].offsets is not None:
        return SequenceData([scaler(t[int(i)]) for t in tables for i in idx], labels, augment)
    return VectorData(scaler(np.concatenate([t.values[idx] for t in tables])), labels)


def fit_model(
    experiment: Experiment,
    table: FeatureTable,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    checkpoint_dir: Path | None,
    progress: bool,
    augmented: Sequence[FeatureTable] = (),
    resume: bool = False,
) -> Fitted:
    """Scaler on the training part only; epoch (neural) chosen on validation, C (classical) by
    grouped CV over training and validation speakers.

    `augmented` tables hold augmented copies of every clip; only the copies of `train_idx`
    clips are used, so no version of a validation or test clip is ever trained on. `resume`
    continues a network's training from the checkpoint in `checkpoint_dir`.
    """
    y = np.asarray(table.manifest.label_indices())
    labels = table.manifest.label_order
    if table.offsets is not None:
        scaler = Standardizer.fit([table[int(i)] for i in train_idx])
    else:
        scaler = Standardizer.fit(table.values[train_idx])
    started = time.perf_counter()
    if experiment.model.is_classical:
        # all training speakers (validation ones included) take part in choosing C by grouped CV
        fit_idx = np.concatenate([train_idx, val_idx])
        speakers = np.array([u.speaker_id for u in table.manifest])
        extra = None
        if augmented:
            copies = len(augmented)
            x_extra = scaler(np.concatenate([t.values[fit_idx] for t in augmented]))
            extra = (x_extra, np.tile(y[fit_idx], copies), np.tile(speakers[fit_idx], copies))
        corpora = np.array([u.corpus for u in table.manifest])[fit_idx]
        d = experiment.data
        result = fit_classical(experiment.model.name, scaler(table.values[fit_idx]), y[fit_idx],
                               speakers[fit_idx], seed=experiment.train.seed, extra=extra, corpora=corpora,
                               balance=d.balance, by_corpus=d.choose_c_by == "corpus")  # fmt: skip
        model: Any = result.model
        info: dict[str, Any] = {
            "chosen_c": result.chosen_c,
            "cv_uar_by_c": {str(k): v for k, v in result.cv_uar_by_c.items()},
            "temperature": result.temperature,
            "calibration": result.calibration,
            "by_corpus": d.choose_c_by == "corpus",
        }
    else:
        torch.manual_seed(experiment.train.seed)
        dim = table.values.shape[1]
        model = build_model(experiment.model.name, dim, len(labels), experiment.model.params)
        trainer = Trainer(experiment.train, checkpoint_dir=checkpoint_dir, progress=progress)
        train = _data([table, *augmented], train_idx, y, scaler, experiment.augment)
        val = _data([table], val_idx, y, scaler, None)
        result = trainer.fit(model, train, val, len(labels), resume=resume)
        model.load_state_dict(result.best_state)
        info = {"best_epoch": result.best_epoch, "best_val_uar": result.best_val_uar,
                "epochs_run": len(result.history), "resumed_from_epoch": result.resumed_from,
                "history": result.history}  # fmt: skip
    info["seconds"] = time.perf_counter() - started
    return Fitted(model, scaler, info)


@dataclass
class FoldResult:
    report: dict[str, Any]
    test: np.ndarray  # probabilities of split.test
    val_idx: np.ndarray
    val: np.ndarray  # probabilities of val_idx from a model that never trained on them
    info: dict[str, Any]

    def save(self, path: Path, key: dict[str, Any]) -> None:
        """A finished fold, with `key` (what it was run for), so that a resumed run need not refit it."""
        fields = {"report": self.report, "test": self.test.tolist(), "val_idx": self.val_idx.tolist(),
                  "val": self.val.tolist(), "info": self.info}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"key": key, **fields}))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path, key: dict[str, Any]) -> FoldResult | None:
        """The fold saved at `path` for the same `key`, or None (none saved, or another run's)."""
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if saved.get("key") != key:
            return None
        test = np.array(saved["test"])
        val = np.array(saved["val"]).reshape(len(saved["val_idx"]), test.shape[1])
        return cls(saved["report"], test, np.array(saved["val_idx"], dtype=int), val, saved["info"])


def run_fold(
    experiment: Experiment,
    table: FeatureTable,
    split: Split,
    fold_dir: Path | None,
    progress: bool,
    augmented: Sequence[FeatureTable] = (),
    resume: bool = False,
    validation: bool = True,
) -> FoldResult:
    """Fit on the fold's training part; score its test speakers once. Validation probabilities
    come too, for choosing ensemble members inside the fold (skipped when not `validation`): those
    of the selection part of `selection_parts`, from a second fit on the training part that never
    saw them, a network early-stopped on the other part, a classical model's C chosen by
    grouped CV over the training speakers alone. The test model is the first fit, its epoch (or
    C) chosen with all the validation speakers."""
    y = np.asarray(table.manifest.label_indices())
    train_idx, val_idx = validation_part(split, y, experiment.train.seed)
    fitted = fit_model(experiment, table, train_idx, val_idx, fold_dir, progress, augmented, resume)
    probabilities = fitted.predict_proba(table, split.test, y)
    report = classification_report(y[split.test], probabilities.argmax(axis=1), table.manifest.label_order)
    stop_idx = select_idx = val_idx[:0]
    if validation:
        stop_idx, select_idx = selection_parts(val_idx, table.manifest, y, experiment.train.seed)
    if not len(select_idx):
        nothing = np.empty((0, probabilities.shape[1]))
        return FoldResult(report, probabilities, select_idx, nothing, fitted.info)
    stopping = val_idx[:0] if experiment.model.is_classical else stop_idx
    judge = fit_model(experiment, table, train_idx, stopping, None, False, augmented)
    judged = judge.predict_proba(table, select_idx, y)
    return FoldResult(report, probabilities, select_idx, judged, fitted.info)


def speaker_normalised(table: FeatureTable, reference: FeatureTable | None = None) -> FeatureTable:
    """Each speaker's features standardised with its own statistics (frames pooled for frame
    sets). Statistics come from `reference` (the clean table) when normalising augmented copies.
    Uses no labels, but does use test speakers' audio: results are reported apart."""
    source = reference or table
    values = table.values.copy()
    speakers = np.array([u.speaker_id for u in table.manifest])
    for speaker in np.unique(speakers):
        clips = np.flatnonzero(speakers == speaker)
        if table.offsets is None:
            scaler = Standardizer.fit(source.values[clips])
            values[clips] = scaler(table.values[clips])
        else:
            scaler = Standardizer.fit([source[int(i)] for i in clips])
            for i in clips:
                lo, hi = table.offsets[i], table.offsets[i + 1]
                values[lo:hi] = scaler(table.values[lo:hi])
    return FeatureTable(table.name, table.feature_names, table.manifest, values, table.offsets)


def augmented_tables(
    experiment: Experiment,
    manifest: Manifest,
    jobs: int | None,
    cache_dir: str | Path | None,
    progress: bool,
) -> list[FeatureTable]:
    """Features of each augmented copy of every clip (each fold then takes its training clips')."""
    waveform = experiment.waveform
    return [
        extract(manifest, [experiment.features], jobs=jobs, cache_dir=cache_dir, progress=progress,
                variant=AugmentedCopy(waveform.chain(k), k, experiment.train.seed))[experiment.features]
        for k in range(waveform.copies)
    ]  # fmt: skip


def run_cv(
    experiment: Experiment,
    out_dir: str | Path,
    progress: bool = True,
    jobs: int | None = None,
    cache_dir: str | Path | None = "default",
    resume: bool = False,
    validation: bool = True,
) -> dict[str, Any]:
    """Run every fold, write `report.json`, `report.md`, plots and per-clip test predictions
    (and validation predictions for ensembles, unless not `validation`: each fold is then fitted
    once).

    `resume` picks an interrupted run up from its folds' checkpoints: finished folds return at
    once, the interrupted one continues where its last checkpoint left it, and the results
    equal the uninterrupted run's (a classical fold is saved when it finishes; an interrupted
    one is refitted, deterministically).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = load_manifest(experiment)
    table = extract(manifest, [experiment.features], jobs=jobs, cache_dir=cache_dir, progress=progress)[
        experiment.features
    ]
    augmented = augmented_tables(experiment, manifest, jobs, cache_dir, progress)
    if experiment.data.speaker_norm:
        augmented = [speaker_normalised(t, table) for t in augmented]
        table = speaker_normalised(table)
    d = experiment.data
    splits = make_splits(d.protocol, manifest, d.n_val_speakers, d.k, experiment.train.seed)
    folds = []
    rows: dict[str, list[str]] = {"predictions": [], "val_predictions": []}
    y = manifest.label_indices()

    def row(i: int, fold: str, probabilities: np.ndarray) -> str:
        u = manifest[i]
        return json.dumps({"path": u.path, "speaker": u.speaker_id, "fold": fold, "label": y[i],
                           "probabilities": [round(float(p), 6) for p in probabilities]})  # fmt: skip

    tested: list[np.ndarray] = []
    predicted: list[np.ndarray] = []
    classical = experiment.model.is_classical
    for split in splits:
        fold_dir = out / split.name if not classical else None
        tested_paths = [manifest[int(i)].path for i in split.test]
        key = {
            "experiment": experiment.to_dict(),
            "validation": validation,
            "selection": "halves",
            "test": tested_paths,
        }
        key = json.loads(json.dumps(key))  # as it reads back
        saved = out / "folds" / f"{split.name}.json"
        result = FoldResult.load(saved, key) if classical and resume else None
        if result is None:
            result = run_fold(experiment, table, split, fold_dir, progress, augmented, resume, validation)
            if classical:
                result.save(saved, key)
        tested.append(np.asarray(split.test))
        predicted.append(result.test.argmax(axis=1))
        folds.append({"fold": split.name, **result.report, **result.info,
                      "test_speakers": split.info.get("test_speakers", [])})  # fmt: skip
        rows["predictions"] += [
            row(int(i), split.name, p) for i, p in zip(split.test, result.test, strict=True)
        ]
        rows["val_predictions"] += [
            row(int(i), split.name, p) for i, p in zip(result.val_idx, result.val, strict=True)
        ]
        if progress:
            report = result.report
            print(f"{experiment.name} {split.name}: UAR {report['uar']:.3f}  WA {report['wa']:.3f}")
    for name, lines in rows.items():  # per clip, per fold: what ensembles are built from
        path = out / f"{name}.jsonl"
        if lines or name == "predictions":
            path.write_text("".join(line + "\n" for line in lines))
        else:  # no validation predictions: none left from an earlier run either
            path.unlink(missing_ok=True)
    return write_report(
        experiment,
        manifest,
        folds,
        time.perf_counter() - started,
        out,
        splits[0].speaker_independent,
        resumed=any(f.get("resumed_from_epoch", 0) for f in folds),
        per_corpus=per_corpus(manifest, np.concatenate(tested), np.concatenate(predicted)),
    )


def per_corpus(manifest: Manifest, tested: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, Any]]:
    """Each corpus's test clips over all folds (when there are several corpora): UAR over the
    labels it has, WA, clips."""
    if len(manifest.corpora) < 2:
        return {}
    y = np.asarray(manifest.label_indices())[tested]
    corpus = np.array([manifest[int(i)].corpus for i in tested])
    out = {}
    for name in manifest.corpora:
        mine = corpus == name
        report = classification_report(y[mine], predicted[mine], manifest.label_order)
        out[name] = {"uar": report["uar"], "wa": report["wa"], "clips": int(mine.sum())}
    return out

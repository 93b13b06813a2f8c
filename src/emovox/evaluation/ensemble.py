"""Soft-voting ensembles whose members are chosen inside each fold, on that fold's validation
speakers only (forward selection, as Caruana et al. 2004): start from the candidate with the best
validation UAR, add the one that raises the vote's validation UAR most, stop when none does. The
chosen vote is then scored once on the fold's test speakers. Candidates are cross-validation runs
of the same protocol (`emovox cv` writes `val_predictions.jsonl` and `predictions.jsonl`); their
validation predictions are of the selection half of each fold's validation speakers, from a fit
that neither trained nor stopped on them (`emovox.evaluation.cv.selection_parts`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emovox.errors import ProtocolError
from emovox.training.metrics import classification_report, uar


@dataclass
class FoldPredictions:
    paths: list[str]
    labels: np.ndarray
    probabilities: np.ndarray  # (clips, classes)


def read_predictions(path: Path) -> dict[str, FoldPredictions]:
    """A run's per-clip predictions, by fold, in the run's clip order."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        rows.setdefault(row["fold"], []).append(row)
    return {
        fold: FoldPredictions(
            [r["path"] for r in fold_rows],
            np.array([r["label"] for r in fold_rows]),
            np.array([r["probabilities"] for r in fold_rows]),
        )
        for fold, fold_rows in rows.items()
    }


def forward_selection(candidates: Mapping[str, np.ndarray], labels: np.ndarray) -> list[str]:
    """Members, in the order chosen, by validation UAR of their mean probabilities."""

    def score(members: list[str]) -> float:
        return uar(labels, np.mean([candidates[m] for m in members], axis=0).argmax(axis=1))

    chosen = [max(candidates, key=lambda name: score([name]))]
    while True:
        rest = [name for name in candidates if name not in chosen]
        if not rest:
            return chosen
        best = max(rest, key=lambda name: score([*chosen, name]))
        if score([*chosen, best]) <= score(chosen):
            return chosen
        chosen.append(best)


def validated_ensemble(runs: Mapping[str, Path], label_order: list[str]) -> dict[str, Any]:
    """Per fold: members chosen on validation, the vote's test report. Every run must cover the
    same folds and clips (the same protocol and seed)."""
    val = {name: read_predictions(run / "val_predictions.jsonl") for name, run in runs.items()}
    test = {name: read_predictions(run / "predictions.jsonl") for name, run in runs.items()}
    first = next(iter(runs))
    folds = []
    for fold in test[first]:
        for name in runs:
            if fold not in test[name] or test[name][fold].paths != test[first][fold].paths or \
                    val[name][fold].paths != val[first][fold].paths:  # fmt: skip
                raise ProtocolError(f"{runs[name]}: fold {fold} has other clips than {runs[first]}")
        members = forward_selection({n: val[n][fold].probabilities for n in runs}, val[first][fold].labels)
        vote = np.mean([test[m][fold].probabilities for m in members], axis=0)
        report = classification_report(test[first][fold].labels, vote.argmax(axis=1), label_order)
        val_vote = np.mean([val[m][fold].probabilities for m in members], axis=0).argmax(axis=1)
        folds.append({"fold": fold, "members": members, "val_uar": uar(val[first][fold].labels, val_vote),
                      "uar": report["uar"], "wa": report["wa"]})  # fmt: skip
    return {"candidates": list(runs), "folds": folds,
            "uar": [f["uar"] for f in folds], "wa": [f["wa"] for f in folds]}  # fmt: skip

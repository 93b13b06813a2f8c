"""Train the model an experiment describes on all its speakers (minus validation speakers for
early stopping) and save it as a model directory. Its honest accuracy comes from `emovox cv`
on the same experiment, attached to the model card when given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emovox.artifact.store import ModelArtifact
from emovox.audio import AudioConfig
from emovox.errors import ConfigError
from emovox.evaluation.cv import augmented_tables, fit_model, load_manifest
from emovox.evaluation.experiment import Experiment
from emovox.features import extract, get_extractor
from emovox.models.classical import to_arrays
from emovox.protocols import choose_validation_speakers
from emovox.training.calibration import UNCERTAIN_BELOW


def cv_summary(report_path: str | Path) -> dict[str, Any]:
    """The part of a `report.json` a model card quotes."""
    report = json.loads(Path(report_path).read_text())
    confusion = np.array(report["confusion"])
    recall = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(rates, 0)
    worst = np.dstack(np.unravel_index(np.argsort(rates, axis=None)[::-1][:3], rates.shape))[0]
    labels = report["labels"]
    return {
        "confusions": [
            {"true": labels[i], "predicted": labels[j], "rate": float(rates[i, j])} for i, j in worst
        ],
        "protocol": report["protocol"],
        "uar_mean": report["uar_mean"],
        "uar_std": report["uar_std"],
        "wa_mean": report["wa_mean"],
        "wa_std": report["wa_std"],
        "per_class_recall": dict(zip(report["labels"], recall.tolist(), strict=True)),
    }


def leave_one_corpus_out_summary(results_path: str | Path, recipe: str | None = None) -> dict[str, Any]:
    """The part of a leave-one-corpus-out benchmark's JSON a model card quotes, per held-out
    corpus, scored per file: `benchmarks/seven_corpora.py`'s rows of `recipe` (the one the model
    was trained by: whole clips, their first second of speech, adapted per speaker), or
    `benchmarks/multicorpus.py`'s setting chosen on validation corpora (whole and adapted)."""
    results = json.loads(Path(results_path).read_text())
    if not results:
        raise ConfigError(f"{results_path}: no leave-one-corpus-out results")
    if "recipe" in results[0]:
        recipes = sorted({result["recipe"] for result in results})
        if recipe not in recipes:
            raise ConfigError(f"{results_path}: no leave-one-corpus-out results of recipe {recipe!r}; "
                              f"it holds {', '.join(recipes)}")  # fmt: skip
        script = "benchmarks/seven_corpora.py"
        rows = [
            {"corpus": r["held_out"], "uar": r["whole"]["uar"], "first_second_uar": r["first_second"]["uar"],
             "adapted_uar": r["adapted"]["uar"], "top_label": r["whole"]["top_label"],
             "top_share": r["whole"]["top_share"], "ece": r["whole"]["ece"]}
            for r in results if r["recipe"] == recipe
        ]  # fmt: skip
    elif recipe is not None:
        raise ConfigError(f"{results_path}: holds no recipes (benchmarks/multicorpus.py's); drop {recipe!r}")
    else:
        script, rows = "benchmarks/multicorpus.py", []
        for result in results:
            chosen = result["settings"][result["chosen"]]
            rows.append({"corpus": result["held_out"], "uar": chosen["held_out"]["uar"],
                         "wa": chosen["held_out"]["wa"], "adapted_uar": chosen["adapted"]["uar"],
                         "top_label": chosen["top_label"],
                         "top_share": chosen["top_share"], "ece": chosen["ece"]})  # fmt: skip
    means = {f"{key}_mean": float(np.mean([r[key] for r in rows])) for key in rows[0] if key.endswith("uar")}
    return {"script": script, "recipe": recipe, "corpora": rows, **means}


def report_metadata(
    cv_report: str | Path | None, cross_corpus_report: str | Path | None, cross_corpus_recipe: str | None
) -> dict[str, Any]:
    """The metadata entries a model card quotes from the reports given (none for those not)."""
    metadata: dict[str, Any] = {}
    if cv_report:
        metadata["cross_validation"] = cv_summary(cv_report)
    if cross_corpus_report:
        metadata["leave_one_corpus_out"] = leave_one_corpus_out_summary(
            cross_corpus_report, cross_corpus_recipe
        )
    return metadata


def attach_reports(
    model_dir: str | Path,
    cv_report: str | Path | None = None,
    cross_corpus_report: str | Path | None = None,
    cross_corpus_recipe: str | None = None,
) -> ModelArtifact:
    """Put evaluations finished after training into a saved model's metadata and card (what
    `train --cv-report` would have written): the weights are left as they are."""
    from emovox.artifact import load_model

    artifact = load_model(model_dir)
    artifact.metadata |= report_metadata(cv_report, cross_corpus_report, cross_corpus_recipe)
    artifact.save(model_dir)
    return artifact


def selection(info: dict[str, Any]) -> str:
    """How the saved model was chosen, in words: the epoch (networks) or C (classical models)."""
    if "chosen_c" in info:
        score = info["cv_uar_by_c"][str(info["chosen_c"])]
        how = "leave-one-corpus-out" if info.get("by_corpus") else "speaker-grouped CV"
        return f"C = {info['chosen_c']:g}, {how} UAR {100 * score:.1f} %"
    return f"best epoch {info['best_epoch']}, validation UAR {100 * info['best_val_uar']:.1f} %"


def train_and_save(
    experiment: Experiment,
    out_dir: str | Path,
    cv_report: str | Path | None = None,
    progress: bool = True,
    jobs: int | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    cross_corpus_report: str | Path | None = None,
    cross_corpus_recipe: str | None = None,
) -> ModelArtifact:
    """`checkpoint_dir` keeps resumable checkpoints and the epoch log (outside the model
    directory); `resume` continues an interrupted training from them."""
    if resume and checkpoint_dir is None:
        raise ConfigError("resuming needs the checkpoint folder of the interrupted run")
    if experiment.data.speaker_norm:
        raise ConfigError("data.speaker_norm is an evaluation variant; a saved model normalises globally")
    manifest = load_manifest(experiment)
    table = extract(manifest, [experiment.features], jobs=jobs, progress=progress)[experiment.features]
    speakers = manifest.speakers
    n_val = max(1, experiment.data.n_val_speakers)
    val = set(choose_validation_speakers(manifest, speakers, n_val, experiment.train.seed))
    is_val = np.array([u.speaker_id in val for u in manifest])
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    augmented = augmented_tables(experiment, manifest, jobs, "default", progress)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else None
    fitted = fit_model(experiment, table, train_idx, val_idx, checkpoints, progress, augmented, resume)
    metadata: dict[str, Any] = {
        "experiment": experiment.to_dict(),
        "corpora": manifest.corpora,
        "held_out_speakers": list(experiment.data.exclude_speakers),
        # a classical model trains on every speaker (validation speakers take part in choosing C)
        "train_speakers": sorted(set(speakers) - (set() if experiment.model.is_classical else val)),
        "val_speakers": [] if experiment.model.is_classical else sorted(val),
        "seed": experiment.train.seed,
        "selection": selection(fitted.info),
        "training_seconds": fitted.info["seconds"],
    }
    if "temperature" in fitted.info:
        metadata["calibration"] = {
            "temperature": fitted.info["temperature"],
            "uncertain_below": UNCERTAIN_BELOW,
            "fitted_on": "held-out predictions of the C search ("
            + ("one training corpus left out at a time)" if experiment.data.choose_c_by == "corpus"
               else "speaker-grouped folds)"),
            **fitted.info["calibration"],
        }  # fmt: skip
    metadata |= report_metadata(cv_report, cross_corpus_report, cross_corpus_recipe)
    artifact = ModelArtifact(
        model=to_arrays(fitted.model) if experiment.model.is_classical else fitted.model,
        model_name=experiment.model.name,
        model_params=dict(experiment.model.params),
        extractor=get_extractor(experiment.features),
        audio=AudioConfig(),
        scaler=fitted.scaler,
        labels=manifest.label_order,
        metadata=metadata,
    )
    artifact.save(out_dir)
    return artifact

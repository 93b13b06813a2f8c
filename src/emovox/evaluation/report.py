"""Cross-validation reports: report.json (machine-readable), report.md, confusion and curve plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emovox import __version__
from emovox.corpora import Manifest
from emovox.evaluation.experiment import Experiment
from emovox.machine import describe_machine


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def write_report(
    experiment: Experiment,
    manifest: Manifest,
    folds: list[dict[str, Any]],
    seconds: float,
    out: Path,
    speaker_independent: bool,
    resumed: bool = False,
    per_corpus: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`seconds` is this run's wall time: after a resume (`resumed`) it leaves out the time the
    interrupted run had spent, and the report says so."""
    uar_mean, uar_std = mean_std([f["uar"] for f in folds])
    wa_mean, wa_std = mean_std([f["wa"] for f in folds])
    f1_mean, f1_std = mean_std([f["f1"] for f in folds])
    confusion = np.sum([np.array(f["confusion"]) for f in folds], axis=0)
    report = {
        "name": experiment.name,
        "protocol": experiment.data.protocol,
        "speaker_independent": speaker_independent,
        "speaker_normalised": experiment.data.speaker_norm,
        "corpus": "+".join(manifest.corpora),  # as the summary names it (a CSV: its file name)
        "labels": list(manifest.label_order),
        "model": experiment.model.name,
        "features": experiment.features,
        "folds": [{k: f[k] for k in ("fold", "uar", "wa", "f1")} for f in folds],
        "uar_mean": uar_mean,
        "uar_std": uar_std,
        "wa_mean": wa_mean,
        "wa_std": wa_std,
        "f1_mean": f1_mean,
        "f1_std": f1_std,
        "confusion": confusion.tolist(),
        "per_corpus": per_corpus or {},
        "seconds": seconds,
        "resumed": resumed,
        "machine": describe_machine(),
        "emovox": __version__,
        "config": experiment.to_dict(),
        "fold_details": folds,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(render_markdown(report))
    plot_confusion(confusion, manifest.label_order, out / "confusion.png", experiment.name)
    if any("history" in f for f in folds):
        plot_curves(folds, out / "curves.png", experiment.name)
    return report


def render_markdown(report: dict[str, Any]) -> str:
    kind = "speaker-independent" if report["speaker_independent"] else "**speaker-dependent** (random split)"
    if report["speaker_normalised"]:
        kind += "; **features normalised per speaker, test speakers' unlabelled audio included**"
    lines = [
        f"# {report['name']}",
        "",
        f"{report['model']} on {report['features']} features, {report['corpus']} "
        f"({len(report['labels'])} classes), protocol `{report['protocol']}` ({kind}).",
        "",
        f"**UAR {100 * report['uar_mean']:.1f} ± {100 * report['uar_std']:.1f} %**, "
        f"WA {100 * report['wa_mean']:.1f} ± {100 * report['wa_std']:.1f} %, "
        f"macro-F1 {100 * report['f1_mean']:.1f} ± {100 * report['f1_std']:.1f} % "
        f"(mean ± std over {len(report['folds'])} folds).",
        "",
        f"{report['seconds'] / 60:.1f} min on {report['machine']}"
        + (
            " (resumed from checkpoints: the interrupted run's time is not included)."
            if report.get("resumed")
            else "."
        ),
        "",
        "| fold | UAR % | WA % | macro-F1 % |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {f['fold']} | {100 * f['uar']:.1f} | {100 * f['wa']:.1f} | {100 * f['f1']:.1f} |"
        for f in report["folds"]
    ]
    confusion = np.array(report["confusion"])
    recall = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    lines += ["", "Per-class recall over all test folds:", ""]
    lines += [f"- {label}: {100 * r:.1f} %" for label, r in zip(report["labels"], recall, strict=True)]
    if report.get("per_corpus"):
        lines += ["", "Per corpus (its test clips over all folds; UAR over the labels it has):", "",
                  "| corpus | clips | UAR % | WA % |", "|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {name} | {c['clips']} | {100 * c['uar']:.1f} | {100 * c['wa']:.1f} |"
                  for name, c in report["per_corpus"].items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def _pyplot():
    """pyplot on the file-only Agg backend, imported on first use (it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: np.ndarray, labels: tuple[str, ...], path: Path, title: str) -> None:
    plt = _pyplot()
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(labels), 0.8 + 0.7 * len(labels)))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black", fontsize=8)  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: recall % (all test folds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(folds: list[dict[str, Any]], path: Path, title: str) -> None:
    plt = _pyplot()
    fig, (loss_ax, uar_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for fold in folds:
        history = fold.get("history", [])
        epochs = [h["epoch"] for h in history]
        loss_ax.plot(epochs, [h["train_loss"] for h in history], label=f"{fold['fold']} train")
        uar_ax.plot(epochs, [h["val_uar"] for h in history], label=fold["fold"])
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    uar_ax.set_xlabel("epoch")
    uar_ax.set_ylabel("validation UAR")
    uar_ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(panels: dict[str, dict[str, tuple[dict[str, list[float]], float]]], path: Path) -> None:
    """Accuracy against confidence, one panel per title, one curve per name: `panels[title][name]`
    is (`training.calibration.reliability`'s bins, ECE)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), sharey=True, squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        for name, (bins, ece) in curves.items():
            rows = zip(bins["confidence"], bins["accuracy"], bins["share"], strict=True)
            points = [(c, a) for c, a, share in rows if share > 0]
            ax.plot(*zip(*points, strict=True), marker="o", label=f"{name} (ECE {ece:.3f})")
        ax.set(title=title, xlabel="confidence (top probability)", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("accuracy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

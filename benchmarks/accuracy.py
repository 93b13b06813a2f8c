"""Speaker-independent accuracy of every model family on both corpora, and the results table.

    python benchmarks/accuracy.py [--families svm cnn ...] [--corpora ravdess emodb] [--table-only]

Each family's config (configs/FAMILY.toml) runs on RAVDESS (six EmoBox folds, 8 classes) and
EmoDB (leave one speaker out, 7 classes) into results/runs/CORPUS-FAMILY/. The soft-voting ensemble
averages its members' test probabilities clip by clip (same folds, same seed), so it needs no
further training. The table goes to results/benchmarks/accuracy.md.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from publish import publish

from emovox.evaluation import load_experiment, run_cv
from emovox.evaluation.ensemble import validated_ensemble
from emovox.training.metrics import classification_report

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "results" / "runs"  # one folder per cross-validation run, CORPUS-FAMILY
FAMILIES = [
    "svm",
    "logreg",
    "svm_compare",
    "logreg_compare",
    "svm110",
    "logreg110",
    "lstm_feat",
    "cnn_lstm",
    "cnn",
    "msse_bilstm",
    "lstm_stream",
    "mlp",
    "mlp_combined",
    "mlp_robust",
    "crnn",
    "crnn_aug",
    "logreg_whisper",
    "layer_head",
    "logreg_speaker",
    "logreg_fused",
    "attentive_head",
]
CORPORA = {
    "ravdess": ["data.corpora=['ravdess']", "data.protocol=ravdess-emobox", "data.n_val_speakers=2"],
    "emodb": ["data.corpora=['emodb']", "data.protocol=loso", "data.n_val_speakers=1"],
}
ENSEMBLE = ["mlp_combined", "mlp", "crnn", "svm"]  # fixed in advance, never chosen on test scores
# candidates of the ensemble whose members each fold chooses on its validation speakers; not
# attentive_head, whose second fit per fold (for the selection half) would take it past 80 minutes
# of RAVDESS on one core
VALIDATED = ["logreg_whisper", "layer_head", "logreg_speaker", "logreg_fused", "mlp", "logreg_compare"]


def run_family(family: str, corpus: str, data_dir: str, resume: bool, speaker_norm: bool = False) -> None:
    name = f"{corpus}-{family}" + ("-spkn" if speaker_norm else "")
    variant = ["data.speaker_norm=true"] if speaker_norm else []
    run(family, name, [*CORPORA[corpus], *variant], data_dir, resume)


def run_random_split(family: str, data_dir: str, resume: bool) -> None:
    """The seed's protocol, stratified 80/20 over clips: speakers in both parts (speaker-dependent)."""
    overrides = [*CORPORA["ravdess"], "data.protocol=random-80-20"]
    run(family, f"ravdess-random-{family}", overrides, data_dir, resume)


def run(family: str, name: str, overrides: list[str], data_dir: str, resume: bool) -> None:
    """Cross-validate configs/FAMILY.toml under `overrides` into results/runs/NAME."""
    overrides = [*overrides, f"data.data_dir={json.dumps(data_dir)}", f"name={name}"]
    experiment = load_experiment(ROOT / "configs" / f"{family}.toml", overrides)
    run_cv(experiment, RUNS / name, resume=resume)


def ensemble(run: str) -> dict | None:
    """Soft voting over the members that have run: mean of their per-clip test probabilities.

    `run` names the runs' prefix: a corpus, or "ravdess-random" for the speaker-dependent split.
    It is computed only when every member's predictions are here (a partial vote would be
    another ensemble). The per-clip predictions are not committed, so the result is kept in
    results/runs/RUN-ensemble.json and read from there when they are absent."""
    saved = RUNS / f"{run}-ensemble.json"
    members = ENSEMBLE
    if not all((RUNS / f"{run}-{m}" / "predictions.jsonl").exists() for m in members):
        return json.loads(saved.read_text()) if saved.exists() else None
    by_member = []
    for m in members:
        lines = (RUNS / f"{run}-{m}" / "predictions.jsonl").read_text().splitlines()
        by_member.append({r["path"]: r for r in map(json.loads, lines)})
    labels = json.loads((RUNS / f"{run}-{members[0]}" / "report.json").read_text())["labels"]
    folds: dict[str, list[tuple[int, np.ndarray]]] = {}
    for path, row in by_member[0].items():
        mean = np.mean([np.array(member[path]["probabilities"]) for member in by_member], axis=0)
        folds.setdefault(row["fold"], []).append((row["label"], mean))
    scores = []
    for items in folds.values():
        y = [label for label, _ in items]
        scores.append(classification_report(y, [int(p.argmax()) for _, p in items], labels))
    result = {"members": members, "uar": [s["uar"] for s in scores], "wa": [s["wa"] for s in scores]}
    saved.write_text(json.dumps(result, indent=1))
    return result


def validated(corpus: str) -> dict | None:
    """The ensemble chosen on validation inside each fold (see emovox.evaluation.ensemble),
    recomputed when every candidate's predictions are here, else read from its saved result."""
    saved = RUNS / f"{corpus}-ensemble-validated.json"
    runs = {m: RUNS / f"{corpus}-{m}" for m in VALIDATED}
    if not all((run / "val_predictions.jsonl").exists() for run in runs.values()):
        return json.loads(saved.read_text()) if saved.exists() else None
    labels = json.loads((runs[VALIDATED[0]] / "report.json").read_text())["labels"]
    result = validated_ensemble(runs, labels)
    saved.write_text(json.dumps(result, indent=1))
    return result


def validated_row() -> list[str]:
    cells, chosen = [], []
    for corpus in CORPORA:
        result = validated(corpus)
        if result is None:
            cells += ["not run", "", ""]
            continue
        for metric in ("uar", "wa"):
            cells.append(f"{100 * np.mean(result[metric]):.1f} ± {100 * np.std(result[metric]):.1f}")
        cells.append("0 (members')")
        counts = Counter(m for fold in result["folds"] for m in fold["members"])
        chosen.append(
            f"{corpus}: " + ", ".join(f"{m} {n}/{len(result['folds'])}" for m, n in counts.most_common())
        )
    if not chosen:
        return []
    return [f"| ensemble chosen on validation | {' + '.join(VALIDATED)} | " + " | ".join(cells) + " |",
            "", "Members chosen per fold (in how many folds): " + "; ".join(chosen) + "."]  # fmt: skip


HEADER = [
    "| model | features | RAVDESS UAR % | RAVDESS WA % | RAVDESS min* "
    "| EmoDB UAR % | EmoDB WA % | EmoDB min* |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]


def machines() -> dict[str, str]:
    """Each machine a committed report ran on, with a letter for the table's minutes column."""
    seen = sorted({json.loads(p.read_text()).get("machine", "?") for p in RUNS.glob("*/report.json")})
    return {machine: "abcdefgh"[i] for i, machine in enumerate(seen)}


def minutes(report: dict, letters: dict[str, str]) -> str:
    """The run's minutes and machine letter; a resumed run's full time was not measured."""
    letter = letters[report.get("machine", "?")]
    return f"resumed ({letter})" if report.get("resumed") else f"{report['seconds'] / 60:.1f} ({letter})"


def family_rows(suffix: str = "") -> list[str]:
    lines = []
    letters = machines()
    for family in FAMILIES:
        cells, features = [], ""
        if not any((RUNS / f"{c}-{family}{suffix}").exists() for c in CORPORA) and suffix:
            continue
        for corpus in CORPORA:
            path = RUNS / f"{corpus}-{family}{suffix}" / "report.json"
            if not path.exists():
                cells += ["not run", "", ""]
                continue
            r = json.loads(path.read_text())
            features = r["features"]
            cells += [
                f"{100 * r['uar_mean']:.1f} ± {100 * r['uar_std']:.1f}",
                f"{100 * r['wa_mean']:.1f} ± {100 * r['wa_std']:.1f}",
                minutes(r, letters),
            ]
        lines.append(f"| {family} | {features} | " + " | ".join(cells) + " |")
    return lines


def speaker_dependent_rows() -> list[str]:
    """The seed's random split (one fold): each family that ran on it, and their soft vote."""
    rows = []
    letters = machines()
    for family in FAMILIES:
        path = RUNS / f"ravdess-random-{family}" / "report.json"
        if path.exists():
            r = json.loads(path.read_text())
            wa, uar = 100 * r["wa_mean"], 100 * r["uar_mean"]
            cells = [family, r["features"], f"{wa:.1f}", f"{uar:.1f}", minutes(r, letters)]
            rows.append("| " + " | ".join(cells) + " |")
    result = ensemble("ravdess-random")
    if result is not None:
        wa, uar = 100 * np.mean(result["wa"]), 100 * np.mean(result["uar"])
        members = "+".join(result["members"])
        rows.append(f"| ensemble (soft vote) | {members} | {wa:.1f} | {uar:.1f} | 0 (members') |")
    if not rows:
        return []
    return [
        "",
        "Speaker-dependent, the seed's stratified random 80/20 split of RAVDESS clips (every actor "
        "on both sides; one split, seed 0; not comparable to the tables above):",
        "",
        "| model | features | accuracy (WA) % | UAR % | min* |",
        "|---|---|---:|---:|---:|",
        *rows,
    ]


def table() -> str:
    lines = [*(f"Machine ({letter}): {machine}" for machine, letter in machines().items()), "", *HEADER,
             *family_rows()]  # fmt: skip
    cells = []
    members: dict[str, str] = {}
    for corpus in CORPORA:
        result = ensemble(corpus)
        if result is None:
            cells += ["not run", "", ""]
            continue
        members[corpus] = "+".join(result["members"])
        cells += [
            f"{100 * np.mean(result['uar']):.1f} ± {100 * np.std(result['uar']):.1f}",
            f"{100 * np.mean(result['wa']):.1f} ± {100 * np.std(result['wa']):.1f}",
            "0 (members')",
        ]
    if len(set(members.values())) > 1:
        names = "; ".join(f"{corpus}: {m}" for corpus, m in members.items())
    else:
        names = next(iter(members.values()), "")
    lines.append(f"| ensemble (soft vote) | {names} | " + " | ".join(cells) + " |")
    lines += validated_row()
    normalised = family_rows("-spkn")
    if normalised:
        lines += [
            "",
            "Variant, reported apart: features standardised per speaker with statistics of that "
            "speaker's own unlabelled audio, test speakers included (speaker-independent in labels, "
            "not in audio):",
            "",
            *HEADER,
            *normalised,
        ]
    lines += speaker_dependent_rows()
    lines += [
        "",
        "Mean ± std over folds. *Minutes for the whole run, feature extraction included unless "
        "it was cached, on the machine of its letter, while other jobs shared it (resumed: the run "
        "was interrupted and finished from its checkpoints, so its whole time was not measured). "
        "RAVDESS: 8 classes, "
        "six EmoBox speaker-independent folds (4 test actors; neural models stop early on 2 "
        "validation actors). EmoDB: 7 classes, leave one speaker out (1 validation speaker). "
        "svm/logreg choose C by speaker-grouped 5-fold CV inside the training speakers. "
        "The fixed ensemble's members were set in advance; the ensemble chosen on validation picks "
        "its members in each fold by forward selection on the soft vote's UAR over the second half "
        "of that fold's validation speakers (RAVDESS: one actor; EmoDB: half the speaker's clips), "
        "each candidate refitted for this without them (a network early-stopped on the first half), "
        "and is scored once on the fold's test speakers.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=FAMILIES, choices=FAMILIES)
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from results/")
    parser.add_argument(
        "--speaker-norm", nargs="*", default=[], choices=FAMILIES,
        help="also run these families with per-speaker normalisation (a variant reported apart)",
    )  # fmt: skip
    parser.add_argument(
        "--random-split", nargs="*", default=[], choices=FAMILIES,
        help="also run these families on the seed's speaker-dependent random split",
    )  # fmt: skip
    parser.add_argument(
        "--resume", action="store_true", help="continue interrupted runs from their checkpoints"
    )
    args = parser.parse_args()
    if not args.table_only:
        for family in args.families:
            for corpus in args.corpora:
                run_family(family, corpus, args.data, args.resume)
        for family in args.speaker_norm:
            for corpus in args.corpora:
                run_family(family, corpus, args.data, args.resume, speaker_norm=True)
        for family in args.random_split:
            run_random_split(family, args.data, args.resume)
    text = table()
    publish(text, ROOT / "results" / "benchmarks" / "accuracy.md", __file__)


if __name__ == "__main__":
    main()

"""Leave one corpus out: how far a model travels to speakers, a language, rooms and microphones
it never saw, with and without adaptation to the test audio.

    python benchmarks/cross_corpus.py [--families mlp logreg ...] [--out results/benchmarks/cross_corpus.md]

Each family (configs/FAMILY.toml) trains on all of one corpus over the six labels RAVDESS and
EmoDB share (neutral, happy, sad, angry, fearful, disgust; validation speakers from the training
corpus only) and is tested on every clip of the other corpus with those labels:

- per file: each clip on its own (the headline);
- adapted per speaker: each test speaker's clips normalise themselves (`--adapt` on a batch of
  one speaker's recordings, emotions mixed);
- adapted per corpus: all test clips as one recording set-up.

Adaptation applies to utterance-level features only (see emovox.inference.adaptation).

`--six` runs the leave-one-corpus-out protocol over all six corpora instead: each family trains
on five (`data.labels = shared`, keeping the shared labels at least two of the five have: a
label only one corpus has would be learned as "sounds like that corpus"; 8 validation speakers
drawn across the five) and is tested on every clip of the sixth whose label it knows, its
decision taken among the labels that corpus has. Per file is the headline, the mean over the six
held-out corpora the figure; beside it, the share of the most frequent predicted label over the
held-out clips weighted to balance their labels (a model that collapses onto one answer shows
itself there).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from publish import publish

from emovox.corpora import SHARED_LABELS, SHARED_MAPPING, read_corpus, to_shared
from emovox.evaluation import load_experiment
from emovox.features import extract
from emovox.inference import EmotionPredictor
from emovox.inference.adaptation import Adaptation
from emovox.machine import describe_machine
from emovox.recipes.train import train_and_save
from emovox.training.metrics import classification_report

ROOT = Path(__file__).resolve().parents[1]
COMMON = ("neutral", "happy", "sad", "angry", "fearful", "disgust")
FAMILIES = [
    "logreg",
    "logreg_compare",
    "mlp",
    "mlp110",
    "mlp_robust",
    "mlp_combined",
    "crnn",
    "logreg_whisper",
    "layer_head",
    "logreg_speaker",
    "logreg_fused",
]
DIRECTIONS = [("ravdess", "emodb"), ("emodb", "ravdess")]
SIX = ("ravdess", "emodb", "ased", "nemo", "emovo", "kor")
VAL_SPEAKERS = {"ravdess": 2, "emodb": 1}


def scores(predictor: EmotionPredictor, features: list[dict], y: np.ndarray, adaptation=None) -> dict:
    predicted = [int(predictor.classify(f, adaptation).argmax()) for f in features]
    return classification_report(y, predicted, predictor.labels)


def train_family(family: str, corpora: list[str], labels: list[str], val_speakers: int, name: str,
                 data: Path, work: Path) -> tuple[EmotionPredictor, float]:  # fmt: skip
    """configs/FAMILY.toml trained on all of `corpora` over the shared `labels`; (predictor, minutes)."""
    overrides = [
        f"data.corpora={json.dumps(corpora)}",
        "data.labels=shared",
        f"data.only_labels={json.dumps(labels)}",
        f"data.data_dir={json.dumps(str(data))}",
        f"data.n_val_speakers={val_speakers}",
        f"name={name}",
    ]
    experiment = load_experiment(ROOT / "configs" / f"{family}.toml", overrides)
    start = time.perf_counter()
    artifact = train_and_save(experiment, work / name, progress=False)
    return EmotionPredictor(artifact), (time.perf_counter() - start) / 60


def held_out_features(predictor: EmotionPredictor, corpus: str, labels: list[str], data: Path) -> tuple:
    """The test corpus over `labels` and its features for the predictor's members: (manifest, tables)."""
    manifest = to_shared(read_corpus(corpus, data / corpus), tuple(labels))
    tables = extract(
        manifest, [m.extractor for m in predictor.members], audio=predictor.audio, progress=False
    )
    return manifest, tables


def run(family: str, train: str, test: str, data: Path, work: Path) -> dict:
    name = f"{train}-to-{test}-{family}"
    predictor, minutes = train_family(family, [train], list(COMMON), VAL_SPEAKERS[train], name, data, work)
    manifest, tables = held_out_features(predictor, test, list(COMMON), data)
    features = [{name: table[i] for name, table in tables.items()} for i in range(len(manifest))]
    y = np.array([predictor.labels.index(u.label) for u in manifest])
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for i, u in enumerate(manifest):
        by_speaker[u.speaker_id].append(i)
    per_speaker_pred = np.zeros(len(y), dtype=int)
    for clips in by_speaker.values():
        adaptation = Adaptation()
        for i in clips:
            adaptation.add(features[i])
        for i in clips:
            per_speaker_pred[i] = int(predictor.classify(features[i], adaptation).argmax())
    corpus_adaptation = Adaptation()
    for f in features:
        corpus_adaptation.add(f)
    adaptable = predictor.adaptable
    return {
        "family": family,
        "features": "+".join(m.extractor.name for m in predictor.members),
        "train": train,
        "test": test,
        "clips": len(y),
        "train_minutes": round(minutes, 1),
        "machine": describe_machine(),
        "per_file": scores(predictor, features, y),
        "adapted_speaker": classification_report(y, per_speaker_pred, predictor.labels)
        if adaptable
        else None,
        "adapted_corpus": scores(predictor, features, y, corpus_adaptation) if adaptable else None,
    }


def training_labels(corpora: list[str]) -> list[str]:
    """The shared labels at least two of `corpora` have."""
    counts = Counter(label for corpus in corpora for label in set(SHARED_MAPPING[corpus].values()))
    return [label for label in SHARED_LABELS if counts[label] >= 2]


def most_predicted(y: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """The most frequent predicted label and its share, each true label counting the same (a
    collapsed model shows itself here)."""
    weights = 1 / np.bincount(y)[y]
    shares = np.bincount(predicted, weights=weights, minlength=len(labels)) / weights.sum()
    return {"top_share": float(shares.max()), "top_label": labels[int(shares.argmax())]}


def run_held_out(family: str, held_out: str, data: Path, work: Path) -> dict:
    train = [c for c in SIX if c != held_out]
    labels = training_labels(train)
    name = f"without-{held_out}-{family}"
    predictor, minutes = train_family(family, train, labels, 8, name, data, work)
    manifest, tables = held_out_features(predictor, held_out, labels, data)
    known = [predictor.labels.index(label) for label in manifest.label_order]  # the corpus's labels
    y = np.array(manifest.label_indices())
    probabilities = [predictor.classify({n: t[i] for n, t in tables.items()}) for i in range(len(manifest))]
    predicted = np.array([int(np.argmax(p[known])) for p in probabilities])
    return {
        "family": family,
        "features": "+".join(m.extractor.name for m in predictor.members),
        "held_out": held_out,
        "labels": list(manifest.label_order),
        "clips": len(y),
        "train_minutes": round(minutes, 1),
        "machine": describe_machine(),
        "per_file": classification_report(y, predicted, manifest.label_order),
        **most_predicted(y, predicted, list(manifest.label_order)),
    }


def six_table(results: list[dict]) -> list[str]:
    rows = [r for r in results if "held_out" in r]
    if not rows:
        return []
    lines = [
        "",
        "Leave one corpus out over six corpora: train on five, test every clip of the sixth whose "
        "label the model knows, deciding among that corpus's labels.",
        "",
        "| model | held-out corpus | labels | clips | UAR % per file | WA % per file "
        "| most frequent prediction (label-balanced share) | train min |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    letters = machine_letters(results)
    for family in dict.fromkeys(r["family"] for r in rows):
        mine = [r for r in rows if r["family"] == family]
        for r in mine:
            lines.append(
                f"| {family} | {r['held_out']} | {len(r['labels'])} | {r['clips']} "
                f"| {100 * r['per_file']['uar']:.1f} | {100 * r['per_file']['wa']:.1f} "
                f"| {r['top_label']} {100 * r['top_share']:.0f} % "
                f"| {r['train_minutes']} ({letters[r['machine']]}) |"
            )
        if len(mine) == len(SIX):
            uars = [100 * r["per_file"]["uar"] for r in mine]
            worst = max(mine, key=lambda r: r["top_share"])
            lines.append(f"| **{family}: mean of six** | | | | **{np.mean(uars):.1f}** | | "
                         f"largest: {worst['held_out']} {100 * worst['top_share']:.0f} % | |")  # fmt: skip
    return lines


def machine_letters(results: list[dict]) -> dict[str, str]:
    return {machine: "abcdefgh"[i] for i, machine in enumerate(sorted({r["machine"] for r in results}))}


def percent(report: dict | None) -> str:
    return f"{100 * report['uar']:.1f}" if report else "- (frame features)"


def table(results: list[dict]) -> str:
    letters = machine_letters(results)
    lines = [
        *(f"Machine ({letter}): {machine}" for machine, letter in letters.items()),
        "",
        "Train on one corpus, test on every clip of the other; the six shared labels (chance: 16.7 % UAR).",
        "",
        "| model | features | train -> test | clips | UAR % per file | WA % per file "
        "| UAR % adapted per speaker | UAR % adapted per corpus | train min |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (r for r in results if "held_out" not in r):
        lines.append(
            f"| {r['family']} | {r['features']} | {r['train']} -> {r['test']} | {r['clips']} "
            f"| {100 * r['per_file']['uar']:.1f} | {100 * r['per_file']['wa']:.1f} "
            f"| {percent(r['adapted_speaker'])} | {percent(r['adapted_corpus'])} "
            f"| {r['train_minutes']} ({letters[r['machine']]}) |"
        )
    return "\n".join(lines + six_table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=FAMILIES)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "cross_corpus.md")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from the JSON")
    parser.add_argument("--six", action="store_true", help="leave one of six corpora out (see above)")
    args = parser.parse_args()
    results_path = args.out.with_suffix(".json")
    done = json.loads(results_path.read_text()) if results_path.exists() else []
    rerun = {(family, args.six) for family in args.families}
    keep = [r for r in done if args.table_only or (r["family"], "held_out" in r) not in rerun]
    with tempfile.TemporaryDirectory() as tmp:
        for family in [] if args.table_only else args.families:
            for train, test in [(None, c) for c in SIX] if args.six else DIRECTIONS:
                if train is None:
                    result = run_held_out(family, test, args.data, Path(tmp))
                else:
                    result = run(family, train, test, args.data, Path(tmp))
                keep.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "per_file"}), flush=True)
    order = {f: i for i, f in enumerate(FAMILIES)}
    keep.sort(
        key=lambda r: (
            "held_out" in r,
            order.get(r["family"], 99),
            SIX.index(r.get("held_out", r.get("train"))),
        )
    )
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(keep, indent=1))
    text = table(keep)
    publish(text, args.out, __file__)


if __name__ == "__main__":
    main()

"""Leave one of seven corpora out: how the bundled recipe and its candidate changes travel.

    python benchmarks/seven_corpora.py [--held-out turev ...] [--recipes bundled crops] [--table-only]

The seven corpora are the six of benchmarks/multicorpus.py and TurEV-DB (isolated Turkish words,
about 1 s each). TurEV's calm is taken as neutral: TurEV has no neutral, and its calm words are
spoken flat and low (what the other corpora call neutral); RAVDESS's calm stays out, as in the
bundled model, because RAVDESS has a neutral of its own that its calm nearly duplicates.

For each held-out corpus, logistic regression on whisper+speaker trains on the other six over
the bundled model's labels that at least two of them have (corpus- and class-balanced weights,
C chosen and the temperature fitted leaving one training corpus out: validation only). Recipes:

- `bundled`: the bundled model's settings (one channel-augmented copy of every training clip);
- `crops`: the same plus one copy of every training clip cut to a random 0.5-2 s stretch, also
  channel-augmented (`RandomCrop`): short utterances in training.

Each held-out clip is scored per file, whole and cut to its first second of speech (from 100 ms
before the first frame the voice-activity detector hears as speech, as
benchmarks/short_utterances.py), without adaptation and adapted per speaker (unlabelled: each
speaker's clips normalised with their own statistics, as `--adapt` does) and adapted as one
set-up (all of the corpus's clips together, as `batch --adapt-by all`). Per held-out corpus:
UAR among its own labels, the label-balanced share of the most frequent prediction (collapse)
and the expected calibration error (10 bins) after the temperature.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cross_corpus import SIX, most_predicted
from multicorpus import CHANNEL, FEATURES, per_speaker
from publish import publish
from short_utterances import speech_start

from emovox.augment import AugmentedCopy, WaveformAugment
from emovox.corpora import Manifest, read_corpus, to_shared
from emovox.features import extract
from emovox.machine import describe_machine
from emovox.models.classical import among_present, fit_classical
from emovox.training.calibration import expected_calibration_error, with_temperature
from emovox.training.metrics import classification_report
from emovox.training.scaler import Standardizer

ROOT = Path(__file__).resolve().parents[1]
SEVEN = (*SIX, "turev")
BUNDLED_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
CROPS = WaveformAugment(copies=1, crop_copies=1, min_crop_seconds=0.5, max_crop_seconds=2.0, gain_p=0.5,
                        noise_p=0.5, reverb_p=0.5, filter_p=0.7)  # fmt: skip
RECIPES = {"bundled": (CHANNEL,), "crops": (CHANNEL, CROPS)}


@dataclass(frozen=True)
class FirstSpeech:
    """A clip cut to its first `seconds` of speech (a feature-cache variant)."""

    seconds: float

    @property
    def key(self) -> str:
        return f"first-speech-{self.seconds:g}s"

    def __call__(self, signal: np.ndarray, path: str, sample_rate: int) -> np.ndarray:
        start = speech_start(signal)
        return signal[start : start + round(self.seconds * sample_rate)]


def shared_manifest(corpus: str, data: Path) -> Manifest:
    """The corpus over the bundled labels, TurEV's calm as neutral."""
    return to_shared(read_corpus(corpus, data / corpus), BUNDLED_LABELS, {"turev/calm": "neutral"})


def load(data: Path, jobs: int) -> dict[str, dict]:
    """Per corpus: its manifest and features of the clean clips, of each augmented copy, and of
    the clips' first second of speech (all from the feature cache, computed on first use)."""
    variants = {"clean": None, "first_second": FirstSpeech(1.0)}
    variants |= {f"copy-{augment.chain().key}": AugmentedCopy(augment.chain(), 0, seed=0)
                 for augment in (CHANNEL, CROPS)}  # fmt: skip
    out = {}
    for corpus in SEVEN:
        manifest = shared_manifest(corpus, data)
        out[corpus] = {"manifest": manifest}
        for name, variant in variants.items():
            table = extract(manifest, [FEATURES], jobs=jobs, progress=variant is not None, variant=variant)
            out[corpus][name] = table[FEATURES].values
    return out


def rows_for(corpora: list[str], loaded: dict, labels: list[str], part: str) -> tuple[np.ndarray, ...]:
    """(x, y over `labels`, speakers, corpus) of `part` of the clips of `corpora` in `labels`."""
    xs, ys, speakers, names = [], [], [], []
    for corpus in corpora:
        manifest = loaded[corpus]["manifest"]
        keep = [i for i, u in enumerate(manifest) if u.label in labels]
        xs.append(loaded[corpus][part][keep])
        ys += [labels.index(manifest[i].label) for i in keep]
        speakers += [manifest[i].speaker_id for i in keep]
        names += [corpus] * len(keep)
    return np.concatenate(xs), np.array(ys), np.array(speakers), np.array(names)


def training_labels(train: list[str], loaded: dict) -> list[str]:
    """The bundled labels that at least two training corpora have."""
    have = [set(loaded[c]["manifest"].label_order) for c in train]
    return [label for label in BUNDLED_LABELS if sum(label in h for h in have) >= 2]


def scores(probabilities: np.ndarray, y: np.ndarray, labels: list[str], temperature: float) -> dict:
    raw = among_present(probabilities, y)
    predicted = raw.argmax(axis=1)
    return {
        "uar": classification_report(y, predicted, labels)["uar"],
        **most_predicted(y, predicted, labels),
        "ece": expected_calibration_error(with_temperature(raw, temperature), y),
    }


def run(held_out: str, recipe: str, loaded: dict) -> dict:
    start = time.perf_counter()
    train = [c for c in SEVEN if c != held_out]
    labels = training_labels(train, loaded)
    x, y, speakers, corpora = rows_for(train, loaded, labels, "clean")
    copies = [
        rows_for(train, loaded, labels, f"copy-{augment.chain().key}")[0] for augment in RECIPES[recipe]
    ]
    scaler = Standardizer.fit(x)  # the training corpora's clean clips only
    extra = (scaler(np.concatenate(copies)), np.tile(y, len(copies)), np.tile(speakers, len(copies)))
    result = fit_classical("logreg", scaler(x), y, speakers, corpora=corpora, balance="corpus_class",
                           by_corpus=True, extra=extra)  # fmt: skip
    model, temperature = result.model, result.temperature
    tx, ty, test_speakers, _ = rows_for([held_out], loaded, labels, "clean")
    first = rows_for([held_out], loaded, labels, "first_second")[0]
    out = {
        "held_out": held_out,
        "recipe": recipe,
        "clips": len(ty),
        "labels": [labels[k] for k in sorted(set(ty.tolist()))],
        "validation_uar": max(result.cv_uar_by_c.values()),
        "chosen_c": result.chosen_c,
        "temperature": temperature,
        "whole": scores(model.predict_proba(scaler(tx)), ty, labels, temperature),
        "first_second": scores(model.predict_proba(scaler(first)), ty, labels, temperature),
        "adapted": scores(
            model.predict_proba(scaler(per_speaker(tx, test_speakers, scaler))), ty, labels, temperature
        ),
        "adapted_all": scores(
            model.predict_proba(scaler(per_speaker(tx, np.zeros(len(tx)), scaler))), ty, labels, temperature
        ),
        "minutes": round((time.perf_counter() - start) / 60, 1),
        "machine": describe_machine(),
    }
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}), flush=True)
    return out


def top(scored: dict) -> str:
    return f"{scored['top_label']} {100 * scored['top_share']:.0f} %"


def table(results: list[dict]) -> str:
    lines = [*(f"Machine: {m}" for m in sorted({r["machine"] for r in results})), "",
             "Leave one of seven corpora out, per file (see the script). UAR % whole / first second of "
             "speech / adapted per speaker; most frequent prediction's label-balanced share; ECE after "
             "the temperature.", ""]  # fmt: skip
    for recipe in RECIPES:
        mine = sorted((r for r in results if r["recipe"] == recipe), key=lambda r: SEVEN.index(r["held_out"]))
        if not mine:
            continue
        lines += [f"**{recipe}**", "",
                  "| held out | clips | validation | whole | 1 s | adapted | top share | top share adapted "
                  "| ECE | ECE adapted |", "|---|---:|---:|---:|---:|---:|---|---|---:|---:|"]  # fmt: skip
        for r in mine:
            w, f, a = r["whole"], r["first_second"], r["adapted"]
            lines.append(
                f"| {r['held_out']} | {r['clips']} | {100 * r['validation_uar']:.1f} | {100 * w['uar']:.1f} "
                f"| {100 * f['uar']:.1f} | {100 * a['uar']:.1f} | {top(w)} | {top(a)} "
                f"| {w['ece']:.3f} | {a['ece']:.3f} |"
            )
        if len(mine) == len(SEVEN):
            mean = {
                k: 100 * np.mean([r[k]["uar"] for r in mine]) for k in ("whole", "first_second", "adapted")
            }
            share = {k: 100 * max(r[k]["top_share"] for r in mine) for k in ("whole", "adapted")}
            ece = {k: max(r[k]["ece"] for r in mine) for k in ("whole", "adapted")}
            lines.append(
                f"| **mean of seven** | | | **{mean['whole']:.1f}** | **{mean['first_second']:.1f}** "
                f"| **{mean['adapted']:.1f}** | largest {share['whole']:.0f} % "
                f"| largest {share['adapted']:.0f} % | largest {ece['whole']:.3f} "
                f"| largest {ece['adapted']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=list(SEVEN), choices=SEVEN)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2, help="feature extraction processes")
    parser.add_argument("--features-only", action="store_true", help="fill the feature cache and stop")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "seven_corpora.md")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from the JSON")
    args = parser.parse_args()
    results_path = args.out.with_suffix(".json")
    if not args.table_only:
        loaded = load(args.data, args.jobs)
        if args.features_only:
            return
        for held_out in args.held_out:
            for recipe in args.recipes:
                result = run(held_out, recipe, loaded)
                # another run's results too
                done = json.loads(results_path.read_text()) if results_path.exists() else []
                done = [r for r in done if (r["held_out"], r["recipe"]) != (held_out, recipe)] + [result]
                results_path.write_text(json.dumps(done, indent=1) + "\n")
    publish(table(json.loads(results_path.read_text())), args.out, __file__)


if __name__ == "__main__":
    main()

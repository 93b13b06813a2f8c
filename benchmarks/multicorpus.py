"""Multi-corpus training choices, each chosen on validation corpora, never on the held-out one.

    python benchmarks/multicorpus.py [--held-out ravdess emodb ...] [--table-only]

Leave one of the six corpora out (as `cross_corpus.py --six`): logistic regression on both
backbones' pooled layers (whisper+speaker) trains on the other five over the shared labels at
least two of them have. Candidate settings:

- balance: "class" (balanced class weights) or "corpus_class" (each class weighs the same and,
  inside a class, each corpus that has it: a large corpus does not drown a small one);
- per-utterance normalisation: none, or each block of a clip's features (one layer's mean or
  std vector) standardised within the clip (removes a clip's overall level and offset);
- channel augmentation (with corpus_class balance): one augmented copy of every training clip
  joins it, imitating other rooms and microphones (gain, noise, reverberation, microphone
  colouring: `CHANNEL` below, as a model's `[waveform]` section would give it).

For each held-out corpus every setting is fitted with C chosen by leaving one of the five
training corpora out at a time (`data.choose_c_by = "corpus"`); the best inner leave-one-corpus-
out UAR (validation, inside the five) picks the setting, and the held-out corpus is scored once
with it. The table also shows every setting's held-out score, for the record: those never choose
anything. Calibration: the temperature is fitted on the chosen setting's inner held-out
predictions (other corpora than the test one); the expected calibration error (ECE, 10 bins) on
the held-out corpus is reported before and after it, and a reliability diagram is drawn.
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import pairwise, product
from pathlib import Path

import numpy as np
from cross_corpus import SIX, most_predicted, training_labels
from publish import publish

from emovox.augment import AugmentedCopy, WaveformAugment
from emovox.corpora import read_corpus, to_shared
from emovox.evaluation.report import plot_reliability
from emovox.features import Level, extract, get_extractor
from emovox.inference.adaptation import Adaptation
from emovox.machine import describe_machine
from emovox.models.classical import among_present, fit_classical
from emovox.training.calibration import (
    UNCERTAIN_BELOW,
    expected_calibration_error,
    reliability,
    with_temperature,
)
from emovox.training.metrics import classification_report
from emovox.training.scaler import Standardizer

ROOT = Path(__file__).resolve().parents[1]
FEATURES = "whisper+speaker"  # both encoders' pooled layers side by side
SETTINGS = [
    *({"balance": balance, "utterance_norm": norm, "augment": False}
      for balance, norm in product(("class", "corpus_class"), (False, True))),
    *({"balance": "corpus_class", "utterance_norm": norm, "augment": True} for norm in (False, True)),
]  # fmt: skip
CHANNEL = WaveformAugment(copies=1, gain_p=0.5, noise_p=0.5, reverb_p=0.5, filter_p=0.7)


def feature_blocks(names: tuple[str, ...]) -> np.ndarray:
    """A block number per feature: consecutive features of one layer's mean (or std) vector."""
    stems = [name.rsplit("_", 1)[0] for name in names]
    return np.cumsum([0] + [a != b for a, b in pairwise(stems)])


def normalise_blocks(x: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Each clip's block standardised within the clip."""
    out = np.empty_like(x)
    for b in np.unique(blocks):
        part = x[:, blocks == b]
        out[:, blocks == b] = (part - part.mean(1, keepdims=True)) / (part.std(1, keepdims=True) + 1e-6)
    return out


def load(data: Path, augmented: bool = False) -> dict[str, tuple]:
    """Each corpus's (manifest over the shared labels, features) from the feature cache; with
    `augmented`, the features of each clip's channel-augmented copy instead."""
    variant = AugmentedCopy(CHANNEL.chain(), 0, seed=0) if augmented else None
    out = {}
    for corpus in SIX:
        manifest = to_shared(read_corpus(corpus, data / corpus))
        table = extract(manifest, [FEATURES], progress=augmented, variant=variant)[FEATURES]
        out[corpus] = (manifest, table.values)
    return out


def rows_for(corpora: list[str], loaded: dict, labels: list[str]) -> tuple[np.ndarray, ...]:
    """(x, y over `labels`, speakers, corpus) of the clips of `corpora` whose label is in `labels`."""
    xs, ys, speakers, names = [], [], [], []
    for corpus in corpora:
        manifest, x = loaded[corpus]
        keep = [i for i, u in enumerate(manifest) if u.label in labels]
        xs.append(x[keep])
        ys += [labels.index(manifest[i].label) for i in keep]
        speakers += [manifest[i].speaker_id for i in keep]
        names += [corpus] * len(keep)
    return np.concatenate(xs), np.array(ys), np.array(speakers), np.array(names)


def same(a: dict, b: dict) -> bool:
    return all(a.get(key, False) == b.get(key, False) for key in ("balance", "utterance_norm", "augment"))


def per_speaker(x: np.ndarray, speakers: np.ndarray, scaler: Standardizer) -> np.ndarray:
    """Each test speaker's clips adapted to their own statistics, as `--adapt` does (see
    emovox.inference.adaptation): unlabelled, emotions mixed."""
    out = np.empty_like(x)
    for speaker in np.unique(speakers):
        mine = speakers == speaker
        adaptation = Adaptation()
        adaptation.add({"clips": x[mine]})
        out[mine] = adaptation.transform("clips", Level.UTTERANCE, scaler, x[mine])
    return out


def run_held_out(held_out: str, loaded: dict, augmented: dict, before: dict | None) -> dict:
    """Every setting's run with `held_out` left out (those in `before` are kept as they are)."""
    train = [c for c in SIX if c != held_out]
    labels = training_labels(train)
    blocks = feature_blocks(get_extractor(FEATURES).feature_names)
    x, y, speakers, corpora = rows_for(train, loaded, labels)
    tx, ty, test_speakers, _ = rows_for([held_out], loaded, labels)
    known = sorted(set(ty.tolist()))
    settings = []
    for setting in SETTINGS:
        kept = [s for s in (before or {}).get("settings", []) if same(s, setting) and "adapted" in s]
        if kept:
            settings.append({**kept[0], **setting})
            continue
        start = time.perf_counter()
        fx, ftx = x, tx
        ax = rows_for(train, augmented, labels)[0] if setting["augment"] else x[:0]
        if setting["utterance_norm"]:
            fx, ftx, ax = (normalise_blocks(v, blocks) for v in (x, tx, ax))
        scaler = Standardizer.fit(fx)  # the five training corpora's clean clips only
        extra = (scaler(ax), y, speakers) if setting["augment"] else None
        result = fit_classical("logreg", scaler(fx), y, speakers, corpora=corpora, balance=setting["balance"],
                               by_corpus=True, extra=extra)  # fmt: skip
        raw = among_present(result.model.predict_proba(scaler(ftx)), ty)
        adapted_x = scaler(per_speaker(ftx, test_speakers, scaler))
        adapted = among_present(result.model.predict_proba(adapted_x), ty)
        calibrated = with_temperature(raw, result.temperature)
        predicted = raw.argmax(axis=1)
        settings.append({
            **setting,
            "validation_uar": max(result.cv_uar_by_c.values()),
            "chosen_c": result.chosen_c,
            "temperature": result.temperature,
            "validation_ece": result.calibration,
            "held_out": classification_report(ty, predicted, labels),
            "adapted": classification_report(ty, adapted.argmax(axis=1), labels),
            **most_predicted(ty, predicted, labels),
            "ece_raw": expected_calibration_error(raw, ty),
            "ece": expected_calibration_error(calibrated, ty),
            "reliability_raw": reliability(raw, ty),
            "reliability": reliability(calibrated, ty),
            "minutes": round((time.perf_counter() - start) / 60, 1),
        })  # fmt: skip
        print(held_out, setting, f"validation {settings[-1]['validation_uar']:.3f}",
              f"held-out {settings[-1]['held_out']['uar']:.3f}", flush=True)  # fmt: skip
    chosen = max(range(len(settings)), key=lambda i: settings[i]["validation_uar"])
    return {"held_out": held_out, "labels": [labels[k] for k in known], "clips": len(ty), "chosen": chosen,
            "settings": settings, "machine": describe_machine()}  # fmt: skip


def flagged(setting: dict, below: float = UNCERTAIN_BELOW) -> tuple[float, float, float]:
    """From the calibrated reliability bins: the share of clips flagged `uncertain`, and the
    accuracy of the clips not flagged and of those flagged."""
    bins = setting["reliability"]
    together = zip(bins["lower"], bins["share"], bins["accuracy"], strict=True)
    rows = [(lo, share, acc) for lo, share, acc in together if share > 0]
    low = [(s, a) for lo, s, a in rows if lo < below]
    high = [(s, a) for lo, s, a in rows if lo >= below]
    share_low = sum(s for s, _ in low)

    def accuracy(part: list[tuple[float, float]]) -> float:
        total = sum(s for s, _ in part)
        return sum(s * a for s, a in part) / total if total else float("nan")

    return share_low, accuracy(high), accuracy(low)


def name(setting: dict) -> str:
    norm = " + utterance norm" if setting["utterance_norm"] else ""
    return f"{setting['balance']}{norm}{' + channel augmentation' if setting.get('augment') else ''}"


def table(results: list[dict]) -> str:
    results = sorted(results, key=lambda r: SIX.index(r["held_out"]))
    machines = sorted({r["machine"] for r in results})
    lines = [
        *(f"Machine: {m}" for m in machines),
        "",
        f"Logistic regression on {FEATURES}, trained on five corpora, "
        "tested per file on the sixth; "
        "C and the setting chosen by leaving one of the five out (validation).",
        "",
        "| held-out corpus | chosen setting (validation UAR %) | C | UAR % per file | WA % "
        "| most frequent prediction | temperature | ECE raw | ECE calibrated | flagged uncertain "
        "| accuracy: not flagged / flagged | UAR % adapted per speaker |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    chosen = []
    for r in results:
        s = r["settings"][r["chosen"]]
        chosen.append(s)
        lines.append(
            f"| {r['held_out']} | {name(s)} ({100 * s['validation_uar']:.1f}) | {s['chosen_c']:g} "
            f"| {100 * s['held_out']['uar']:.1f} | {100 * s['held_out']['wa']:.1f} "
            f"| {s['top_label']} {100 * s['top_share']:.0f} % | {s['temperature']:.2f} "
            f"| {s['ece_raw']:.3f} | {s['ece']:.3f} | {100 * flagged(s)[0]:.0f} % "
            f"| {100 * flagged(s)[1]:.0f} / {100 * flagged(s)[2]:.0f} % | {100 * s['adapted']['uar']:.1f} |"
        )
    if len(results) == len(SIX):
        worst = max(zip(chosen, results, strict=True), key=lambda p: p[0]["top_share"])
        lines.append(
            f"| **mean of six** | | | **{100 * np.mean([s['held_out']['uar'] for s in chosen]):.1f}** | "
            f"| largest: {worst[1]['held_out']} {100 * worst[0]['top_share']:.0f} % | "
            f"| {np.mean([s['ece_raw'] for s in chosen]):.3f} | {np.mean([s['ece'] for s in chosen]):.3f} "
            f"| {100 * np.mean([flagged(s)[0] for s in chosen]):.0f} % | "
            f"| **{100 * np.mean([s['adapted']['uar'] for s in chosen]):.1f}** |"
        )
    lines += ["", "Every setting, for the record (held-out UAR % per file; validation UAR % in brackets; "
              "only validation chooses):", "", "| setting | " + " | ".join(SIX) + " | mean |",
              "|---|" + "---:|" * (len(SIX) + 1)]  # fmt: skip
    by_corpus = {r["held_out"]: r for r in results}
    for i, setting in enumerate(SETTINGS):
        cells = [by_corpus[c]["settings"][i] if c in by_corpus else None for c in SIX]
        held = [100 * s["held_out"]["uar"] for s in cells if s]
        lines.append(f"| {name(setting)} | " + " | ".join(
            f"{100 * s['held_out']['uar']:.1f} ({100 * s['validation_uar']:.1f})" if s else "-" for s in cells
        ) + f" | {np.mean(held):.1f} |")  # fmt: skip
    return "\n".join(lines)


PANELS = (("reliability_raw", "ece_raw", "raw"), ("reliability", "ece", "temperature-scaled"))


def reliability_panels(results: list[dict]) -> dict:
    """Held-out corpora's reliability, before and after temperature scaling (`plot_reliability`)."""
    ordered = sorted(results, key=lambda r: SIX.index(r["held_out"]))
    chosen = [(r["held_out"], r["settings"][r["chosen"]]) for r in ordered]
    return {
        f"held-out corpora, {title}": {name: (s[key], s[ece]) for name, s in chosen}
        for key, ece, title in PANELS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=list(SIX), choices=SIX)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "multicorpus.md")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from the JSON")
    args = parser.parse_args()
    results_path = args.out.with_suffix(".json")
    done = json.loads(results_path.read_text()) if results_path.exists() else []
    if not args.table_only:
        loaded, augmented = load(args.data), load(args.data, augmented=True)
        for corpus in args.held_out:
            before = next((r for r in done if r["held_out"] == corpus), None)
            result = run_held_out(corpus, loaded, augmented, before)
            done = json.loads(results_path.read_text()) if results_path.exists() else []  # another run's too
            done = [r for r in done if r["held_out"] != corpus] + [result]
            done.sort(key=lambda r: SIX.index(r["held_out"]))
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(done, indent=1))
    plot_reliability(reliability_panels(done), args.out.with_name("reliability.png"))
    publish(table(done), args.out, __file__)


if __name__ == "__main__":
    main()

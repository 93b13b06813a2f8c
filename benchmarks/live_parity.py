"""Does the live path answer as well as the offline model, on voices neither has heard?

    python benchmarks/live_parity.py [--held-out kor emovo ...] [--blocks 0.25 0.5 1] [--table-only]

A live stream of the bundled model (whisper+speaker pooled layers, logistic regression) encodes
each block of audio once, alone, and pools a window or the utterance from the blocks' moments
(`emovox.inference.streaming.BlockWindows`) instead of re-encoding the last two seconds for every
update. Blocks lose the context across their edges; this measures what that costs.

Leave one of the six corpora out (as benchmarks/multicorpus.py): logistic regression on the
other five's offline features (corpus- and class-balanced weights, C chosen leaving one training
corpus out at a time; no augmented copies, to keep the run short: the same head serves both
sides of the comparison), then every held-out clip whose label the head knows is judged, per file:

- offline: the clip's own features (what `emovox predict` does);
- streamed, utterance: the clip pushed through blocks of B seconds in order, the utterance
  decision from every block with speech ("last", what `result()` gives);
- streamed, mean: the mean of the per-window probabilities ("mean" decision);
- streamed, windows: every update (a window of the last 2 s of blocks, one per block) scored
  against its file's label, each file weighing the same (a file without any update counts as
  wrong, as does a file without any block of speech).

Decisions are taken among the held-out corpus's own labels. The encoder cost per second of
audio (one thread, median over the held-out corpora's clips) stands beside each block size.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from cross_corpus import SIX, training_labels
from multicorpus import FEATURES, load, rows_for
from publish import publish

from emovox.audio import AudioConfig, load_audio
from emovox.backbones.vad import SpeechRule, speech_detector
from emovox.corpora import read_corpus, to_shared
from emovox.features import get_extractor
from emovox.features.backbone import BlockPooling
from emovox.inference.streaming import MIN_BLOCK_SECONDS, BlockWindows
from emovox.machine import describe_machine
from emovox.models.classical import among_present, fit_classical
from emovox.training.metrics import classification_report
from emovox.training.scaler import Standardizer

ROOT = Path(__file__).resolve().parents[1]
WINDOW_SECONDS = 2.0  # StreamConfig's default window


def streamed(signal: np.ndarray, pooling: BlockPooling, variant: str,
             rate: int = 16_000) -> tuple[np.ndarray | None, list[np.ndarray]]:  # fmt: skip
    """(utterance features or None, each update's window features) of a clip streamed in blocks;
    `variant`: "B" (seconds per block) or "B+C" (each block heard after C seconds before it)."""
    block_seconds, _, context = variant.partition("+")
    size = round(float(block_seconds) * rate)
    windows = BlockWindows(pooling, round(WINDOW_SECONDS * rate / size), round(float(context or 0) * rate))
    updates = []
    for start in range(0, len(signal), size):
        block = signal[start : start + size]
        if len(block) < MIN_BLOCK_SECONDS * rate:
            break
        windows.add(block, speech_detector().has_speech(block, SpeechRule()))
        window = windows.window()
        if window is not None:
            updates.append(window)
    return windows.utterance(), updates


def window_uar(y: np.ndarray, correct_share: np.ndarray) -> float:
    """Per-window UAR with each file weighing the same: the mean over labels of the mean share of
    a file's updates that are right."""
    return float(np.mean([correct_share[y == label].mean() for label in np.unique(y)]))


def run_held_out(held_out: str, data: Path, blocks: list[str]) -> dict:
    loaded = load(data)
    train = [c for c in SIX if c != held_out]
    labels = training_labels(train)
    x, y, speakers, corpora = rows_for(train, loaded, labels)
    scaler = Standardizer.fit(x)
    start = time.perf_counter()
    head = fit_classical("logreg", scaler(x), y, speakers, corpora=corpora, balance="corpus_class",
                         by_corpus=True).model  # fmt: skip
    minutes = (time.perf_counter() - start) / 60
    print(held_out, f"head fitted in {minutes:.1f} min", flush=True)
    manifest, features = loaded[held_out]
    keep = [i for i, u in enumerate(manifest) if u.label in labels]
    ty = np.array([labels.index(manifest[i].label) for i in keep])

    def decide(rows: list[np.ndarray]) -> np.ndarray:
        return among_present(head.predict_proba(scaler(np.stack(rows))), ty)

    offline = decide([features[i] for i in keep]).argmax(axis=1)
    pooling = BlockPooling(get_extractor(FEATURES))
    audio = AudioConfig()
    results = {"held_out": held_out, "clips": len(keep), "labels": [labels[k] for k in sorted(set(ty))],
               "offline": classification_report(ty, offline, labels)["uar"], "blocks": {}}  # fmt: skip
    signals = [load_audio(manifest[i].path, audio) for i in keep]
    for block_seconds in blocks:
        last, mean, share, costs = [], [], [], []
        for signal in signals:
            began = time.perf_counter()
            utterance, updates = streamed(signal, pooling, block_seconds)
            costs.append((time.perf_counter() - began) / (len(signal) / audio.sample_rate))
            last.append(decide([utterance])[0].argmax() if utterance is not None else -1)
            probabilities = decide(updates) if updates else None
            mean.append(probabilities.mean(axis=0).argmax() if probabilities is not None else -1)
            right = probabilities.argmax(axis=1) == ty[len(share)] if probabilities is not None else [0.0]
            share.append(float(np.mean(right)))
        results["blocks"][block_seconds] = {
            "last": classification_report(ty, np.array(last), labels)["uar"],
            "mean": classification_report(ty, np.array(mean), labels)["uar"],
            "windows": window_uar(ty, np.array(share)),
            "ms_per_audio_second": 1000 * float(np.median(costs)),
        }
        print(held_out, block_seconds, results["blocks"][block_seconds], flush=True)
    return results


def cell(scores: list[dict]) -> str:
    """ "utterance / mean / windows" UAR (%), averaged over `scores`."""
    return " / ".join(f"{100 * np.mean([s[key] for s in scores]):.1f}" for key in ("last", "mean", "windows"))


def table(results: list[dict]) -> str:
    blocks = list(results[0]["blocks"])
    header = " | ".join(f"blocks {b} s: utterance / mean / windows" for b in blocks)
    lines = [
        f"Machine: {describe_machine()}",
        "Leave one corpus out, per file, UAR (%); the head trained on the five others' offline "
        "features; streamed: blocks of B seconds, each encoded alone or, B+C, after the C seconds "
        "of audio before it (see the script).",
        "",
        f"| held out | clips | offline | {header} |",
        "|---|---|---|" + "---|" * len(blocks),
    ]
    for r in results:
        cells = " | ".join(cell([r["blocks"][b]]) for b in blocks)
        lines.append(f"| {r['held_out']} | {r['clips']} | {100 * r['offline']:.1f} | {cells} |")
    cells = " | ".join(cell([r["blocks"][b] for r in results]) for b in blocks)
    lines.append(f"| **mean** | | **{100 * np.mean([r['offline'] for r in results]):.1f}** | {cells} |")
    costs = ", ".join(
        f"{b} s blocks {np.median([r['blocks'][b]['ms_per_audio_second'] for r in results]):.1f}"
        for b in blocks
    )
    lines += ["", f"Encoders and speech check, ms of one core per second of a stream's audio: {costs}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=list(SIX), choices=SIX)
    parser.add_argument("--blocks", nargs="+", default=["0.25", "0.25+0.24", "0.5", "1"],
                        help="seconds per block, or B+C: heard after C seconds of context")  # fmt: skip
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "benchmarks" / "live_parity.json")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "live_parity.md")
    parser.add_argument("--table-only", action="store_true", help="re-write the table from the JSON")
    args = parser.parse_args()
    if not args.table_only:
        load(args.data)  # the offline features, extracted once (cached) before the workers read them
        for corpus in args.held_out:  # fail early on a missing corpus folder
            to_shared(read_corpus(corpus, args.data / corpus))
        order = sorted(args.held_out, key=lambda c: -len(read_corpus(c, args.data / c)))
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(
                pool.map(run_held_out, order, [args.data] * len(order), [args.blocks] * len(order))
            )
        results.sort(key=lambda r: SIX.index(r["held_out"]))
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    results = json.loads(args.json.read_text())
    publish(table(results), args.out, __file__)


if __name__ == "__main__":
    main()

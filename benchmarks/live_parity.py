"""Does the live path answer as well as the offline model, on voices neither has heard?

    python benchmarks/live_parity.py [--held-out kor emovo ...] [--table-only]

A live stream of the bundled model encodes each block of audio (500 ms, one starting every
250 ms) once, as it completes, and pools a window or the utterance from the blocks' moments
(`emovox.inference.streaming.BlockWindows`) instead of re-encoding the last two seconds for
every update: Whisper hears each block alone, the speaker encoder's LSTMs carry their state from
block to block and read only each block's new 250 ms. Blocks restart Whisper's positions and
hear nothing across their edges, so their pooled features are not a whole clip's: the stream is
judged by the live twin, the same recipe trained on the block sets
(`whisper_blocks+speaker_stream`, configs/default_live.toml). Earlier twins, in this file's
history: 250 ms blocks side by side (commit 675e8ff: -3.3 points from the offline model,
RAVDESS -10.9), then overlapping blocks with the speaker encoder restarted on each (commit
4670fc0: -2.5).

Leave one of the six corpora out (as benchmarks/multicorpus.py): on the other five, logistic
regression (corpus- and class-balanced weights, C chosen leaving one training corpus out at a
time; no augmented copies, to keep the run short) is fitted twice, on the whole-clip features
(the offline model) and on the block features (the twin). Every held-out clip whose label they
know is then judged, per file, among the held-out corpus's own labels:

- offline: the offline model on the clip's own features (what `emovox predict` does);
- live, utterance: the twin on all the clip's blocks with speech, which is what a stream's
  `finish()` gives for the clip pushed in any chunks (tested);
- live, mean: the mean of the twin's per-update probabilities ("mean" decision);
- live, updates: every update (the twin on the blocks of the last 2 s, one per block) scored against
  its file's label, each file weighing the same (a file without any update counts as wrong);
- for the record, the offline model on the same block features: what streaming blocks without a
  twin would give.

The blocks' encoder and speech-check cost per second of audio (one thread, median over the
clips) is reported with them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cross_corpus import SIX, training_labels
from multicorpus import rows_for
from publish import held_out_rows, publish

from emovox.audio import AudioConfig, load_audio
from emovox.corpora import read_corpus, to_shared
from emovox.features import extract, get_extractor
from emovox.features.backbone import BlockPooling, block_has_speech
from emovox.inference.streaming import BlockWindows
from emovox.machine import describe_machine
from emovox.models.classical import among_present, fit_classical
from emovox.training.metrics import classification_report
from emovox.training.scaler import Standardizer

ROOT = Path(__file__).resolve().parents[1]
OFFLINE, LIVE = "whisper+speaker", "whisper_blocks+speaker_stream"
WINDOW_SECONDS = 2.0  # StreamConfig's default window


def load(data: Path, features: str) -> dict[str, tuple]:
    """Each corpus's (manifest over the shared labels, features) from the feature cache."""
    out = {}
    for corpus in SIX:
        manifest = to_shared(read_corpus(corpus, data / corpus))
        out[corpus] = (manifest, extract(manifest, [features], progress=False)[features].values)
    return out


def window_features(signal: np.ndarray, pooling: BlockPooling) -> list[np.ndarray]:
    """Each update's window features for a clip streamed block by block, as a stream makes them."""
    windows = BlockWindows(pooling, pooling.grid.window_blocks(WINDOW_SECONDS))
    updates = []
    for block in pooling.grid.cut(signal, 16_000):
        windows.add(block, block_has_speech(block))
        window = windows.window()
        if window is not None:
            updates.append(window)
    return updates


def fit_head(loaded: dict, train: list[str], labels: list[str]) -> tuple[Standardizer, Any]:
    """The scaler and scikit-learn logistic regression of the recipe, fitted on `train` only."""
    x, y, speakers, corpora = rows_for(train, loaded, labels)
    scaler = Standardizer.fit(x)  # the five training corpora only
    head = fit_classical("logreg", scaler(x), y, speakers, corpora=corpora, balance="corpus_class",
                         by_corpus=True).model  # fmt: skip
    return scaler, head


def fitted(loaded: dict, train: list[str], labels: list[str]):
    scaler, head = fit_head(loaded, train, labels)
    return lambda rows: head.predict_proba(scaler(np.stack(rows)))


@dataclass(frozen=True)
class HeldOut:
    """A held-out corpus's clips among the labels its five training corpora share."""

    train: list[str]  # the five other corpora
    labels: list[str]
    keep: list[int]  # the clips' rows in the corpus's manifest
    y: np.ndarray  # their label indices

    @classmethod
    def of(cls, corpus: str, manifest) -> HeldOut:
        train = [c for c in SIX if c != corpus]
        labels = training_labels(train)
        keep = [i for i, u in enumerate(manifest) if u.label in labels]
        return cls(train, labels, keep, np.array([labels.index(manifest[i].label) for i in keep]))

    def uar(self, head, rows: list[np.ndarray]) -> float:
        """Per-file UAR of `head` on the kept clips' rows, judged among the corpus's own labels."""
        predicted = among_present(head(rows), self.y).argmax(axis=1)
        return classification_report(self.y, predicted, self.labels)["uar"]


def window_uar(y: np.ndarray, correct_share: np.ndarray) -> float:
    """Per-update UAR with each file weighing the same: the mean over labels of the mean share of
    a file's updates that are right."""
    return float(np.mean([correct_share[y == label].mean() for label in np.unique(y)]))


def run_held_out(held_out: str, data: Path) -> dict:
    offline_loaded, live_loaded = load(data, OFFLINE), load(data, LIVE)
    manifest, offline_x = offline_loaded[held_out]
    live_x = live_loaded[held_out][1]
    target = HeldOut.of(held_out, manifest)
    train, labels, keep, ty, uar = target.train, target.labels, target.keep, target.y, target.uar
    start = time.perf_counter()
    offline_head, live_head = fitted(offline_loaded, train, labels), fitted(live_loaded, train, labels)
    print(held_out, f"heads fitted in {(time.perf_counter() - start) / 60:.1f} min", flush=True)

    pooling = BlockPooling(get_extractor(LIVE))
    audio = AudioConfig()
    mean, share, costs = [], [], []
    for i, y in zip(keep, ty, strict=True):
        signal = load_audio(manifest[i].path, audio)
        began = time.perf_counter()
        updates = window_features(signal, pooling)
        costs.append((time.perf_counter() - began) / (len(signal) / audio.sample_rate))
        if not updates:
            mean.append(-1)
            share.append(0.0)
            continue
        probabilities = among_present(live_head(updates), ty)
        mean.append(int(probabilities.mean(axis=0).argmax()))
        share.append(float(np.mean(probabilities.argmax(axis=1) == y)))
    result = {
        "held_out": held_out,
        "clips": len(keep),
        "labels": [labels[k] for k in sorted(set(ty))],
        "offline": uar(offline_head, [offline_x[i] for i in keep]),
        "live_utterance": uar(live_head, [live_x[i] for i in keep]),
        "live_mean": classification_report(ty, np.array(mean), labels)["uar"],
        "live_updates": window_uar(ty, np.array(share)),
        "offline_model_on_blocks": uar(offline_head, [live_x[i] for i in keep]),
        "ms_per_audio_second": 1000 * float(np.median(costs)),
    }
    print(result, flush=True)
    return result


COLUMNS = ("offline", "live_utterance", "live_mean", "live_updates", "offline_model_on_blocks")


def table(results: list[dict]) -> str:
    grid = BlockPooling(get_extractor(LIVE)).grid
    lines = [
        f"Machine: {describe_machine()}",
        "Leave one corpus out, per file, UAR (%): the offline model (whole clips) against the live "
        f"twin on blocks of {grid.seconds * 1000:.0f} ms, one every {grid.hop * 1000:.0f} ms, each "
        "encoded once (see the script).",
        "",
        "| held out | clips | offline | live: utterance | live: mean of updates | live: each update "
        "| offline model on blocks |",
        "|---|---|---|---|---|---|---|",
    ]
    rows, means = held_out_rows(results, ("held_out", "clips"), COLUMNS)
    lines += rows
    cost = np.median([r["ms_per_audio_second"] for r in results])
    lines += [
        "",
        f"Live utterance decision minus offline: **{means['live_utterance'] - means['offline']:+.1f}** "
        f"points (mean over held-out corpora); each update: {means['live_updates'] - means['offline']:+.1f}. "
        f"A stream's blocks cost {cost:.1f} ms of one core per second of audio (encoders and speech check).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=list(SIX), choices=SIX)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "benchmarks" / "live_parity.json")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "live_parity.md")
    parser.add_argument("--table-only", action="store_true", help="re-write the table from the JSON")
    args = parser.parse_args()
    if not args.table_only:
        for features in (OFFLINE, LIVE):  # extracted once (cached) before the workers read them
            load(args.data, features)
        order = sorted(args.held_out, key=lambda c: -len(read_corpus(c, args.data / c)))
        with ProcessPoolExecutor(args.jobs) as pool:
            jobs = [pool.submit(run_held_out, corpus, args.data) for corpus in order]
            results = [job.result() for job in jobs]
        results.sort(key=lambda r: SIX.index(r["held_out"]))
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    results = json.loads(args.json.read_text())
    publish(table(results), args.out, __file__)


if __name__ == "__main__":
    main()

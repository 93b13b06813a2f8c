"""How the bundled recipe holds up on short utterances, on voices it never heard.

    python benchmarks/short_utterances.py [--jobs 2] [--table-only]

Leave one of the six corpora out (as benchmarks/live_parity.py: logistic regression on
`whisper+speaker` of the other five's whole clips, corpus- and class-balanced, C chosen leaving
one training corpus out, no augmented copies). Every held-out clip is then judged whole and cut
to its first 0.5, 1, 1.5 and 2 s of speech (from 100 ms before the first 32 ms frame the
voice-activity detector hears as speech; a clip shorter than the cut is kept whole), per file,
UAR among the held-out corpus's own labels. The last row is TurEV-DB, isolated Turkish words
(median 0.95 s), judged whole by a head trained on all six corpora over angry, happy, sad and
calm taken as neutral (the nearest shared label; the bundled model has no calm).
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from cross_corpus import SIX, training_labels
from live_parity import OFFLINE, HeldOut, fitted, load
from publish import held_out_rows, publish

from emovox.audio import AudioConfig, load_audio
from emovox.backbones.vad import FRAME, SpeechRule, speech_detector
from emovox.corpora import read_corpus, to_shared
from emovox.features import extract, get_extractor
from emovox.machine import describe_machine
from emovox.models.classical import among_present
from emovox.training.metrics import classification_report

ROOT = Path(__file__).resolve().parents[1]
CUTS = (0.5, 1.0, 1.5, 2.0)  # seconds of speech kept
LEAD = 0.1  # seconds kept before the first speech
RATE = 16_000


def speech_start(signal: np.ndarray) -> int:
    """The sample 100 ms before the first frame the detector hears as speech (0 if none)."""
    probabilities = speech_detector().probabilities(signal)
    spoken = np.flatnonzero(probabilities >= SpeechRule().threshold)
    return max(0, int(spoken[0]) * FRAME - round(LEAD * RATE)) if len(spoken) else 0


def cut_features(paths: list[Path]) -> np.ndarray:
    """(clips, cuts, dims) whisper+speaker features of each clip's first seconds of speech."""
    extractor = get_extractor(OFFLINE)
    audio = AudioConfig()
    out = []
    for path in paths:
        signal = load_audio(path, audio)
        start = speech_start(signal)
        out.append([extractor(signal[start : start + round(cut * RATE)]) for cut in CUTS])
    return np.asarray(out, dtype=np.float32)


def held_out_scores(held_out: str, data: Path, jobs: int) -> dict:
    loaded = load(data, OFFLINE)
    manifest, whole = loaded[held_out]
    target = HeldOut.of(held_out, manifest)
    head = fitted(loaded, target.train, target.labels)
    paths = [manifest[i].path for i in target.keep]
    parts = [paths[k::jobs] for k in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        pieces = list(pool.map(cut_features, parts))
    cuts = np.empty((len(paths), len(CUTS), whole.shape[1]), np.float32)
    for k, piece in enumerate(pieces):
        cuts[k::jobs] = piece

    result = {"held_out": held_out, "clips": len(paths), "whole": target.uar(head, list(whole[target.keep]))}
    result |= {f"{cut:g}": target.uar(head, list(cuts[:, j])) for j, cut in enumerate(CUTS)}
    print(result, flush=True)
    return result


def turev_scores(data: Path) -> dict:
    loaded = load(data, OFFLINE)
    labels = training_labels(list(SIX))
    head = fitted(loaded, list(SIX), labels)
    manifest = to_shared(read_corpus("turev", data / "turev"))
    x = extract(manifest, [OFFLINE], progress=False)[OFFLINE].values
    truth = ["neutral" if u.label == "calm" else u.label for u in manifest]
    y = np.array([labels.index(label) for label in truth])
    predicted = among_present(head(list(x)), y).argmax(axis=1)
    result = {
        "held_out": "turev",
        "clips": len(y),
        "whole": classification_report(y, predicted, labels)["uar"],
    }
    print(result, flush=True)
    return result


def table(results: list[dict]) -> str:
    columns = [f"{cut:g}" for cut in CUTS]
    lines = [
        f"Machine: {describe_machine()}",
        "Leave one corpus out, per file, UAR (%) of the bundled recipe (whole-clip training) on the "
        "held-out clips cut to their first seconds of speech (see the script).",
        "",
        "| held out | clips | " + " | ".join(f"{c} s" for c in columns) + " | whole |",
        "|---|---:|" + "---:|" * (len(columns) + 1),
    ]
    rows, means = held_out_rows([r for r in results if r["held_out"] in SIX], ("held_out", "clips"),
                                [*columns, "whole"])  # fmt: skip
    lines += rows
    for r in results:
        if r["held_out"] == "turev":
            lines.append(f"| turev (words; trained on all six) | {r['clips']} | " + " | " * len(columns)
                         + f"{100 * r['whole']:.1f} |")  # fmt: skip
    lines += [
        "",
        f"Clips cut to 1 s of speech: **{means['1'] - means['whole']:+.1f}** points from whole clips.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "results" / "benchmarks" / "short_utterances.json"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "short_utterances.md")
    parser.add_argument("--table-only", action="store_true", help="re-write the table from the JSON")
    args = parser.parse_args()
    if args.table_only:
        results = json.loads(args.json.read_text())
    else:
        results = [held_out_scores(held_out, args.data, args.jobs) for held_out in SIX]
        results.append(turev_scores(args.data))
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    publish(table(results), args.out, "benchmarks/short_utterances.py")


if __name__ == "__main__":
    main()

"""Feature extraction speed: per clip on one core, and whole corpora cold and warm.

    python benchmarks/features.py [--data ../shared/data] [--runs 30] [--out FILE] [--clip-only]

Per-clip figures are medians over --runs calls on one 3.5 s RAVDESS clip with BLAS/FFT threads
capped at one (one core per clip). The seed's loop (librosa.feature.mfcc called on each
400-sample frame) is timed in the same run for the speed-up ratio. Corpus figures run
RAVDESS + EmoDB (1975 clips) through `extract` on every core, first with an empty cache (cold)
and then again from the cache (warm).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import librosa
import numpy as np
from publish import publish
from threadpoolctl import threadpool_limits
from timing import median_ms

from emovox.audio import frame_signal, load_audio
from emovox.corpora import read_corpus
from emovox.features import extract, get_extractor
from emovox.machine import describe_machine

CLIP = "ravdess/Actor_01/03-01-05-02-01-01-01.flac"
OWN_SETS = ["mfcc", "utterance110", "enhanced392"]
BUILT_IN = [*OWN_SETS, "egemaps"]
TARGETS_MS = {"mfcc": 2.0, "utterance110": 10.0}


def seed_loop(signal: np.ndarray) -> np.ndarray:
    """The seed's frame loop: librosa.feature.mfcc on each 400-sample frame, silent ones skipped."""
    rows = []
    for frame in frame_signal(signal, 400, 160):
        if np.all(frame == 0):
            continue
        rows.append(librosa.feature.mfcc(y=frame, sr=16_000, n_mfcc=13, n_fft=400, hop_length=160,
                                         center=False)[:, 0])  # fmt: skip
    return np.array(rows)


def per_clip(data: Path, runs: int) -> list[str]:
    signal = load_audio(data / CLIP)[:56_000]  # exactly 3.5 s
    lines = [
        "| step (one 3.5 s clip, one core) | dims | median ms | target |",
        "|---|---:|---:|---:|",
    ]
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about empty mel filters at n_fft=400
        load = median_ms(lambda: load_audio(data / CLIP), runs)
        lines.append(f"| decode FLAC + prepare | - | {load:.2f} | |")
        timings = {}
        for name in [*BUILT_IN, "compare"]:
            extractor = get_extractor(name)
            timings[name] = median_ms(lambda e=extractor: e(signal), runs if name != "compare" else 5)
            target = f"<= {TARGETS_MS[name]:g} ms" if name in TARGETS_MS else ""
            lines.append(f"| {name} | {extractor.dim} | {timings[name]:.2f} | {target} |")
        seed = median_ms(lambda: seed_loop(signal), max(3, runs // 5))
    lines.append(f"| seed loop (librosa.feature.mfcc per frame) | 13 | {seed:.2f} | |")
    lines.append("")
    lines.append(f"Frame MFCC speed-up over the seed's loop: **{seed / timings['mfcc']:.0f}x**.")
    return lines


def corpus_run(data: Path, sets: list[str], cache: Path) -> float:
    manifest = read_corpus("ravdess", data / "ravdess") + read_corpus("emodb", data / "emodb")
    start = time.perf_counter()
    extract(manifest, sets, cache_dir=cache, progress=False)
    return time.perf_counter() - start


def corpora(data: Path) -> list[str]:
    lines = [
        "| RAVDESS + EmoDB, 1975 clips, 113.6 min, all cores | cold s | warm s | target |",
        "|---|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, sets in [("mfcc + utterance110 + enhanced392", OWN_SETS), ("+ egemaps", BUILT_IN)]:
            cache = Path(tmp) / label.replace(" ", "")
            cold = corpus_run(data, sets, cache)
            warm = statistics.median(corpus_run(data, sets, cache) for _ in range(3))
            lines.append(f"| {label} | {cold:.1f} | {warm:.2f} | cold <= 60, warm <= 2 |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here (Markdown)")
    parser.add_argument("--clip-only", action="store_true", help="skip the whole-corpus runs")
    args = parser.parse_args()
    lines = [f"Machine: {describe_machine()}", "", *per_clip(args.data, args.runs)]
    if not args.clip_only:
        lines += ["", *corpora(args.data)]
    text = "\n".join(lines)
    publish(text, args.out, __file__)


if __name__ == "__main__":
    main()

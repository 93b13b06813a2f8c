"""What one training epoch of the streaming MFCC LSTM costs on this CPU, by size and crop.

    python benchmarks/lstm_cost.py [--data ../shared/data] [--out results/benchmarks/lstm_cost.md]

RAVDESS fold 1's training speakers (1080 clips), batch 32, one epoch each after a warm-up
batch; seconds per epoch and the implied 6-fold cost at 40 epochs. Accuracy for the chosen
setting comes from `benchmarks/accuracy.py` (results/runs/ravdess-lstm_stream).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from publish import publish

from emovox.corpora import read_corpus
from emovox.features import extract
from emovox.machine import describe_machine
from emovox.models.registry import build_model
from emovox.protocols import make_splits
from emovox.training.data import SequenceAugment, SequenceData
from emovox.training.scaler import Standardizer
from emovox.training.trainer import TrainConfig, Trainer

SETTINGS = [  # (hidden, layers, crop frames or None for whole clips)
    (256, 2, None),
    (256, 2, 200),
    (256, 2, 140),
    (256, 2, 100),
    (128, 2, 200),
    (128, 2, 140),
    (128, 2, 100),
]


def fold1_sequences(data: Path) -> tuple[list[np.ndarray], np.ndarray, SequenceData]:
    """RAVDESS fold 1's standardised MFCC sequences: training actors' with their labels, and
    the two validation actors' as a dataset (the test actors are not touched)."""
    manifest = read_corpus("ravdess", data / "ravdess")
    table = extract(manifest, ["mfcc"], progress=False)["mfcc"]
    split = make_splits("ravdess-emobox", manifest, n_val_speakers=2)[0]
    y = np.asarray(manifest.label_indices())
    scaler = Standardizer.fit([table[int(i)] for i in split.train])
    sequences = [scaler(table[int(i)]) for i in split.train]
    return sequences, y[split.train], SequenceData([scaler(table[int(i)]) for i in split.val], y[split.val])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sequences, labels, val = fold1_sequences(args.data)
    lines = [
        f"Machine: {describe_machine()}",
        "",
        "| hidden x layers | crop | s / epoch | 6 folds x 40 epochs, min |",
        "|---|---|---:|---:|",
    ]
    for hidden, layers, crop in SETTINGS:
        torch.manual_seed(0)
        model = build_model("lstm_stream", 13, 8, {"hidden_size": hidden, "num_layers": layers})
        train = SequenceData(sequences, labels, SequenceAugment(crop_frames=crop))
        start = time.perf_counter()
        Trainer(TrainConfig(epochs=1), progress=False).fit(model, train, val, 8)
        seconds = time.perf_counter() - start
        label = f"{crop / 100:.1f} s" if crop else "whole clip"
        lines.append(f"| {hidden} x {layers} | {label} | {seconds:.1f} | {seconds * 40 * 6 / 60:.0f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    publish(text, args.out, __file__)


if __name__ == "__main__":
    main()

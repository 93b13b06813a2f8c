"""How configs/lstm_stream.toml was chosen: validation UAR of the streaming LSTM by crop length,
learning rate and time masks, on RAVDESS fold 1's two validation actors (never its test actors).

    python benchmarks/lstm_search.py [--out results/benchmarks/lstm_search.md]

128 x 2 for the search (the seed's 256 x 2 trains ~2x slower), 30 epochs each, one thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from lstm_cost import fold1_sequences  # this folder's sibling script
from publish import publish

from emovox.machine import describe_machine
from emovox.models.registry import build_model
from emovox.training.data import SequenceAugment, SequenceData
from emovox.training.trainer import TrainConfig, Trainer

VARIANTS = [  # (crop frames, learning rate, time masks)
    (140, 2e-3, 2),
    (140, 5e-4, 2),
    (100, 1e-3, 0),
    (140, 1e-3, 0),
    (100, 1e-3, 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sequences, labels, val = fold1_sequences(args.data)
    lines = [
        f"Machine: {describe_machine()}",
        "",
        "| crop | lr | time masks | validation UAR % | best epoch | min |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for crop, lr, masks in VARIANTS:
        augment = SequenceAugment(crop, time_masks=masks, time_width=15, feature_masks=1, feature_width=2)
        torch.manual_seed(0)
        model = build_model("lstm_stream", 13, 8, {"hidden_size": 128, "num_layers": 2})
        start = time.time()
        config = TrainConfig(epochs=30, lr=lr, patience=100)
        result = Trainer(config, progress=False).fit(model, SequenceData(sequences, labels, augment), val, 8)
        lines.append(f"| {crop / 100:.1f} s | {lr:g} | {masks} | {100 * result.best_val_uar:.1f} "
                     f"| {result.best_epoch} | {(time.time() - start) / 60:.1f} |")  # fmt: skip
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    publish(text, args.out, __file__)


if __name__ == "__main__":
    main()

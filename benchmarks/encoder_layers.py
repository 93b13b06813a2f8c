"""Which encoder layers pay for themselves: what each costs per clip and what it adds on voices
never heard, to settle what the bundled model runs.

    python benchmarks/encoder_layers.py [--jobs 2] [--table-only]

The bundled model pools every hidden state of Whisper-base (its embedding and 6 blocks) and of
the speaker encoder (3 LSTM layers). A layer's states do not depend on the layers above it, so
an encoder cut after block k gives exactly the first k + 1 layers' columns of the whole-clip
features: each candidate is scored on the cached `whisper` and `speaker` features, without
extracting anything again.

- Accuracy: leave one of the six corpora out (as benchmarks/live_parity.py: logistic regression,
  corpus- and class-balanced weights, C chosen leaving one training corpus out, no augmented
  copies), per-file UAR among the held-out corpus's own labels, mean over the six.
- Cost: Whisper cut after block k, exported and quantised by the shipped recipe
  (`emovox.backbones.export`), and the speaker encoder's shipped graph, on one 4 s clip and one
  500 ms block (a live stream's), one thread, median of repeated runs in one process; the
  front ends are included.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cross_corpus import SIX
from live_parity import HeldOut, fitted, load
from publish import publish
from timing import median_ms

from emovox.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
WHISPER_LAYERS, WHISPER_WIDTH, SPEAKER_COLUMNS = 7, 512, 3 * 2 * 256


@dataclass(frozen=True)
class Candidate:
    blocks: int  # Whisper blocks kept (0-6): its embedding and blocks 1..k
    speaker: bool

    @property
    def name(self) -> str:
        whisper = "Whisper, all 6 blocks" if self.blocks == 6 else f"Whisper cut after block {self.blocks}"
        return whisper + (" + speaker encoder" if self.speaker else "")

    def columns(self, x: np.ndarray) -> np.ndarray:
        """The candidate's columns of whisper+speaker rows (Whisper's layers first, each mean then std)."""
        whisper = x[:, : (self.blocks + 1) * 2 * WHISPER_WIDTH]
        return np.hstack([whisper, x[:, WHISPER_LAYERS * 2 * WHISPER_WIDTH :]]) if self.speaker else whisper


# the bundled model's encoders, then cut ones; scored in this order (the cut ones first)
CANDIDATES = (Candidate(6, True), Candidate(6, False), Candidate(5, False), Candidate(4, True),
              Candidate(4, False), Candidate(3, False))  # fmt: skip
ORDER = (4, 1, 3, 2, 5, 0)


def score(held_out: str, candidate: Candidate, data: Path) -> dict:
    loaded = {c: (m, candidate.columns(x)) for c, (m, x) in load(data, "whisper+speaker").items()}
    manifest, x = loaded[held_out]
    target = HeldOut.of(held_out, manifest)
    uar = target.uar(fitted(loaded, target.train, target.labels), [x[i] for i in target.keep])
    result = {"held_out": held_out, "candidate": candidate.name, "blocks": candidate.blocks,
              "speaker": candidate.speaker, "uar": uar}  # fmt: skip
    print(result, flush=True)
    return result


def costs(repeats: int) -> dict[str, float]:
    """ms per 4 s clip and per 500 ms block, one thread, of each Whisper cut and the speaker encoder."""
    import torch

    from emovox.backbones import OnnxSpeakerEncoder, shipped
    from emovox.backbones.config import Precision
    from emovox.backbones.export import _export, quantise
    from emovox.backbones.runtime import OnnxWhisperEncoder, session
    from emovox.backbones.whisper import WhisperEncoder

    class Cut(torch.nn.Module):
        """Whisper's hidden states up to block k (the last, when k is all, after the final norm)."""

        def __init__(self, encoder: WhisperEncoder, blocks: int) -> None:
            super().__init__()
            self.encoder, self.blocks = encoder, blocks

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            return torch.stack(self.encoder.hidden_states(mel)[: self.blocks + 1])

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    clip, block = ((0.1 * rng.standard_normal(n)).astype(np.float32) for n in (64_000, 8_000))
    whisper = OnnxWhisperEncoder(shipped("whisper-base"), Path(tempfile.gettempdir()), Precision.INT8)
    encoder = WhisperEncoder.load()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for blocks in sorted({c.blocks for c in CANDIDATES}):
            float32, int8 = Path(folder) / f"cut{blocks}.onnx", Path(folder) / f"cut{blocks}-int8.onnx"
            _export(Cut(encoder, blocks), torch.zeros(1, 80, 400), float32, ("mel", "states"),
                    {"mel": {2: "frames"}, "states": {2: "outputs"}})  # fmt: skip
            quantise(float32, int8)
            graph = session(int8)
            for name, signal in (("clip", clip), ("block", block)):
                out[f"whisper{blocks}_{name}"] = median_ms(
                    lambda s=signal, g=graph: g.run(None, {"mel": whisper.log_mel(s)[None]}), repeats
                )
    speaker = OnnxSpeakerEncoder(shipped("speaker"), Path(tempfile.gettempdir()))
    for name, signal in (("clip", clip), ("block", block)):
        out[f"speaker_{name}"] = median_ms(lambda s=signal: speaker.signal_states(s), repeats)
    state = speaker.carried_states(block, speaker.initial_state())[1]  # as a stream's next block finds it
    out["speaker_carried_block"] = median_ms(lambda: speaker.carried_states(block[4_000:], state), repeats)
    return out


def table(results: list[dict], cost: dict[str, float]) -> str:
    lines = [
        f"Machine: {describe_machine()}",
        "Leave one corpus out over six, per-file UAR (%) of logistic regression on each candidate's "
        "layers (the bundled recipe without augmented copies); cost on one thread, front ends "
        "included (see the script).",
        "",
        "| encoders | " + " | ".join(SIX) + " | **mean** | ms per 4 s clip | ms per 500 ms block |",
        "|---|" + "---:|" * (len(SIX) + 3),
    ]
    full = None
    for candidate in CANDIDATES:
        rows = {r["held_out"]: r["uar"] for r in results if r["candidate"] == candidate.name}
        if len(rows) < len(SIX):
            continue
        mean = 100 * np.mean(list(rows.values()))
        full = mean if full is None else full
        speaker = (cost["speaker_clip"], cost["speaker_block"]) if candidate.speaker else (0.0, 0.0)
        clip = cost[f"whisper{candidate.blocks}_clip"] + speaker[0]
        block = cost[f"whisper{candidate.blocks}_block"] + speaker[1]
        cells = " | ".join(f"{100 * rows[c]:.1f}" for c in SIX)
        lines.append(
            f"| {candidate.name} | {cells} | **{mean:.1f}** ({mean - full:+.1f}) | {clip:.1f} | {block:.1f} |"
        )
    lines += ["", f"Speaker encoder alone: {cost['speaker_clip']:.1f} ms per 4 s clip, "
              f"{cost['speaker_block']:.1f} ms per 500 ms block encoded alone, "
              f"{cost['speaker_carried_block']:.1f} ms per block of a live stream (its new 250 ms, the "
              "LSTMs carried on from the block before: `speaker_stream`)."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "benchmarks" / "encoder_layers.json")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "encoder_layers.md")
    parser.add_argument("--table-only", action="store_true", help="re-write the table from the JSON")
    parser.add_argument("--costs-only", action="store_true", help="keep the JSON's accuracy, time again")
    args = parser.parse_args()
    if args.table_only or args.costs_only:
        saved = json.loads(args.json.read_text())
        if args.costs_only:
            saved["cost"] = costs(args.repeats)
            args.json.write_text(json.dumps(saved, indent=1) + "\n")
    else:
        work = [(held_out, CANDIDATES[i]) for i in ORDER for held_out in SIX]
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(score, *zip(*work, strict=True), [args.data] * len(work)))
        saved = {"results": results, "cost": costs(args.repeats)}
        args.json.write_text(json.dumps(saved, indent=1) + "\n")
    publish(table(saved["results"], saved["cost"]), args.out, "benchmarks/encoder_layers.py")


if __name__ == "__main__":
    main()

"""What the pretrained backbones cost on this CPU: Whisper-base's encoder on one 4 s clip (one
core: PyTorch, onnxruntime float32 and int8, and what int8 changes), the speaker encoder
(PyTorch and its shipped onnxruntime graph), embedding every RAVDESS + EmoDB clip cold and warm
(the feature cache), `predict` on one clip with a backbone model once loaded, and what the
weights and graphs add to the package.

    python benchmarks/backbone.py [--out results/benchmarks/backbone.md]

Medians of repeated runs in one process. The cold run starts from an empty cache folder (the
shipped graphs need nothing built); float32 is made into the cache for the comparison; the
model for `predict` is configs/layer_head.toml trained on RAVDESS from that cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from publish import publish
from timing import median_ms

from emovox.audio import load_audio
from emovox.backbones import OnnxSpeakerEncoder, OnnxWhisperEncoder, shipped
from emovox.backbones.speaker import SpeakerEncoder
from emovox.backbones.whisper import WhisperEncoder
from emovox.corpora import read_corpus
from emovox.features import extract
from emovox.features.backbone import pool_states
from emovox.inference import EmotionPredictor
from emovox.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 21  # timed runs per median


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        os.environ["EMOVOX_CACHE"] = str(cache)  # every step below, and the processes it starts
        clips = [read_corpus(name, args.data / name) for name in ("ravdess", "emodb")]
        manifest = clips[0] + clips[1]

        start = time.perf_counter()
        extract(manifest, ["whisper"], jobs=2, cache_dir=cache, progress=False)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        extract(manifest, ["whisper"], jobs=2, cache_dir=cache, progress=False)
        warm = time.perf_counter() - start

        torch.set_num_threads(1)
        signal = np.resize(load_audio(clips[0][0].path), 4 * 16_000)  # a real clip, looped to 4 s
        encoder = WhisperEncoder.load()
        with torch.inference_mode():
            torch_ms = median_ms(lambda: encoder.signal_states(signal), REPEATS)
        graphs = {
            p: OnnxWhisperEncoder(shipped("whisper-base"), cache / "backbones", p)
            for p in ("float32", "int8")
        }
        onnx_ms = {p: median_ms(lambda g=g: g.signal_states(signal), REPEATS) for p, g in graphs.items()}
        # what int8 changes: each layer's pooled statistics against float32's, over 20 real clips
        agreement = []
        for utterance in manifest[:: len(manifest) // 20][:20]:
            clip_signal = load_audio(utterance.path)
            layers = encoder.config.layers + 1
            pooled = {
                p: pool_states(g.signal_states(clip_signal)).reshape(layers, -1) for p, g in graphs.items()
            }
            agreement.append(
                min(np.corrcoef(a, b)[0, 1] for a, b in zip(pooled["int8"], pooled["float32"], strict=True))
            )
        speaker = SpeakerEncoder.load()
        with torch.inference_mode():
            speaker_ms = median_ms(lambda: speaker.signal_states(signal), REPEATS)
        speaker_graph = OnnxSpeakerEncoder(shipped("speaker"), cache / "backbones")
        speaker_onnx_ms = median_ms(lambda: speaker_graph.signal_states(signal), REPEATS)

        model = Path(tmp) / "model"
        data_dir = f"data.data_dir={json.dumps(str(args.data))}"
        config = str(ROOT / "configs" / "layer_head.toml")
        command = [
            sys.executable,
            "-m",
            "emovox",
            "train",
            config,
            "--set",
            data_dir,
            "--out",
            str(model),
            "--quiet",
        ]
        subprocess.run(command, check=True)
        predictor = EmotionPredictor.load(model, backend="onnx")
        clip = str(ROOT / "examples" / "03-01-05-02-01-01-24.flac")
        predict_ms = median_ms(lambda: predictor.predict(clip), REPEATS)
        graph_mb = folder_mb(cache / "backbones")
    weights_mb = folder_mb(shipped("whisper-base")) + folder_mb(shipped("speaker"))
    lines = [
        f"Machine: {describe_machine()}",
        "",
        "| what | measured | target |",
        "|---|---:|---|",
        f"| encoder, one 4 s clip, one core, PyTorch | {torch_ms:.0f} ms | |",
        f"| encoder, one 4 s clip, one core, onnxruntime float32 | {onnx_ms['float32']:.0f} ms | |",
        f"| encoder, one 4 s clip, one core, onnxruntime int8 (emovox's default) | {onnx_ms['int8']:.0f} ms "
        "| <= 60 ms |",
        f"| int8 against float32: lowest per-layer correlation of pooled statistics, 20 clips | "
        f"{min(agreement):.4f} (median {statistics.median(agreement):.4f}) | |",
        f"| speaker encoder, one 4 s clip, one core, PyTorch | {speaker_ms:.0f} ms | |",
        f"| speaker encoder, one 4 s clip, one core, onnxruntime (emovox's) | {speaker_onnx_ms:.0f} ms | |",
        f"| all {len(manifest)} RAVDESS + EmoDB clips embedded cold, 2 workers | {cold:.0f} s | <= 300 s |",
        f"| the same, warm from the feature cache | {warm:.1f} s | <= 5 s |",
        f"| `predict` on one 4.4 s clip, layer_head model loaded (onnx) | {predict_ms:.0f} ms | <= 100 ms |",
        f"| package growth: both encoders' weights and shipped graphs | {weights_mb:.1f} MiB | stated |",
        f"| cache: Whisper's float32 graph, made on request | {graph_mb:.1f} MiB | |",
    ]
    publish("\n".join(lines), args.out, __file__)


if __name__ == "__main__":
    main()

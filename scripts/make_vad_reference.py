"""Reference outputs of Silero VAD's own code, for tests/test_backbones.py: the per-frame speech
probabilities its `SileroVADSequence.audio_forward` gives on two example clips and on the long
example, as read from disk.

    pip install --no-deps silero-vad==6.2.3
    python scripts/make_vad_reference.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["03-01-05-02-01-01-24.flac", "03-01-01-01-01-01-23.flac", "long/six_clips.flac"]


def main() -> None:
    from importlib import metadata

    from silero_vad.sequence_vad import SileroVADSequence

    graph = metadata.distribution("silero-vad").locate_file("silero_vad/data/silero_vad_16k_sequence.onnx")
    model = SileroVADSequence(str(graph))
    arrays = {"clips": np.array(CLIPS)}
    for i, name in enumerate(CLIPS):
        signal, rate = sf.read(ROOT / "examples" / name, dtype="float32")
        assert rate == 16_000 and signal.ndim == 1
        arrays[f"probabilities_{i}"] = model.audio_forward(signal)
    out = ROOT / "tests" / "fixtures" / "vad_reference.npz"
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

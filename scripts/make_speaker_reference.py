"""Reference outputs of Resemblyzer's own code, for tests/test_backbones.py: its mel frames
(`audio.wav_to_mel_spectrogram`), its LSTM's last-layer outputs on them and its embedding
(`VoiceEncoder.forward`; the outputs' first 100 frames), for two of the example clips, as read
from disk (no preprocessing).

    pip install --no-deps resemblyzer==0.1.4
    python scripts/make_speaker_reference.py

Resemblyzer's package imports webrtcvad (voice activity detection, C code to compile), which
none of these steps uses: a stand-in module is put in its place. Its VoiceEncoder loads its
own pretrained.pt; the tensors-only loading of emovox is not involved.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["03-01-05-02-01-01-24.flac", "03-01-03-02-01-01-24.flac"]


def main() -> None:
    sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))
    from resemblyzer import VoiceEncoder, audio

    encoder = VoiceEncoder(device="cpu", verbose=False)
    arrays = {"clips": np.array(CLIPS)}
    for i, name in enumerate(CLIPS):
        signal, rate = sf.read(ROOT / "examples" / name, dtype="float32")
        assert rate == 16_000 and signal.ndim == 1
        mel = audio.wav_to_mel_spectrogram(signal)
        with torch.no_grad():
            outputs, _ = encoder.lstm(torch.from_numpy(mel)[None])
            embedding = encoder(torch.from_numpy(mel)[None])
        arrays |= {  # the LSTM is causal: its first 100 outputs are a complete check of those frames
            f"mel_{i}": mel,
            f"last_layer_{i}": outputs[0, :100].numpy(),
            f"embedding_{i}": embedding[0].numpy(),
        }
    out = ROOT / "tests" / "fixtures" / "speaker_reference.npz"
    np.savez_compressed(out, **arrays)
    print(f"{out}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

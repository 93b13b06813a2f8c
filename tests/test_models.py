from __future__ import annotations

import pytest
import torch

from emovox.errors import ConfigError, FeatureError
from emovox.models.registry import NEURAL_MODELS, build_model


@pytest.mark.parametrize(
    ("name", "dim"), [("lstm_feat", 110), ("cnn_lstm", 110), ("cnn", 392), ("msse_bilstm", 392)]
)
def test_vector_models_shapes(name: str, dim: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, dim, 8).eval()
    logits = model(torch.randn(4, dim))
    assert logits.shape == (4, 8) and torch.isfinite(logits).all()
    with pytest.raises(FeatureError):
        model(torch.randn(4, dim + 1))


def test_lstm_stream_uses_the_last_real_frame_of_padded_sequences() -> None:
    torch.manual_seed(0)
    model = build_model("lstm_stream", 13, 8, {"hidden_size": 32}).eval()
    short, long = torch.randn(5, 13), torch.randn(9, 13)
    padded = torch.zeros(2, 9, 13)
    padded[0, :5], padded[1] = short, long
    garbage = padded.clone()
    garbage[0, 5:] = 100.0  # what lies in the padding must not matter
    with torch.no_grad():
        batched, _ = model(padded, lengths=torch.tensor([5, 9]))
        again, _ = model(garbage, lengths=torch.tensor([5, 9]))
        alone, _ = model(short.unsqueeze(0))
    torch.testing.assert_close(batched, again)
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=1e-5)


def test_lstm_stream_frame_by_frame_equals_whole_sequence() -> None:
    torch.manual_seed(0)
    model = build_model("lstm_stream", 13, 8).eval()  # the seed size: 256 hidden, 2 layers
    clip = torch.randn(1, 120, 13)
    with torch.no_grad():
        whole, _ = model(clip)
        hidden = None
        for t in range(clip.shape[1]):
            step, hidden = model(clip[:, t : t + 1], hidden)
    torch.testing.assert_close(step, whole, atol=1e-5, rtol=1e-5)


def test_unknown_models_and_parameters() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("transformer", 10, 4)
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_model("cnn", 392, 8, {"width": 3})
    with pytest.raises(ConfigError):
        build_model("cnn", 392, 1)
    assert {"lstm_stream", "lstm_feat", "cnn_lstm", "cnn", "msse_bilstm"} <= set(NEURAL_MODELS)


def test_mlp_and_crnn_shapes() -> None:
    torch.manual_seed(0)
    assert build_model("mlp", 392, 8).eval()(torch.randn(3, 392)).shape == (3, 8)
    crnn = build_model("crnn", 64, 8).eval()
    logits, _ = crnn(torch.randn(2, 3, 64))  # shorter than the time pooling still works
    assert logits.shape == (2, 8)


def test_crnn_ignores_padding() -> None:
    torch.manual_seed(0)
    model = build_model("crnn", 64, 8).eval()
    clip = torch.randn(1, 96, 64)
    padded = torch.cat([clip, torch.full((1, 64, 64), 50.0)], dim=1)
    with torch.no_grad():
        alone, _ = model(clip, lengths=torch.tensor([96]))
        batched, _ = model(padded, lengths=torch.tensor([96]))
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


def test_msse_bilstm_pool_sets_the_recurrent_length_and_is_checked() -> None:
    torch.manual_seed(0)
    seen: list[int] = []
    for pool in (2, 4):
        model = build_model("msse_bilstm", 392, 8, {"pool": pool}).eval()
        model.lstm1.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[1]))
        assert model(torch.randn(2, 392)).shape == (2, 8)
    assert seen == [196, 98]
    with pytest.raises(ConfigError, match="pool"):
        build_model("msse_bilstm", 392, 8, {"pool": 0})

"""The model family, each built by name from a config dataclass (what experiment files name)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from torch import nn

from emovox.errors import ConfigError
from emovox.models.convolutional import CnnConfig, EnhancedCnn, MsseBiLstmConfig, MultiScaleSeBiLstm
from emovox.models.crnn import Crnn, CrnnConfig
from emovox.models.layered import AttentiveHead, AttentiveHeadConfig, LayerHead, LayerHeadConfig
from emovox.models.mlp import Mlp, MlpConfig
from emovox.models.recurrent import (
    CnnLstm,
    CnnLstmConfig,
    FeatureLstm,
    FeatureLstmConfig,
    StreamingLstm,
    StreamingLstmConfig,
)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one family, and the feature set it reads unless an experiment says otherwise."""

    module: type[nn.Module]
    config: type
    feature_set: str


NEURAL_MODELS: dict[str, ModelSpec] = {
    "lstm_stream": ModelSpec(StreamingLstm, StreamingLstmConfig, "mfcc"),
    "lstm_feat": ModelSpec(FeatureLstm, FeatureLstmConfig, "utterance110"),
    "cnn_lstm": ModelSpec(CnnLstm, CnnLstmConfig, "utterance110"),
    "cnn": ModelSpec(EnhancedCnn, CnnConfig, "enhanced392"),
    "msse_bilstm": ModelSpec(MultiScaleSeBiLstm, MsseBiLstmConfig, "enhanced392"),
    "mlp": ModelSpec(Mlp, MlpConfig, "enhanced392"),
    "crnn": ModelSpec(Crnn, CrnnConfig, "logmel"),
    "layer_head": ModelSpec(LayerHead, LayerHeadConfig, "whisper"),
    "attentive_head": ModelSpec(AttentiveHead, AttentiveHeadConfig, "whisper_frames"),
}


MAX_UNITS = 8192  # the widest layer, channel count or kernel a config may ask for
MAX_LAYERS = 16  # the longest tuple of layer sizes


def _checked(name: str, field: str, kind: Any, value: Any) -> Any:
    """`value` as the field's type (int, float in [0, 1) for dropouts, tuple of ints), or a
    ConfigError naming the parameter: every size >= 1 and at most MAX_UNITS, so no config can ask
    for an absurd allocation."""
    where = f"{name}: parameter {field}"

    def size(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where} must be a whole number, got {v!r}")
        if not 1 <= v <= MAX_UNITS:
            raise ConfigError(f"{where} must be in [1, {MAX_UNITS}], got {v}")
        return v

    if kind is int:
        return size(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ConfigError(f"{where} must be a number in [0, 1), got {value!r}")
        return float(value)
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_LAYERS:
            raise ConfigError(f"{where} must be a list of 1 to {MAX_LAYERS} sizes, got {value!r}")
        arity = typing.get_args(kind)
        if Ellipsis not in arity and len(value) != len(arity):
            raise ConfigError(f"{where} must be a list of {len(arity)} sizes, got {value!r}")
        return tuple(size(v) for v in value)
    return value


def model_config(name: str, params: dict[str, Any] | None = None) -> Any:
    """The config dataclass of a family from plain values (TOML lists become tuples), each
    checked for its type and range."""
    if name not in NEURAL_MODELS:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join(NEURAL_MODELS)}")
    cls = NEURAL_MODELS[name].config
    if not isinstance(params or {}, dict):
        raise ConfigError(f"{name}: parameters must be a table of names and values, got {params!r}")
    kinds = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    params = dict(params or {})
    unknown = set(params) - fields
    if unknown:
        raise ConfigError(f"{name}: unknown parameter(s) {sorted(unknown)}; known: {sorted(fields)}")
    return cls(**{k: _checked(name, k, kinds[k], v) for k, v in params.items()})


def build_model(
    name: str, input_dim: int, num_classes: int, params: dict[str, Any] | None = None
) -> nn.Module:
    if input_dim < 1 or num_classes < 2:
        raise ConfigError(f"need input_dim >= 1 and num_classes >= 2, got {input_dim}, {num_classes}")
    config = model_config(name, params)
    return NEURAL_MODELS[name].module(input_dim, num_classes, config)

"""The model family, each built by name from a config dataclass (what experiment files name)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import nn

from emovox.errors import ConfigError
from emovox.models.beyond import Crnn, CrnnConfig, Mlp, MlpConfig
from emovox.models.convolutional import CnnConfig, EnhancedCnn, MsseBiLstmConfig, MultiScaleSeBiLstm
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
}


def model_config(name: str, params: dict[str, Any] | None = None) -> Any:
    """The config dataclass of a family from plain values (TOML lists become tuples)."""
    if name not in NEURAL_MODELS:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join(NEURAL_MODELS)}")
    cls = NEURAL_MODELS[name].config
    fields = {f.name for f in dataclasses.fields(cls)}
    params = dict(params or {})
    unknown = set(params) - fields
    if unknown:
        raise ConfigError(f"{name}: unknown parameter(s) {sorted(unknown)}; known: {sorted(fields)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def build_model(
    name: str, input_dim: int, num_classes: int, params: dict[str, Any] | None = None
) -> nn.Module:
    if input_dim < 1 or num_classes < 2:
        raise ConfigError(f"need input_dim >= 1 and num_classes >= 2, got {input_dim}, {num_classes}")
    config = model_config(name, params)
    return NEURAL_MODELS[name].module(input_dim, num_classes, config)


__all__ = ["NEURAL_MODELS", "ModelSpec", "build_model", "model_config"]

"""Experiment files (TOML): data, protocol, features, model, training; with `section.key=value`
overrides from the command line. Every value is checked when the config is built."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emovox.augment import WaveformAugment
from emovox.errors import ConfigError
from emovox.models.classical import BALANCES, CLASSICAL_FEATURES, GRIDS
from emovox.models.registry import NEURAL_MODELS, model_config
from emovox.protocols import PROTOCOLS
from emovox.training.data import SequenceAugment
from emovox.training.trainer import TrainConfig

LABEL_SETS = ("native", "shared", "common")


@dataclass(frozen=True)
class DataConfig:
    corpora: tuple[str, ...] = ("ravdess",)
    data_dir: str = "../shared/data"  # each corpus at data_dir/NAME unless `roots` names it
    roots: dict[str, str] = field(default_factory=dict)
    labels: str = "native"  # native (one corpus), shared, or common (labels every corpus has)
    only_labels: tuple[str, ...] = ()  # with shared/common: keep just these (e.g. for cross-corpus tests)
    # with shared/common: "corpus/native label" = another shared label, e.g. {"turev/calm" = "neutral"}
    relabel: dict[str, str] = field(default_factory=dict)
    exclude_speakers: tuple[str, ...] = ()  # e.g. "ravdess/24": held out of everything (demo clips)
    protocol: str = "ravdess-emobox"
    n_val_speakers: int = 2
    k: int = 5
    features: str = ""  # empty: the model family's default set
    every: int = 1  # keep every n-th clip (quick runs and tests only)
    # standardise each speaker's features with statistics of that speaker's own (unlabelled)
    # audio, test speakers included: a different, labelled variant, never the headline
    speaker_norm: bool = False
    # classical models: "class" balances classes; "corpus_class" also balances the corpora
    # inside each class (see emovox.models.classical.balance_weights)
    balance: str = "class"
    # classical models: choose C by speaker-grouped folds ("speaker") or leaving one training
    # corpus out at a time ("corpus": for models meant to travel to unseen recordings)
    choose_c_by: str = "speaker"

    def __post_init__(self) -> None:
        if not self.corpora:
            raise ConfigError("data.corpora is empty")
        if self.labels not in LABEL_SETS:
            raise ConfigError(f"data.labels must be one of {LABEL_SETS}, got {self.labels!r}")
        if self.labels == "native" and len(self.corpora) > 1:
            raise ConfigError("several corpora need data.labels = 'shared' or 'common'")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"data.protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.every < 1:
            raise ConfigError("data.every must be >= 1")
        if self.balance not in BALANCES:
            raise ConfigError(f"data.balance must be one of {BALANCES}, got {self.balance!r}")
        if self.choose_c_by not in ("speaker", "corpus"):
            raise ConfigError(f"data.choose_c_by must be speaker or corpus, got {self.choose_c_by!r}")
        if self.choose_c_by == "corpus" and len(self.corpora) < 3:
            raise ConfigError("data.choose_c_by = 'corpus' needs at least 3 corpora")
        if self.only_labels and self.labels == "native":
            raise ConfigError("data.only_labels needs data.labels = 'shared' or 'common'")
        if self.relabel and self.labels == "native":
            raise ConfigError("data.relabel needs data.labels = 'shared' or 'common'")
        for key in self.relabel:
            if key.split("/", 1)[0] not in self.corpora or "/" not in key:
                raise ConfigError(f"data.relabel: {key!r} is not 'corpus/label' of one of data.corpora")

    def root(self, corpus: str) -> Path:
        return Path(self.roots.get(corpus, Path(self.data_dir) / corpus))


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cnn"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name in GRIDS:
            if self.params:
                raise ConfigError(f"{self.name} takes no model.params (C is chosen on validation speakers)")
        else:
            model_config(self.name, self.params)  # raises on unknown names and parameters

    @property
    def is_classical(self) -> bool:
        return self.name in GRIDS

    @property
    def default_features(self) -> str:
        return CLASSICAL_FEATURES if self.is_classical else NEURAL_MODELS[self.name].feature_set


@dataclass(frozen=True)
class Experiment:
    name: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: SequenceAugment = field(default_factory=SequenceAugment)
    waveform: WaveformAugment = field(default_factory=WaveformAugment)

    @property
    def features(self) -> str:
        return self.data.features or self.model.default_features

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "augment": SequenceAugment,
    "waveform": WaveformAugment,
}


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string


def apply_override(raw: dict[str, Any], override: str) -> None:
    """`train.epochs=5`, `model.params.hidden_size=128`, `data.corpora=["emodb"]`."""
    key, sep, value = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not section.key=value")
    *path, last = key.strip().split(".")
    node = raw
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
    node[last] = _parse_value(value.strip())


def _section(cls: type, values: dict[str, Any], name: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"[{name}]: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def experiment_from_dict(raw: dict[str, Any]) -> Experiment:
    unknown = set(raw) - {"name", *SECTIONS}
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}; known: name, {', '.join(SECTIONS)}")
    sections = {name: _section(cls, raw.get(name, {}), name) for name, cls in SECTIONS.items()}
    return Experiment(name=str(raw.get("name", "experiment")), **sections)


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"experiment file {source} does not exist")
    try:
        raw = tomllib.loads(source.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    raw.setdefault("name", source.stem)
    for override in overrides:
        apply_override(raw, override)
    try:
        return experiment_from_dict(raw)
    except TypeError as exc:
        raise ConfigError(f"{source}: {exc}") from exc

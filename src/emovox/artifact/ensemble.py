"""Soft-voting ensembles: the mean of member models' probabilities (members may read different
feature sets). Stored as a directory with `ensemble.json` and one model directory per member."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emovox.artifact.store import ArtifactError, ModelArtifact, _read_json, load_model
from emovox.audio import AudioConfig

ENSEMBLE_FORMAT = "emovox-ensemble"
ENSEMBLE_VERSION = 1


@dataclass
class EnsembleArtifact:
    members: list[ModelArtifact]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ArtifactError(f"an ensemble needs at least 2 members, got {len(self.members)}")
        labels = {m.labels for m in self.members}
        if len(labels) > 1:
            raise ArtifactError(f"ensemble members disagree on labels: {sorted(labels)}")
        audio = {m.audio for m in self.members}
        if len(audio) > 1:
            raise ArtifactError("ensemble members use different audio settings")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.members[0].labels

    @property
    def audio(self) -> AudioConfig:
        return self.members[0].audio

    def predict_proba_signal(self, signal: np.ndarray) -> np.ndarray:
        """Mean of the members' probabilities; each feature set is computed once."""
        features: dict[str, np.ndarray] = {}
        probabilities = []
        for member in self.members:
            name = member.extractor.name
            if name not in features:
                features[name] = member.extractor(signal)
            probabilities.append(member.predict_proba_features(features[name]))
        return np.mean(probabilities, axis=0)

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        names = [f"member{i}-{m.model_name}" for i, m in enumerate(self.members)]
        for name, member in zip(names, self.members, strict=True):
            member.save(out / name)
        manifest = {"format": ENSEMBLE_FORMAT, "format_version": ENSEMBLE_VERSION, "members": names,
                    "labels": list(self.labels), "metadata": self.metadata}  # fmt: skip
        (out / "ensemble.json").write_text(json.dumps(manifest, indent=1))
        return out


def _manifest(source: Path) -> dict[str, Any]:
    manifest = _read_json(source / "ensemble.json")
    if manifest.get("format") != ENSEMBLE_FORMAT or manifest.get("format_version") != ENSEMBLE_VERSION:
        raise ArtifactError(f"{source}: not an emovox ensemble of version {ENSEMBLE_VERSION}")
    for name in manifest["members"]:
        if Path(name).name != name:  # members live inside the ensemble directory, nowhere else
            raise ArtifactError(f"{source}: member {name!r} is not a plain folder name")
    return manifest


def member_directories(directory: str | Path) -> list[Path]:
    """The member model directories of an ensemble directory, in order."""
    source = Path(directory)
    return [source / name for name in _manifest(source)["members"]]


def load_ensemble(directory: str | Path) -> EnsembleArtifact:
    metadata = _manifest(Path(directory)).get("metadata", {})
    return EnsembleArtifact([load_model(d) for d in member_directories(directory)], metadata)


def load_any(directory: str | Path) -> ModelArtifact | EnsembleArtifact:
    """A model or an ensemble directory, whichever `directory` holds."""
    source = Path(directory)
    return load_ensemble(source) if (source / "ensemble.json").is_file() else load_model(source)


def combine(directories: Sequence[str | Path], out: str | Path) -> EnsembleArtifact:
    """Build an ensemble directory from trained model directories."""
    ensemble = EnsembleArtifact(
        [load_model(d) for d in directories], {"members_from": [str(d) for d in directories]}
    )
    ensemble.save(out)
    return ensemble
